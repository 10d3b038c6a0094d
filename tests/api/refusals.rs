//! One explanation per rule. A claim or a release is one SQL statement that refuses by changing
//! nothing; afterwards `domain::lead::explain_claim_refusal` (or `explain_release_refusal`) reads
//! a snapshot and names the rule. If the two drifted apart, a caller would be told a wrong reason,
//! or `CONCURRENT_MODIFICATION` and to retry forever. These tables run the statement (through the
//! API) and the explanation on the same state, for every reason either can refuse with.

use leadpool::domain::access::{Actor, TenantRoles};
use leadpool::domain::lead;
use leadpool::proto;
use leadpool::store;
use uuid::Uuid;

use crate::distribution_fixtures::deactivate;
use crate::fixtures::{self, TENANT, Team};
use crate::harness::{TestApp, assert_error};

/// The explanation's verdict when no rule refuses: the statement should have acted.
const NOTHING_REFUSES: &str = "CONCURRENT_MODIFICATION";

fn actor(user: &str) -> Actor {
    Actor {
        tenant_id: TENANT.into(),
        user_id: user.into(),
        roles: TenantRoles::default(),
    }
}

fn id(lead_id: &str) -> Uuid {
    lead_id.parse().expect("a lead id")
}

/// A state to claim in, set up through the API: what alice tries to claim.
#[derive(Debug, Clone, Copy)]
enum ClaimState {
    InPool,
    HeldByBob,
    HeldByHerself,
    Locked,
    Converted,
    InHerCooldown,
    AtHerCap,
    QuotaSpent,
    NotAMember,
    Inactive,
    PoolArchived,
}

impl ClaimState {
    const ALL: [Self; 11] = [
        Self::InPool,
        Self::HeldByBob,
        Self::HeldByHerself,
        Self::Locked,
        Self::Converted,
        Self::InHerCooldown,
        Self::AtHerCap,
        Self::QuotaSpent,
        Self::NotAMember,
        Self::Inactive,
        Self::PoolArchived,
    ];

    /// The refusal the caller must get; `None`: the claim succeeds.
    fn expected(self) -> Option<&'static str> {
        match self {
            Self::InPool | Self::HeldByHerself => None,
            Self::HeldByBob => Some("LEAD_NOT_IN_POOL"),
            Self::Locked => Some("LEAD_LOCKED"),
            Self::Converted => Some("LEAD_CLOSED"),
            Self::InHerCooldown => Some("RECLAIM_COOLDOWN"),
            Self::AtHerCap => Some("HELD_LIMIT_REACHED"),
            Self::QuotaSpent => Some("DAILY_CLAIM_LIMIT_REACHED"),
            Self::NotAMember => Some("NOT_POOL_MEMBER"),
            Self::Inactive => Some("MEMBER_INACTIVE"),
            Self::PoolArchived => Some("POOL_ARCHIVED"),
        }
    }

    /// The pool's rules: a cap of 1, a quota of 1 claim a day and a day's cooldown, each only
    /// where the state needs it, so no other rule refuses first.
    fn rules(self) -> proto::CreatePoolRequest {
        let day = prost_types::Duration {
            seconds: 86_400,
            nanos: 0,
        };
        proto::CreatePoolRequest {
            max_held_per_member: matches!(self, Self::AtHerCap).then_some(1),
            daily_claim_limit: matches!(self, Self::QuotaSpent).then_some(1),
            reclaim_cooldown: matches!(self, Self::InHerCooldown).then_some(day),
            ..Default::default()
        }
    }

    /// Sets the state up; the lead alice (or zoe, a stranger) then claims.
    async fn set_up(self, app: &TestApp, pool_id: &str) -> (String, &'static str) {
        let lead = fixtures::lead(app, pool_id, "王伟").await.id;
        let (alice, bob, mia) = (
            app.as_member("alice"),
            app.as_member("bob"),
            app.as_member("mia"),
        );
        match self {
            Self::InPool => {}
            Self::HeldByBob => {
                bob.claim(&lead).await;
            }
            Self::HeldByHerself => {
                alice.claim(&lead).await;
            }
            Self::Locked => {
                mia.lock(&lead).await;
            }
            Self::Converted => {
                bob.claim(&lead).await;
                bob.convert(&lead).await;
            }
            Self::InHerCooldown => {
                alice.claim(&lead).await;
                alice.release(&lead, "NO_BUDGET").await;
            }
            Self::AtHerCap => {
                let other = fixtures::lead(app, pool_id, "李娜").await.id;
                alice.claim(&other).await;
            }
            Self::QuotaSpent => {
                let other = fixtures::lead(app, pool_id, "李娜").await.id;
                alice.claim(&other).await;
                alice.release(&other, "NO_BUDGET").await;
            }
            Self::NotAMember => return (lead, "zoe"),
            Self::Inactive => deactivate(app, pool_id, "alice").await,
            Self::PoolArchived => {
                app.as_admin().archive_pool(pool_id).await;
            }
        }
        (lead, "alice")
    }
}

