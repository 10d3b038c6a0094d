//! Small builders for the state most tests start from.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use std::future::Future;

use futures::future::join_all;
use leadpool::domain::import::MAX_BATCH_ROWS;
use leadpool::proto;
use tonic::Code;

use crate::caller::Client;
use crate::harness::{Caller, TestApp};

pub const TENANT: &str = "acme";

pub fn admin() -> Caller {
    Caller::admin(TENANT)
}

pub fn service() -> Caller {
    Caller::service(TENANT)
}

pub fn user(name: &str) -> Caller {
    Caller::user(TENANT, name)
}

pub async fn pool(app: &TestApp, name: &str, cap: Option<i32>) -> proto::Pool {
    let rules = proto::CreatePoolRequest {
        max_held_per_member: cap,
        ..Default::default()
    };
    shanghai_pool(app, name, rules).await
}

/// A pool on Shanghai time with these rules.
pub async fn shanghai_pool(
    app: &TestApp,
    name: &str,
    rules: proto::CreatePoolRequest,
) -> proto::Pool {
    app.as_admin()
        .create_pool(proto::CreatePoolRequest {
            name: name.into(),
            timezone: "Asia/Shanghai".into(),
            ..rules
        })
        .await
}

pub async fn member(
    app: &TestApp,
    pool_id: &str,
    user_id: &str,
    role: proto::MemberRole,
) -> proto::Member {
    app.as_admin()
        .add_member(proto::AddMemberRequest {
            pool_id: pool_id.into(),
            user_id: user_id.into(),
            role: role.into(),
            ..Default::default()
        })
        .await
}

/// Adds alice and bob (reps) and mia (manager) to a pool.
async fn staff(app: &TestApp, pool_id: &str) {
    for (user_id, role) in [
        ("alice", proto::MemberRole::Member),
        ("bob", proto::MemberRole::Member),
        ("mia", proto::MemberRole::Manager),
    ] {
        member(app, pool_id, user_id, role).await;
    }
}

/// A pool with these rules and members alice, bob (reps) and mia (manager).
pub async fn pool_with(app: &TestApp, name: &str, rules: proto::CreatePoolRequest) -> proto::Pool {
    let pool = shanghai_pool(app, name, rules).await;
    staff(app, &pool.id).await;
    pool
}

/// A lead's fields, with a phone and e-mail no other fixture lead has.
pub fn new_lead(name: &str) -> proto::NewLead {
    static CONTACTS: AtomicU32 = AtomicU32::new(0);
    let n = CONTACTS.fetch_add(1, Ordering::Relaxed);
    proto::NewLead {
        name: name.into(),
        company: format!("{name} Ltd"),
        phone: format!("+86 139-{:04}-{:04}", n / 10_000, n % 10_000),
        email: format!("lead{n}@example.com"),
        grade: "B".into(),
        region: "east".into(),
        ..Default::default()
    }
}

pub async fn lead(app: &TestApp, pool_id: &str, name: &str) -> proto::Lead {
    app.as_service().create_in(pool_id, new_lead(name)).await
}

/// `n` pool leads named `L0`, `L1`, …, created one by one.
pub async fn leads(app: &TestApp, pool_id: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(lead(app, pool_id, &format!("L{i}")).await.id);
    }
    ids
}

/// `rows` imported into the pool through ImportLeads, a full batch at a time, every one created;
/// the new leads' ids, in order.
pub async fn import_all(app: &TestApp, pool_id: &str, rows: Vec<proto::NewLead>) -> Vec<String> {
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(MAX_BATCH_ROWS) {
        let response = app
            .as_service()
            .import_leads(proto::ImportLeadsRequest {
                pool_id: pool_id.into(),
                leads: chunk.to_vec(),
                ..Default::default()
            })
            .await;
        assert_eq!(response.created as usize, chunk.len(), "rows created");
        ids.extend(response.results.into_iter().map(|row| row.lead_id));
    }
    ids
}

