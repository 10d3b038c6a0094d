//! Small builders for the state most tests start from.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use leadpool::proto;

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
    app.pools()
        .create_pool(admin().req(proto::CreatePoolRequest {
            name: name.into(),
            timezone: "Asia/Shanghai".into(),
            max_held_per_member: cap,
            ..Default::default()
        }))
        .await
        .expect("create pool")
        .into_inner()
        .pool
        .expect("pool")
}

pub async fn member(
    app: &TestApp,
    pool_id: &str,
    user_id: &str,
    role: proto::MemberRole,
) -> proto::Member {
    app.pools()
        .add_member(admin().req(proto::AddMemberRequest {
            pool_id: pool_id.into(),
            user_id: user_id.into(),
            role: role.into(),
            ..Default::default()
        }))
        .await
        .expect("add member")
        .into_inner()
        .member
        .expect("member")
}

/// A pool with these rules and members alice, bob (reps) and mia (manager).
pub async fn pool_with(app: &TestApp, name: &str, rules: proto::CreatePoolRequest) -> proto::Pool {
    let pool = app
        .pools()
        .create_pool(admin().req(proto::CreatePoolRequest {
            name: name.into(),
            timezone: "Asia/Shanghai".into(),
            ..rules
        }))
        .await
        .expect("create pool")
        .into_inner()
        .pool
        .expect("pool");
    for (user_id, role) in [
        ("alice", proto::MemberRole::Member),
        ("bob", proto::MemberRole::Member),
        ("mia", proto::MemberRole::Manager),
    ] {
        member(app, &pool.id, user_id, role).await;
    }
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
    app.leads()
        .create_lead(service().req(proto::CreateLeadRequest {
            pool_id: pool_id.into(),
            lead: Some(new_lead(name)),
            ..Default::default()
        }))
        .await
        .expect("create lead")
        .into_inner()
        .lead
        .expect("lead")
}

pub async fn claim(app: &TestApp, who: &Caller, lead_id: &str) -> proto::Lead {
    app.leads()
        .claim_lead(who.req(proto::ClaimLeadRequest {
            lead_id: lead_id.into(),
            ..Default::default()
        }))
        .await
        .expect("claim")
        .into_inner()
        .lead
        .expect("lead")
}

/// A pool with members alice and bob and a manager, mia.
pub struct Team {
    pub pool: proto::Pool,
}

pub async fn team(app: &TestApp, cap: Option<i32>) -> Team {
    let pool = pool(app, "East China", cap).await;
    member(app, &pool.id, "alice", proto::MemberRole::Member).await;
    member(app, &pool.id, "bob", proto::MemberRole::Member).await;
    member(app, &pool.id, "mia", proto::MemberRole::Manager).await;
    Team { pool }
}

/// Kinds of a lead's events in order, read straight from the table.
pub async fn event_kinds(app: &TestApp, lead_id: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM lead_events WHERE lead_id = $1::uuid ORDER BY seq")
        .bind(lead_id)
        .fetch_all(&app.db)
        .await
        .expect("events")
}

/// Replays every lead's events and compares the resulting owner with the table, and checks
/// each member's held count against the leads they own.
pub async fn assert_consistent(app: &TestApp) {
    let events: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT lead_id::text, kind, to_owner FROM lead_events ORDER BY seq")
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