async fn app_in(state: ClaimState) -> (TestApp, Team) {
    let app = TestApp::spawn().await;
    let pool = fixtures::pool_with(&app, "East China", state.rules()).await;
    (app, Team { pool })
}

#[tokio::test]
async fn the_claim_statement_refuses_exactly_what_its_explanation_names() {
    for state in ClaimState::ALL {
        let (app, team) = app_in(state).await;
        let (lead_id, user) = state.set_up(&app, &team.pool.id).await;
        let now = app.clock_now();
        let snapshot = store::leads::claim_snapshot(&app.db, &actor(user), id(&lead_id), now)
            .await
            .expect("a snapshot");
        let explained = lead::explain_claim_refusal(&snapshot, user, now);
        let before = app.fingerprint().await;
        let claimed = app.as_member(user).try_claim(&lead_id).await;
        match (state.expected(), explained) {
            // Nothing refuses: the statement claims.
            (None, Err(err)) if err.reason() == NOTHING_REFUSES => {
                let lead = claimed.unwrap_or_else(|s| panic!("{state:?}: {s:?}"));
                assert_eq!(lead.owner_id, user, "{state:?}");
                assert_ne!(app.fingerprint().await, before, "{state:?}: a claim writes");
            }
            // The caller's own lead: the statement refuses, the explanation calls it a retry.
            (None, Ok(())) => {
                let lead = claimed.unwrap_or_else(|s| panic!("{state:?}: {s:?}"));
                assert_eq!(lead.owner_id, user, "{state:?}");
                assert_eq!(
                    app.fingerprint().await,
                    before,
                    "{state:?}: a retry writes nothing"
                );
            }
            (Some(reason), Err(err)) => {
                assert_eq!(err.reason(), reason, "{state:?}: the explanation");
                assert_error(claimed, reason);
                assert_eq!(
                    app.fingerprint().await,
                    before,
                    "{state:?}: refused, unchanged"
                );
            }
            (expected, explained) => {
                panic!("{state:?}: expected {expected:?}, explained {explained:?}")
            }
        }
    }
}

/// A state to release in: what alice tries to release, with which reason.
#[derive(Debug, Clone, Copy)]
enum ReleaseState {
    HeldByHer,
    ReleasedByHer,
    InPool,
    HeldByBob,
    Locked,
    Converted,
    UnknownReason,
    IntoAPoolSheMayNotUse,
}

impl ReleaseState {
    const ALL: [Self; 8] = [
        Self::HeldByHer,
        Self::ReleasedByHer,
        Self::InPool,
        Self::HeldByBob,
        Self::Locked,
        Self::Converted,
        Self::UnknownReason,
        Self::IntoAPoolSheMayNotUse,
    ];

