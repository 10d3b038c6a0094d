//! Recycling: the sweep's batches, its dry run, the upcoming and past recycles, and moving a
//! deadline. A batch is one statement: `recycle_candidates` finds due leads through the partial
//! indexes; each is then fetched by key and locked with `SKIP LOCKED` (several sweeps share the
//! work, never a lead) and decided again by `recycle_schedule` on the locked, latest version of
//! the row, so a follow-up that committed first wins and one that waits for the lock finds the
//! lead gone. The statements fix their join order (a materialized CTE, `OFFSET 0` lateral
//! lookups): a fresh table without statistics once led the planner to scan a pool per candidate.
//! See migration `20261123200000_recycle.sql`.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::db_error;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::recycle::{
    Action, DeadlineKind, RecycleReason, Recycled, Step, Upcoming, UpcomingFilter,
};

/// What one sweep covers, and what its events record.
#[derive(Debug, Clone, Copy)]
pub struct Sweep<'a> {
    /// The moment the sweep acts as of.
    pub now: DateTime<Utc>,
    /// `None`: every tenant (the scheduler).
    pub tenant_id: Option<&'a str>,
    pub pool_id: Option<Uuid>,
    pub actor: &'a str,
    pub request_id: Option<Uuid>,
    /// Leads per statement.
    pub batch: i32,
}

struct StepRow {
    lead_id: Uuid,
    pool_id: Uuid,
    owner_id: String,
    reason: String,
    deadline: DateTime<Utc>,
    recycle_at: DateTime<Utc>,
}

impl StepRow {
    fn into_step(self, action: Action) -> Result<Step> {
        Ok(Step {
            lead_id: self.lead_id,
            pool_id: self.pool_id,
            owner_id: self.owner_id,
            action,
            reason: RecycleReason::try_from(self.reason.as_str())?,
            deadline: self.deadline,
            recycle_at: self.recycle_at,
        })
    }
}

/// The steps a batch statement returned, each taken as `action`.
fn steps(rows: Result<Vec<StepRow>, sqlx::Error>, action: Action) -> Result<Vec<Step>> {
    rows.map_err(db_error)?
        .into_iter()
        .map(|r| r.into_step(action))
        .collect()
}

/// Warns the owners of up to `batch` leads due a warning: one `RECYCLE_WARNING` each, with the
/// recycle time it announces, which the lead keeps (`warned_*`) so it is warned only once.
#[tracing::instrument(skip_all, fields(tenant_id = sweep.tenant_id, batch = sweep.batch))]
pub async fn warn_batch(db: impl PgExecutor<'_>, sweep: &Sweep<'_>) -> Result<Vec<Step>> {
    let rows = sqlx::query_as!(
        StepRow,
        r#"WITH due AS MATERIALIZED (SELECT * FROM recycle_candidates($1, $2, $3, 'WARN', $4)),
           target AS (
               SELECT (l.lead).tenant_id, (l.lead).id, (l.lead).pool_id, (l.lead).owner_id,
                      s.reason, s.deadline, s.recycle_at
               FROM due c
               JOIN pools p ON p.tenant_id = c.tenant_id AND p.id = c.pool_id
               -- By key, locked on its own (OFFSET 0 keeps the planner from joining otherwise).
               CROSS JOIN LATERAL (SELECT x AS lead FROM leads x
                                   WHERE x.tenant_id = c.tenant_id AND x.id = c.lead_id
                                   OFFSET 0) l
               CROSS JOIN LATERAL recycle_schedule(l.lead, p, $1) s
               -- Means = 'WARN'; see recycle_batch.
               WHERE s.action <> 'RECYCLE' AND p.id = (l.lead).pool_id
               LIMIT $4
               FOR UPDATE OF l SKIP LOCKED
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, reason, note, occurred_at, request_id)
               SELECT t.tenant_id, t.id, t.pool_id, 'RECYCLE_WARNING', t.owner_id, t.owner_id, $5,
                      t.reason,
                      'recycled at ' || to_char(t.recycle_at AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                      $1, $6
               FROM target t
           )
           UPDATE leads l
           SET warned_deadline = t.deadline, warned_owner = t.owner_id,
               warned_recycle_at = t.recycle_at
           FROM target t
           WHERE l.tenant_id = t.tenant_id AND l.id = t.id
           RETURNING t.id AS "lead_id!", t.pool_id AS "pool_id!", t.owner_id AS "owner_id!",
                     t.reason AS "reason!", t.deadline AS "deadline!",
                     t.recycle_at AS "recycle_at!""#,
        sweep.now,
        sweep.tenant_id,
        sweep.pool_id,
        sweep.batch,
        sweep.actor,
        sweep.request_id,
    )
    .fetch_all(db)
    .await;
    steps(rows, Action::Warn)
}