/// `n` leads of the pool that `owner` claimed, one by one.
pub async fn held_leads(app: &TestApp, pool_id: &str, owner: &str, n: usize) -> Vec<String> {
    let ids = leads(app, pool_id, n).await;
    for id in &ids {
        app.as_member(owner).claim(id).await;
    }
    ids
}

/// A timestamp as whole seconds, to compare with the clock.
pub fn seconds(at: Option<prost_types::Timestamp>) -> Option<i64> {
    at.map(|t| t.seconds)
}

/// A pool with members alice and bob and a manager, mia.
pub struct Team {
    pub pool: proto::Pool,
}

pub async fn team(app: &TestApp, cap: Option<i32>) -> Team {
    let pool = pool(app, "East China", cap).await;
    staff(app, &pool.id).await;
    Team { pool }
}

/// How many leads of the pool the member holds, as they see it themselves.
pub async fn held_count(app: &TestApp, pool_id: &str, user_id: &str) -> i32 {
    let stats = app.as_member(user_id).member_stats(pool_id, "me").await;
    stats.held_count
}

/// Follows page tokens from the first page to the last: `page(token)` answers with a page's
/// items and the next token. Every item, in order.
pub async fn all_pages<T, Page>(mut page: impl FnMut(String) -> Page) -> Vec<T>
where
    Page: Future<Output = (Vec<T>, String)>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let (more, next) = page(token).await;
        items.extend(more);
        if next.is_empty() {
            return items;
        }
        token = next;
    }
}

/// Every lead a listing returns, following the page tokens; no page is larger than asked.
pub async fn list_all_leads(who: &Client, request: proto::ListLeadsRequest) -> Vec<proto::Lead> {
    all_pages(|page_token| {
        let request = proto::ListLeadsRequest {
            page_token,
            ..request.clone()
        };
        async move {
            let page = who.list_leads(request.clone()).await;
            if request.page_size > 0 {
                assert!(page.leads.len() <= request.page_size as usize);
            }
            (page.leads, page.next_page_token)
        }
    })
    .await
}

/// A request about one pool (or one lead), every other field at its default.
pub trait Scoped: Default {
    fn scoped_to(id: &str) -> Self;
}

macro_rules! scoped {
    ($($request:ident . $field:ident),*) => {$(
        impl Scoped for proto::$request {
            fn scoped_to(id: &str) -> Self {
                Self { $field: id.into(), ..Default::default() }
            }
        }
    )*};
}

scoped!(
    ListLeadsRequest.pool_id,
    ListEventsRequest.pool_id,
    WatchEventsRequest.pool_id,
    ListMembersRequest.pool_id,
    GetLeadHistoryRequest.lead_id
);

/// A request about this pool (`GetLeadHistory`: this lead) and nothing else.
pub fn scoped<R: Scoped>(id: &str) -> R {
    R::scoped_to(id)
}

/// A pool crowded for a race: this cap, `reps` members `rep00`, `rep01`, … and `leads` pool
/// leads; returns the members and the lead ids.
pub async fn crowd(
    app: &TestApp,
    cap: Option<i32>,
    reps: usize,
    leads: usize,
) -> (Vec<Client>, Vec<String>) {
    let pool = pool(app, "Race", cap).await;
    let mut members = Vec::with_capacity(reps);
    for i in 0..reps {
        let user_id = format!("rep{i:02}");
        member(app, &pool.id, &user_id, proto::MemberRole::Member).await;
        members.push(app.as_member(&user_id));
    }
    (members, self::leads(app, &pool.id, leads).await)
}

/// The `i`-th of several members churning: each round claims a lead picked by `i` and the
/// round, and releases it again on even rounds.
pub async fn churn(member: Client, i: usize, leads: Vec<String>, rounds: usize) {
    for round in 0..rounds {
        let lead_id = &leads[(i * 5 + round * 3) % leads.len()];
        if member.try_claim(lead_id).await.is_ok() && round % 2 == 0 {
            member.release(lead_id, "CHURN").await;
        }
    }
}