    fn expected(self) -> Option<&'static str> {
        match self {
            Self::HeldByHer | Self::ReleasedByHer => None,
            Self::InPool => Some("LEAD_NOT_OWNED"),
            Self::HeldByBob => Some("NOT_LEAD_OWNER"),
            Self::Locked => Some("LEAD_LOCKED"),
            Self::Converted => Some("LEAD_CLOSED"),
            Self::UnknownReason => Some("UNKNOWN_RELEASE_REASON"),
            Self::IntoAPoolSheMayNotUse => Some("NOT_POOL_MEMBER"),
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Self::UnknownReason => "BORED",
            _ => "NO_BUDGET",
        }
    }

    /// Sets the state up; returns the lead and the pool alice names, if any.
    async fn set_up(self, app: &TestApp, pool_id: &str) -> (String, Option<String>) {
        let lead = fixtures::lead(app, pool_id, "张伟").await.id;
        let (alice, bob, mia) = (
            app.as_member("alice"),
            app.as_member("bob"),
            app.as_member("mia"),
        );
        let mut to_pool = None;
        match self {
            Self::InPool => {}
            Self::HeldByBob => {
                bob.claim(&lead).await;
            }
            Self::Converted => {
                alice.claim(&lead).await;
                alice.convert(&lead).await;
            }
            Self::ReleasedByHer => {
                alice.claim(&lead).await;
                alice.release(&lead, "NO_BUDGET").await;
            }
            Self::Locked => {
                alice.claim(&lead).await;
                mia.lock(&lead).await;
            }
            Self::IntoAPoolSheMayNotUse => {
                alice.claim(&lead).await;
                to_pool = Some(fixtures::pool(app, "West China", None).await.id);
            }
            Self::HeldByHer | Self::UnknownReason => {
                alice.claim(&lead).await;
            }
        }
        (lead, to_pool)
    }
}

#[tokio::test]
async fn the_release_statement_refuses_exactly_what_its_explanation_names() {
    for state in ReleaseState::ALL {
        let app = TestApp::spawn().await;
        let rules = proto::CreatePoolRequest {
            release_reasons: vec!["NO_BUDGET".into(), "WRONG_CONTACT".into()],
            ..Default::default()
        };
        let pool = fixtures::pool_with(&app, "East China", rules).await;
        let (lead_id, to_pool) = state.set_up(&app, &pool.id).await;
        let to_pool_id = to_pool.as_deref().map(id);
        let snapshot =
            store::leads::release_snapshot(&app.db, &actor("alice"), id(&lead_id), to_pool_id)
                .await
                .expect("a snapshot");
        let explained = lead::explain_release_refusal(&snapshot, "alice", state.reason());
        let before = app.fingerprint().await;
        let alice = app.as_member("alice");
        let released = match &to_pool {
            Some(to) => alice.try_release_to(&lead_id, state.reason(), to).await,
            None => alice.try_release(&lead_id, state.reason()).await,
        };
        match (state.expected(), explained) {
            (None, Err(err)) if err.reason() == NOTHING_REFUSES => {
                let lead = released.unwrap_or_else(|s| panic!("{state:?}: {s:?}"));
                assert!(lead.owner_id.is_empty(), "{state:?}: back in the pool");
                assert_ne!(
                    app.fingerprint().await,
                    before,
                    "{state:?}: a release writes"
                );
            }
            (None, Ok(())) => {
                released.unwrap_or_else(|s| panic!("{state:?}: {s:?}"));
                assert_eq!(
                    app.fingerprint().await,
                    before,
                    "{state:?}: a retry writes nothing"
                );
            }
            (Some(reason), Err(err)) => {
                assert_eq!(err.reason(), reason, "{state:?}: the explanation");
                assert_error(released, reason);
                assert_eq!(
                    app.fingerprint().await,
                    before,
                    "{state:?}: refused, unchanged"
                );
            }
            (expected, explained) => {
                panic!("{state:?}: expected {expected:?}, explained {explained:?}")
            }
        }
    }
}