/// Alerts up to `batch` leads left in their pool for the pool's `unclaimed_alert_after`: one
/// `POOL_AGING` event each, the entry remembered on the lead (`aging_alerted_entry`) so it is
/// alerted once. The update re-checks that on the row it locks: of two sweeps, one alerts. How
/// many it alerted.
#[tracing::instrument(skip_all, fields(tenant_id = sweep.tenant_id, batch = sweep.batch))]
pub async fn alert_aging(db: impl PgExecutor<'_>, sweep: &Sweep<'_>) -> Result<i64> {
    sqlx::query_scalar!(
        r#"WITH due AS (
               SELECT l.tenant_id, l.id
               FROM pools p
               CROSS JOIN LATERAL (
                   SELECT x.tenant_id, x.id FROM leads x
                   WHERE x.tenant_id = p.tenant_id AND x.pool_id = p.id AND x.state = 'IN_POOL'
                     AND x.aging_alerted_entry IS DISTINCT FROM x.pool_entered_at
                     AND x.pool_entered_at <= $1::timestamptz
                                              - make_interval(secs => p.unclaimed_alert_after_seconds)
                   ORDER BY x.pool_entered_at, x.id
                   LIMIT $4) l
               WHERE p.unclaimed_alert_after_seconds IS NOT NULL
                 AND ($2::text IS NULL OR p.tenant_id = $2) AND ($3::uuid IS NULL OR p.id = $3)
               LIMIT $4
           ),
           alerted AS (
               UPDATE leads l SET aging_alerted_entry = l.pool_entered_at
               FROM due d
               WHERE l.tenant_id = d.tenant_id AND l.id = d.id AND l.state = 'IN_POOL'
                 AND l.aging_alerted_entry IS DISTINCT FROM l.pool_entered_at
               RETURNING l.tenant_id, l.id, l.pool_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, actor, occurred_at,
                                        request_id)
               SELECT a.tenant_id, a.id, a.pool_id, 'POOL_AGING', $5, $1, $6
               FROM alerted a ORDER BY a.id
           )
           SELECT count(*) AS "alerted!" FROM alerted"#,
        sweep.now,
        sweep.tenant_id,
        sweep.pool_id,
        i64::from(sweep.batch),
        sweep.actor,
        sweep.request_id,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// Recycles up to `batch` due leads: back to `IN_POOL` in the pool's live recycle pool (else their
/// own), with `previous_owner_id`, the pool's cooldown and a `RECYCLED` event each; the owners'
/// held counts drop in the same statement. The owners' member rows are locked with the leads,
/// `SKIP LOCKED` too: a sweep never waits, so it can deadlock with nothing (a lead whose owner is
/// busy claiming or being removed waits for the next batch).
#[tracing::instrument(skip_all, fields(tenant_id = sweep.tenant_id, batch = sweep.batch))]
pub async fn recycle_batch(db: impl PgExecutor<'_>, sweep: &Sweep<'_>) -> Result<Vec<Step>> {
    let rows = sqlx::query_as!(
        StepRow,
        r#"WITH due AS MATERIALIZED (SELECT * FROM recycle_candidates($1, $2, $3, 'RECYCLE', $4)),
           target AS (
               SELECT (l.lead).tenant_id, (l.lead).id, (l.lead).pool_id, (l.lead).owner_id,
                      s.reason, s.deadline,
                      recycle_destination(p) AS destination,
                      $1 + make_interval(secs => p.reclaim_cooldown_seconds) AS cooldown_until
               FROM due c
               JOIN pools p ON p.tenant_id = c.tenant_id AND p.id = c.pool_id
               -- The lead, then its owner's member row, each by key and locked on its own
               -- (OFFSET 0 keeps the planner from joining them any other way).
               CROSS JOIN LATERAL (SELECT x AS lead FROM leads x
                                   WHERE x.tenant_id = c.tenant_id AND x.id = c.lead_id
                                   OFFSET 0) l
               CROSS JOIN LATERAL (SELECT m.user_id FROM members m
                                   WHERE m.tenant_id = c.tenant_id AND m.pool_id = c.pool_id
                                     AND m.user_id = (l.lead).owner_id
                                   OFFSET 0) m
               CROSS JOIN LATERAL recycle_schedule(l.lead, p, $1) s
               -- Means = 'RECYCLE' (action is WARN, RECYCLE or NULL); `<>` keeps the planner's
               -- row estimate sane.
               WHERE s.action <> 'WARN' AND p.id = (l.lead).pool_id
               LIMIT $4
               FOR UPDATE OF l, m SKIP LOCKED
           ),
           uncounted AS (
               UPDATE members m SET held_count = m.held_count - r.n, updated_at = $1
               FROM (SELECT t.tenant_id, t.pool_id, t.owner_id, count(*)::integer AS n
                     FROM target t GROUP BY t.tenant_id, t.pool_id, t.owner_id) r
               WHERE m.tenant_id = r.tenant_id AND m.pool_id = r.pool_id AND m.user_id = r.owner_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, to_pool_id, kind, from_owner,
                                        actor, reason, note, occurred_at, request_id)
               SELECT t.tenant_id, t.id, t.pool_id, NULLIF(t.destination, t.pool_id), 'RECYCLED',
                      t.owner_id, $5, t.reason,
                      'deadline ' || to_char(t.deadline AT TIME ZONE 'UTC',
                                             'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ' passed',
                      $1, $6
               FROM target t
           )
           UPDATE leads l
           SET state = 'IN_POOL', owner_id = NULL, previous_owner_id = t.owner_id,
               pool_id = t.destination, cooldown_until = t.cooldown_until, acquired_at = NULL,
               acquired_via = NULL, follow_up_deadline = NULL, close_deadline = NULL,
               warned_deadline = NULL, warned_owner = NULL, warned_recycle_at = NULL,
               pool_entered_at = $1, version = l.version + 1, updated_at = $1
           FROM target t
           WHERE l.tenant_id = t.tenant_id AND l.id = t.id
           RETURNING t.id AS "lead_id!", t.pool_id AS "pool_id!", t.owner_id AS "owner_id!",
                     t.reason AS "reason!", t.deadline AS "deadline!",
                     $1::timestamptz AS "recycle_at!""#,
        sweep.now,
        sweep.tenant_id,
        sweep.pool_id,
        sweep.batch,
        sweep.actor,
        sweep.request_id,
    )
    .fetch_all(db)
    .await;
    steps(rows, Action::Recycle)
}

