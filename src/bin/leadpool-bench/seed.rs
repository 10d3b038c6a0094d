//! Seeding with set-based SQL: one `INSERT … SELECT generate_series` per table (leads in
//! batches, so a progress bar can move), consistent with the schema: state, owner and
//! `held_count` in step, and a `CREATED` event for every lead seeded with an owner (leads seeded
//! into the pool have no event, which the replay check reads as "never owned").

use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;
use crate::service::Caller;

pub const TENANT: &str = "bench";
/// Rows per seeding statement: big enough to be set-based, small enough for the bar to move.
const BATCH: i64 = 50_000;

/// What a scenario seeds.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub leads: i64,
    pub members: i32,
    /// Cap on held leads per member; None: no cap.
    pub cap: Option<i32>,
    /// Every `owned_every`-th lead starts owned (members in turn); 0: all in the pool.
    pub owned_every: i64,
}

/// The seeded pool and its members' user ids (`rep0001`, `rep0002`, …).
#[derive(Debug, Clone)]
pub struct Fixture {
    pub pool_id: Uuid,
    pub members: Vec<String>,
    /// Halfway between the earliest and the latest follow-up deadline of the owned leads.
    pub deadline_midpoint: Option<DateTime<Utc>>,
}

impl Fixture {
    /// Each member as a caller of the seeded tenant, in the order of `members`.
    pub fn callers(&self) -> Result<Vec<Caller>> {
        self.members
            .iter()
            .map(|m| Caller::new(TENANT, m, None))
            .collect()
    }
}

pub async fn seed(db: &PgPool, plan: Plan) -> Result<Fixture> {
    seed_named(db, "Bench pool", plan).await
}

/// Like [`seed`], for a scenario that needs several pools (each with its own members and leads).
/// Leads seeded with an owner get their `CREATED` events once per tenant: seed those in one pool.
pub async fn seed_named(db: &PgPool, name: &str, plan: Plan) -> Result<Fixture> {
    let pool_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO pools (tenant_id, id, name, timezone, max_held_per_member, created_at, updated_at)
         VALUES ($1, $2, $4, 'Asia/Shanghai', $3, now(), now())",
    )
    .bind(TENANT)
    .bind(pool_id)
    .bind(plan.cap)
    .bind(name)
    .execute(db)
    .await?;
    // joined_at apart by a microsecond each, so the join order is the name order.
    sqlx::query(
        "INSERT INTO members (tenant_id, pool_id, user_id, role, joined_at, updated_at)
         SELECT $1, $2, 'rep' || lpad(g::text, 4, '0'), 'MEMBER',
                now() + g * interval '1 microsecond', now()
         FROM generate_series(1, $3) AS g",
    )
    .bind(TENANT)
    .bind(pool_id)
    .bind(plan.members)
    .execute(db)
    .await?;
    seed_leads(db, pool_id, plan).await?;
    count_owned(db).await?;
    analyze(db).await?;
    let members = (1..=plan.members).map(|i| format!("rep{i:04}")).collect();
    let deadline_midpoint = sqlx::query_scalar(
        "SELECT min(follow_up_deadline) + (max(follow_up_deadline) - min(follow_up_deadline)) / 2
         FROM leads WHERE tenant_id = $1",
    )
    .bind(TENANT)
    .fetch_one(db)
    .await?;
    Ok(Fixture {
        pool_id,
        members,
        deadline_midpoint,
    })
}