/// Claims every lead at once, each from a task of its own; how each claim ended, in order.
pub async fn claim_at_once(member: &Client, lead_ids: Vec<String>) -> Vec<Result<(), Code>> {
    let tasks = lead_ids.into_iter().map(|lead_id| {
        let member = member.clone();
        tokio::spawn(async move {
            member
                .try_claim(&lead_id)
                .await
                .map(drop)
                .map_err(|s| s.code())
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect()
}

/// Owned leads, straight from the table.
pub async fn owned_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM leads WHERE owner_id IS NOT NULL")
        .fetch_one(&app.db)
        .await
        .expect("owned")
}

/// Checks, straight from the tables, that each owned lead has exactly one CLAIMED event.
pub async fn assert_one_claim_event_per_owned_lead(app: &TestApp) {
    let claimed_events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM lead_events WHERE kind = 'CLAIMED'")
            .fetch_one(&app.db)
            .await
            .expect("events");
    assert_eq!(
        claimed_events,
        owned_count(app).await,
        "one CLAIMED event per owned lead"
    );
}

/// A server with a team: the start of most tests.
pub async fn app_with_team(cap: Option<i32>) -> (TestApp, Team) {
    let app = TestApp::spawn().await;
    let team = team(&app, cap).await;
    (app, team)
}

/// A server with a team and one pool lead, "Wang Wei".
pub async fn app_with_lead(cap: Option<i32>) -> (TestApp, Team, proto::Lead) {
    let (app, team) = app_with_team(cap).await;
    let lead = lead(&app, &team.pool.id, "Wang Wei").await;
    (app, team, lead)
}

/// Kinds of a lead's events in order, read straight from the table.
pub async fn event_kinds(app: &TestApp, lead_id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM lead_events WHERE lead_id = $1::uuid ORDER BY seq")
        .bind(lead_id)
        .fetch_all(&app.db)
        .await
        .expect("events")
}

/// Replays every lead's events in the order followers read them, (xid, seq), and compares the
/// resulting owner with the table, and checks each member's held count against the leads they
/// own.
pub async fn assert_consistent(app: &TestApp) {
    // AWAY_STARTED and AWAY_ENDED are about a user and name no lead.
    let events: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT lead_id::text, kind, to_owner FROM lead_events WHERE lead_id IS NOT NULL
         ORDER BY xid, seq",
    )
    .fetch_all(&app.db)
    .await
    .expect("events");
    // Every event names the owner the lead has after it (none for pool and closed leads).
    let mut replayed: HashMap<String, Option<String>> = HashMap::new();
    for (lead, _kind, to_owner) in events {
        replayed.insert(lead, to_owner);
    }
    let owners: HashMap<String, Option<String>> =
        sqlx::query_as("SELECT id::text, owner_id FROM leads")
            .fetch_all(&app.db)
            .await
            .expect("leads")
            .into_iter()
            .collect();
    assert_eq!(replayed, owners, "events replay to the current owners");

    let drift: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM members m
         WHERE m.held_count <> (SELECT count(*) FROM leads l
                                WHERE l.pool_id = m.pool_id AND l.owner_id = m.user_id)",
    )
    .fetch_one(&app.db)
    .await
    .expect("held counts");
    assert_eq!(drift, 0, "held counts match owned leads");
}

/// China's 2027 calendar: Mon–Fri 09:00–18:00, New Year's Day and the Spring Festival week
/// (2027-02-06..12) off, Saturday 2027-02-20 worked to make up for it (illustrative).
pub fn spring_festival() -> proto::Calendar {
    proto::Calendar {
        name: "中国大陆 2027".into(),
        workdays: vec![1, 2, 3, 4, 5],
        business_hours: Some(proto::BusinessHours {
            start: "09:00".into(),
            end: "18:00".into(),
        }),
        holidays: vec!["2027-01-01".into(), "2027-02-06..2027-02-12".into()],
        make_up_workdays: vec!["2027-02-20".into()],
        ..Default::default()
    }
}