struct PlannedRow {
    lead_id: Uuid,
    pool_id: Uuid,
    owner_id: String,
    reason: String,
    deadline: DateTime<Utc>,
    recycle_at: DateTime<Utc>,
    total: i64,
}

/// What a sweep would do now, without locking or changing anything: how many leads it would
/// warn (or recycle), and the first `limit` of them, as the sweep's batches would report them.
#[tracing::instrument(skip_all, fields(tenant_id = sweep.tenant_id, action = action.as_str()))]
pub async fn plan(
    db: impl PgExecutor<'_>,
    sweep: &Sweep<'_>,
    action: Action,
    limit: i64,
) -> Result<(u64, Vec<Step>)> {
    let rows = sqlx::query_as!(
        PlannedRow,
        r#"SELECT l.id AS lead_id, l.pool_id, l.owner_id AS "owner_id!", s.reason AS "reason!",
                  s.deadline AS "deadline!",
                  CASE WHEN s.action = 'RECYCLE' THEN $1 ELSE s.recycle_at END AS "recycle_at!",
                  count(*) OVER () AS "total!"
           FROM recycle_candidates($1, $2, $3, $4, 2147483647) c
           JOIN leads l ON l.tenant_id = c.tenant_id AND l.id = c.lead_id
           JOIN pools p ON p.tenant_id = c.tenant_id AND p.id = c.pool_id AND p.id = l.pool_id
           CROSS JOIN LATERAL recycle_schedule(l, p, $1) s
           WHERE s.action = $4
           ORDER BY s.deadline, l.id
           LIMIT $5"#,
        sweep.now,
        sweep.tenant_id,
        sweep.pool_id,
        action.as_str(),
        limit,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    let total = rows.first().map_or(0, |r| r.total.unsigned_abs());
    let steps = rows
        .into_iter()
        .map(|r| {
            StepRow {
                lead_id: r.lead_id,
                pool_id: r.pool_id,
                owner_id: r.owner_id,
                reason: r.reason,
                deadline: r.deadline,
                recycle_at: r.recycle_at,
            }
            .into_step(action)
        })
        .collect::<Result<_, _>>()?;
    Ok((total, steps))
}

struct UpcomingRow {
    lead_id: Uuid,
    pool_id: Uuid,
    owner_id: String,
    deadline: DateTime<Utc>,
    reason: String,
    warned: bool,
    warn_at: Option<DateTime<Utc>>,
    recycle_at: DateTime<Utc>,
}

/// The owned leads whose next step (warning, else recycle) comes by `filter.until`, as
/// `recycle_schedule` sees them at `now`, soonest first, after the keyset cursor.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn upcoming(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    filter: &UpcomingFilter,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Upcoming>> {
    let (after_at, after_id) = after.unzip();
    let rows = sqlx::query_as!(
        UpcomingRow,
        r#"SELECT l.id AS lead_id, l.pool_id, l.owner_id AS "owner_id!", s.deadline AS "deadline!",
                  s.reason AS "reason!",
                  COALESCE(l.warned_deadline = s.deadline AND l.warned_owner = l.owner_id, false)
                      AS "warned!",
                  s.warn_at, s.recycle_at AS "recycle_at!"
           FROM leads l
           JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
           CROSS JOIN LATERAL recycle_schedule(l, p, $2) s
           WHERE l.tenant_id = $1 AND l.state = 'OWNED'
             AND ($3::uuid IS NULL OR l.pool_id = $3)
             AND ($4::text IS NULL OR l.owner_id = $4)
             AND COALESCE(s.warn_at, s.recycle_at) <= $5
             -- A paused owner's deadlines stand still (recycle_candidates skips them too).
             AND NOT owner_paused(l.tenant_id, l.owner_id)
             AND ($6::timestamptz IS NULL OR (COALESCE(s.warn_at, s.recycle_at), l.id) > ($6, $7))
           ORDER BY COALESCE(s.warn_at, s.recycle_at), l.id
           LIMIT $8"#,
        tenant_id,
        now,
        filter.pool_id,
        filter.owner_id,
        filter.until,
        after_at,
        after_id,
        limit,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|r| {
            Ok(Upcoming {
                lead_id: r.lead_id,
                pool_id: r.pool_id,
                owner_id: r.owner_id,
                deadline: r.deadline,
                reason: RecycleReason::try_from(r.reason.as_str())?,
                warned: r.warned,
                warn_at: r.warn_at,
                recycle_at: r.recycle_at,
            })
        })
        .collect()
}

