//! What SetAway refuses and how it says so (every bad field at once, an absence already over,
//! an overlap, an inactive user or colleague), and who may give leads to someone away.

use chrono::{DateTime, Duration, TimeZone, Utc};
use leadpool::domain::validate::MAX_NOTE_CHARS;
use leadpool::proto;
use tonic::Status;

use crate::absences::{alice_holding_one_lead, at, cover, pause, sweep, two_day_pool};
use crate::fixtures;
use crate::harness::{TestApp, assert_error};

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

impl TestApp {
    /// Runs `call`, asserts it is refused with `reason` and changed nothing (as
    /// `assert_refused`), and returns the status's message.
    async fn refused_message<T: std::fmt::Debug>(
        &self,
        call: impl std::future::Future<Output = Result<T, Status>>,
        reason: &str,
    ) -> String {
        let before = self.fingerprint().await;
        let result = call.await;
        let message = result.as_ref().err().map(|s| s.message().to_owned());
        assert_error(result, reason);
        assert_eq!(
            self.fingerprint().await,
            before,
            "a refused call changes nothing"
        );
        message.unwrap_or_default()
    }
}

#[tokio::test]
async fn every_bad_field_of_an_absence_is_named_at_once() {
    let app = TestApp::spawn().await;
    two_day_pool(&app, None).await;
    let t0 = app.clock_now();
    let alice = app.as_member("alice");
    let backwards_with_long_reason = proto::SetAwayRequest {
        reason: "假".repeat(MAX_NOTE_CHARS + 1),
        ..pause("", t0 + Duration::days(2), t0 + Duration::days(1))
    };
    let fields = app
        .invalid_fields(alice.try_set_away(backwards_with_long_reason))
        .await;
    assert_eq!(fields, ["away_until", "reason"]);
    let too_long_without_colleague = cover("", "", t0, t0 + Duration::days(400));
    let fields = app
        .invalid_fields(alice.try_set_away(too_long_without_colleague))
        .await;
    assert_eq!(fields, ["away_until", "cover_user_id"]);
    let backwards_own_cover = cover("", "alice", t0 + Duration::days(2), t0);
    let fields = app
        .invalid_fields(alice.try_set_away(backwards_own_cover))
        .await;
    assert_eq!(fields, ["away_until", "cover_user_id"]);
}

/// An absence that has already ended cannot be planned, whenever it began: it would start at
/// the next sweep, after its own end.
#[tokio::test]
async fn an_absence_already_over_is_refused_whatever_its_start() {
    let app = TestApp::spawn().await;
    two_day_pool(&app, None).await;
    let t0 = app.clock_now();
    let alice = app.as_member("alice");
    let new_year = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let january = pause("", new_year, new_year + Duration::days(4));
    let fields = app.invalid_fields(alice.try_set_away(january)).await;
    assert_eq!(fields, ["away_until"]);
    let until_now = pause("", t0 - Duration::days(3), t0);
    let fields = app.invalid_fields(alice.try_set_away(until_now)).await;
    assert_eq!(fields, ["away_until"]);
    let under_way = pause("", t0 - Duration::days(3), t0 + Duration::days(1));
    let absence = alice.set_away(under_way).await;
    assert_eq!(absence.away_from, at(t0 - Duration::days(3)));
}

#[tokio::test]
async fn an_overlapping_absence_is_refused_naming_the_one_in_the_way() {
    let app = TestApp::spawn().await;
    two_day_pool(&app, None).await;
    let t0 = app.clock_now();
    let alice = app.as_member("alice");
    let week_end = t0 + Duration::days(7);
    alice.set_away(pause("", t0, week_end)).await;
    let overlapping = pause("", t0 + Duration::days(6), t0 + Duration::days(9));
    let message = app
        .refused_message(alice.try_set_away(overlapping), "MEMBER_AWAY")
        .await;
    assert!(
        message.contains("overlaps") && message.contains(&rfc3339(week_end)),
        "{message}"
    );
    assert!(!message.contains("override_away"), "{message}");
}

#[tokio::test]
async fn an_inactive_user_or_colleague_is_refused_as_no_active_member() {
    let app = TestApp::spawn().await;
    let pool = two_day_pool(&app, None).await;
    let t0 = app.clock_now();
    let mia = app.as_member("mia");
    let bob = proto::Member {
        pool_id: pool.id.clone(),
        user_id: "bob".into(),
        active: false,
        ..Default::default()
    };
    mia.update_member(bob, &["active"]).await;
    let until = t0 + Duration::days(1);
    let covered_by_bob = cover("alice", "bob", t0, until);
    let message = app
        .refused_message(mia.try_set_away(covered_by_bob), "MEMBER_NOT_FOUND")
        .await;
    assert!(message.contains("not an active member"), "{message}");
    let bob_away = pause("bob", t0, until);
    let message = app
        .refused_message(mia.try_set_away(bob_away), "MEMBER_NOT_FOUND")
        .await;
    assert!(message.contains("not an active member"), "{message}");
}

/// shared/domain.md: an away member gets no lead "unless the manager sets override_away". A
/// member passing on her own lead may not override; she hears MEMBER_AWAY as without it.
#[tokio::test]
async fn only_a_manager_overrides_an_absence_to_give_leads() {
    let (app, pool, lead, t0) = alice_holding_one_lead().await;
    app.as_member("bob")
        .set_away(pause("", t0, t0 + Duration::days(2)))
        .await;
    sweep(&app, &pool).await;
    let alice = app.as_member("alice");
    let ids = [lead.as_str()];
    let refused = alice.try_transfer_overriding_away(&ids, "bob");
    let metadata = app.assert_refused(refused, "MEMBER_AWAY").await;
    assert_eq!(metadata["user_id"], "bob");
    let free = fixtures::lead(&app, &pool.id, "L").await;
    let refused = alice.try_assign_overriding_away(&free.id, "bob");
    app.assert_refused(refused, "MANAGER_REQUIRED").await;

    let moved = app
        .as_member("mia")
        .transfer_overriding_away(&ids, "bob")
        .await;
    assert_eq!(moved.lead_ids, [lead]);
    fixtures::assert_consistent(&app).await;
}