/// The leads, `BATCH` rows per statement. Ids are UUID v7 like the service's (PostgreSQL 15 has
/// no uuidv7()): the millisecond timestamp over the first 6 bytes of a random UUID, version 7 in
/// byte 6; `created_at` is one millisecond apart per lead, so the creation order is the id order.
async fn seed_leads(db: &PgPool, pool_id: Uuid, plan: Plan) -> Result<()> {
    let bar = bar(plan.leads as u64, "leads");
    let mut from = 1;
    while from <= plan.leads {
        let to = (from + BATCH - 1).min(plan.leads);
        sqlx::query(
            "INSERT INTO leads (tenant_id, id, pool_id, name, company, phone, email, source, region,
                                industry, grade, state, owner_id, acquired_at, acquired_via,
                                follow_up_deadline, close_deadline, pool_entered_at,
                                created_at, updated_at)
             SELECT $1, encode(set_byte(overlay(uuid_send(gen_random_uuid())
                        PLACING substring(int8send((extract(epoch FROM t.at) * 1000)::bigint) FROM 3)
                        FROM 1 FOR 6), 6, 112 + (g % 16)::int), 'hex')::uuid,
                    $2, 'Lead ' || g, 'Company ' || g || ' Ltd', '+86 138' || lpad(g::text, 8, '0'),
                    'lead' || g || '@example.com', 'bench',
                    (ARRAY['east', 'west', 'north', 'south'])[g % 4 + 1],
                    (ARRAY['retail', 'tech', 'finance'])[g % 3 + 1],
                    (ARRAY['A', 'B', 'C', 'D'])[g / 4 % 4 + 1],
                    CASE WHEN o.owner IS NULL THEN 'IN_POOL' ELSE 'OWNED' END, o.owner,
                    CASE WHEN o.owner IS NOT NULL THEN t.at END,
                    CASE WHEN o.owner IS NOT NULL THEN 'CREATE' END,
                    -- Due a month or more from now, in creation order: the recycle scheduler
                    -- of the service under test must find nothing due in the middle of a run.
                    CASE WHEN o.owner IS NOT NULL THEN t.at + interval '60 days' END,
                    CASE WHEN o.owner IS NOT NULL THEN t.at + interval '90 days' END,
                    CASE WHEN o.owner IS NULL THEN t.at END,
                    t.at, t.at
             FROM generate_series($3::bigint, $4::bigint) AS g
             CROSS JOIN LATERAL (
                 SELECT date_trunc('day', now()) - interval '30 days' + g * interval '1 millisecond' AS at
             ) t
             CROSS JOIN LATERAL (
                 SELECT CASE WHEN $5::bigint > 0 AND g % $5 = 0
                             THEN 'rep' || lpad(((g / $5) % $6 + 1)::text, 4, '0') END AS owner
             ) o",
        )
        .bind(TENANT)
        .bind(pool_id)
        .bind(from)
        .bind(to)
        .bind(plan.owned_every)
        .bind(i64::from(plan.members))
        .execute(db)
        .await?;
        bar.inc((to - from + 1) as u64);
        from = to + 1;
    }
    bar.finish_and_clear();
    Ok(())
}

/// Held counts and `CREATED` events for the leads seeded with an owner, as `CreateLead` with an
/// owner would have left them.
async fn count_owned(db: &PgPool) -> Result<()> {
    sqlx::query(
        "UPDATE members m SET held_count = o.n
         FROM (SELECT pool_id, owner_id, count(*) AS n FROM leads
               WHERE tenant_id = $1 AND owner_id IS NOT NULL GROUP BY pool_id, owner_id) o
         WHERE m.tenant_id = $1 AND m.pool_id = o.pool_id AND m.user_id = o.owner_id",
    )
    .bind(TENANT)
    .execute(db)
    .await?;
    sqlx::query(
        "INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, to_owner, actor, occurred_at)
         SELECT tenant_id, id, pool_id, 'CREATED', owner_id, 'bench-seed', created_at
         FROM leads WHERE tenant_id = $1 AND owner_id IS NOT NULL ORDER BY created_at",
    )
    .bind(TENANT)
    .execute(db)
    .await?;
    Ok(())
}

/// Statistics and the visibility map, as autovacuum would leave a settled table, so plans and
/// index-only scans are those of a database in service rather than of a fresh bulk load.
async fn analyze(db: &PgPool) -> Result<()> {
    let spinner = spinner("VACUUM ANALYZE");
    sqlx::raw_sql("VACUUM (ANALYZE) pools, members, leads, lead_events")
        .execute(db)
        .await?;
    spinner.finish_and_clear();
    Ok(())
}

/// Lead ids in creation order.
pub async fn lead_ids(db: &PgPool) -> Result<Vec<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM leads WHERE tenant_id = $1 ORDER BY created_at, id")
            .bind(TENANT)
            .fetch_all(db)
            .await?,
    )
}

/// A progress bar over `len` items (hidden when stderr is not a terminal, as in CI).
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg:>12} [{bar:40}] {human_pos}/{human_len} ({per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

pub fn spinner(what: &str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(what.to_owned());
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}