/// A pool's recycles, newest first, before the keyset cursor (an event's `seq`).
#[tracing::instrument(skip_all, fields(tenant_id, %pool_id))]
pub async fn recycled(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    pool_id: Uuid,
    previous_owner_id: Option<&str>,
    before_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<Recycled>> {
    let rows = sqlx::query!(
        r#"SELECT seq, lead_id AS "lead_id!", pool_id, to_pool_id, from_owner AS "from_owner!",
                  reason AS "reason!", occurred_at, actor
           FROM lead_events
           WHERE tenant_id = $1 AND pool_id = $2 AND kind = 'RECYCLED'
             AND ($3::text IS NULL OR from_owner = $3)
             AND ($4::bigint IS NULL OR seq < $4)
           ORDER BY seq DESC
           LIMIT $5"#,
        tenant_id,
        pool_id,
        previous_owner_id,
        before_seq,
        limit,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?;
    rows.into_iter()
        .map(|r| {
            Ok(Recycled {
                seq: r.seq,
                lead_id: r.lead_id,
                pool_id: r.pool_id,
                to_pool_id: r.to_pool_id,
                previous_owner_id: r.from_owner,
                reason: RecycleReason::try_from(r.reason.as_str())?,
                recycled_at: r.occurred_at,
                actor: r.actor,
            })
        })
        .collect()
}

/// A manager's move of one deadline, validated.
#[derive(Debug, Clone, Copy)]
pub struct Extension<'a> {
    pub lead_id: Uuid,
    pub kind: DeadlineKind,
    pub until: DateTime<Utc>,
    pub reason: &'a str,
    pub note: Option<&'a str>,
    pub request_id: Option<Uuid>,
    pub now: DateTime<Utc>,
}

/// Moves the deadline of an owned lead in one statement with its `UPDATED` event. `None`: the
/// lead is not owned, or the deadline already is `until`; nothing changed.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, lead_id = %extension.lead_id))]
pub async fn extend_deadline(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    extension: &Extension<'_>,
) -> Result<Option<Uuid>> {
    sqlx::query_scalar!(
        r#"WITH target AS (
               SELECT l.id, l.pool_id, l.owner_id FROM leads l
               WHERE l.tenant_id = $1 AND l.id = $2 AND l.state = 'OWNED'
                 AND CASE WHEN $3 = 'FOLLOW_UP' THEN l.follow_up_deadline ELSE l.close_deadline END
                     IS DISTINCT FROM $4
               FOR UPDATE
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner,
                                        actor, reason, note, occurred_at, request_id)
               SELECT $1, t.id, t.pool_id, 'UPDATED', t.owner_id, t.owner_id, $5, $6, $7, $8, $9
               FROM target t
           )
           UPDATE leads l
           SET follow_up_deadline = CASE WHEN $3 = 'FOLLOW_UP' THEN $4 ELSE l.follow_up_deadline END,
               close_deadline = CASE WHEN $3 = 'CLOSE' THEN $4 ELSE l.close_deadline END,
               version = l.version + 1, updated_at = $8
           FROM target t
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING l.id"#,
        actor.tenant_id,
        extension.lead_id,
        extension.kind.as_str(),
        extension.until,
        actor.user_id,
        extension.reason,
        extension.note,
        extension.now,
        extension.request_id,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)
}
