//! The `report` scenario's history: a year of one pool's events made by set-based SQL, each lead
//! as its last event left it, and the checks that it is consistent.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ZONE, settle};
use crate::Result;
use crate::invariants::Check;
use crate::seed::{self, TENANT};

/// Leads whose events are counted first, to size the seed: histories running past now are cut.
const SAMPLE_LEADS: i64 = 20_000;
const LEADS_PER_STATEMENT: i64 = 20_000;

pub struct Seeded {
    pub pool_id: Uuid,
    pub leads: i64,
    pub events: i64,
    pub took: Duration,
}

/// The pool, its members (weights 1–5, joined before the year began) and `target` events
/// (about) of leads created evenly over the last 365 days, each history as `EVENTS` makes it and
/// cut at now; each lead as its last event left it; held counts to match.
pub async fn seed_history(conn: &mut PgConnection, target: i64, members: i64) -> Result<Seeded> {
    let now: DateTime<Utc> = sqlx::query_scalar("SELECT date_trunc('second', now())")
        .fetch_one(&mut *conn)
        .await?;
    let start = now - chrono::Duration::days(365);
    let pool_id = seed_pool(conn, start, members).await?;
    let sampled: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM ({EVENTS}) s"))
        .bind(start)
        .bind(now)
        .bind(SAMPLE_LEADS)
        .bind(members)
        .bind(1_i64)
        .bind(SAMPLE_LEADS)
        .fetch_one(&mut *conn)
        .await?;
    let leads = (target * SAMPLE_LEADS + sampled / 2) / sampled.max(1);
    let bar = seed::bar(u64::try_from(leads)?, "leads");
    let started = Instant::now();
    let mut events = 0;
    for first in (1..=leads).step_by(usize::try_from(LEADS_PER_STATEMENT)?) {
        let last = (first + LEADS_PER_STATEMENT - 1).min(leads);
        let written: i64 =
            sqlx::query_scalar(&format!("WITH ev AS MATERIALIZED ({EVENTS}) {WRITE}"))
                .bind(start)
                .bind(now)
                .bind(leads)
                .bind(members)
                .bind(first)
                .bind(last)
                .bind(TENANT)
                .bind(pool_id)
                .fetch_one(&mut *conn)
                .await?;
        events += written;
        bar.inc(u64::try_from(last - first + 1)?);
    }
    seed::recount_held(&mut *conn).await?;
    let took = started.elapsed();
    bar.finish_and_clear();
    settle(conn, "pools, members, leads, lead_search, lead_events").await?;
    Ok(Seeded {
        pool_id,
        leads,
        events,
        took,
    })
}

async fn seed_pool(conn: &mut PgConnection, start: DateTime<Utc>, members: i64) -> Result<Uuid> {
    let pool_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO pools (tenant_id, id, name, timezone, created_at, updated_at)
         VALUES ($1, $2, 'Reported pool', $3, $4 - interval '1 day', $4 - interval '1 day')",
    )
    .bind(TENANT)
    .bind(pool_id)
    .bind(ZONE)
    .bind(start)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO members (tenant_id, pool_id, user_id, role, weight, joined_at, updated_at)
         SELECT $1, $2, 'rep' || lpad(g::text, 4, '0'), 'MEMBER', 1 + g % 5,
                $3 - interval '1 day', $3 - interval '1 day'
         FROM generate_series(1, $4::bigint) AS g",
    )
    .bind(TENANT)
    .bind(pool_id)
    .bind(start)
    .bind(members)
    .execute(&mut *conn)
    .await?;
    Ok(pool_id)
}

/// The events of leads $5..=$6 of $3 created evenly from $1 over 365 days, cut at $2; members
/// `rep0001`..`rep$4`. A lead's ids and times are the same whichever batch makes it; its history
/// is up to three cycles 25 days apart: in the pool 10 minutes to 5 days, CLAIMED (or DISTRIBUTED,
/// one in three) by a member, 1–11 FOLLOWED_UPs, then CONVERTED (ending the history), RELEASED
/// with one of four reasons, or RECYCLED (follow-up or close deadline); the third cycle may end
/// owned (a last follow-up instead). Whole seconds, strictly increasing per lead.
const EVENTS: &str = r#"
WITH lead AS (
    SELECT g, c0, (lpad(to_hex((extract(epoch FROM c0) * 1000)::bigint), 12, '0') || '7'
                   || lpad(to_hex(g % 4096), 3, '0') || '8' || lpad(to_hex(g), 15, '0'))::uuid AS id,
           (hashint8(g * 64 + 7)::bigint + 2147483648) % 20 < 3 AS done0,
           (hashint8(g * 64 + 15)::bigint + 2147483648) % 20 < 3 AS done1,
           (hashint8(g * 64 + 62)::bigint + 2147483648) % 5 AS a,
           (hashint8(g * 64 + 63)::bigint + 2147483648) % 5 AS b
    FROM generate_series($5::bigint, $6::bigint) AS g
    CROSS JOIN LATERAL (
        SELECT $1::timestamptz + ((g - 1) * 31536000 / $3::bigint) * interval '1 second' AS c0) t),
cycle AS (
    SELECT l.g, l.id, l.c0, c.j, 600 + c.j * 2160000 + h[1] % 432000 AS acquired,
           CASE WHEN h[2] % 3 = 0 THEN 'DISTRIBUTED' ELSE 'CLAIMED' END AS way,
           'rep' || lpad((1 + h[3] % $4::bigint)::text, 4, '0') AS owner,
           CASE c.j WHEN 0 THEN 1 + l.a WHEN 1 THEN 1 + l.b ELSE 11 - l.a - l.b END AS follow_ups,
           60 + h[4] % 172800 AS first_gap, 3600 + h[5] % 104400 AS step,
           3600 + h[6] % 172800 AS end_gap, h[7] % 20 AS outcome
    FROM lead l
    CROSS JOIN generate_series(0, 2) AS c(j)
    CROSS JOIN LATERAL (SELECT ARRAY(SELECT hashint8(l.g * 64 + c.j * 8 + x)::bigint + 2147483648
                                     FROM generate_series(1, 7) AS x) AS h) r
    WHERE NOT (c.j >= 1 AND l.done0) AND NOT (c.j = 2 AND l.done1)),
step AS (
    SELECT c.*, CASE WHEN s.i = 0 THEN c.way
                     WHEN s.i <= c.follow_ups THEN 'FOLLOWED_UP'
                     WHEN c.outcome < CASE c.j WHEN 2 THEN 8 ELSE 3 END THEN 'CONVERTED'
                     WHEN c.outcome < 12 THEN 'RELEASED'
                     WHEN c.outcome < CASE c.j WHEN 2 THEN 16 ELSE 20 END THEN 'RECYCLED'
                     ELSE 'FOLLOWED_UP' END AS kind,
           c.acquired + CASE WHEN s.i = 0 THEN 0
                             ELSE c.first_gap + (least(s.i, c.follow_ups) - 1) * c.step
                                  + CASE WHEN s.i > c.follow_ups THEN c.end_gap ELSE 0 END
                        END AS second
    FROM cycle c CROSS JOIN LATERAL generate_series(0, c.follow_ups + 1) AS s(i))
SELECT * FROM (
    SELECT g, id, c0, c0 + acquired * interval '1 second' AS acquired_at, way, kind,
           c0 + second * interval '1 second' AS at,
           CASE WHEN kind IN ('CLAIMED', 'DISTRIBUTED') THEN NULL ELSE owner END AS from_owner,
           CASE WHEN kind IN ('CLAIMED', 'DISTRIBUTED', 'FOLLOWED_UP') THEN owner END AS to_owner,
           CASE kind WHEN 'DISTRIBUTED' THEN 'bench-distributor' WHEN 'RECYCLED' THEN 'system'
                     ELSE owner END AS actor,
           CASE kind WHEN 'FOLLOWED_UP' THEN 'CALL'
                     WHEN 'RELEASED' THEN (ARRAY['NO_ANSWER', 'NOT_INTERESTED', 'WRONG_CONTACT',
                                                 'BUDGET'])[outcome % 4 + 1]
                     WHEN 'RECYCLED' THEN CASE WHEN outcome < CASE j WHEN 2 THEN 15 ELSE 17 END
                                               THEN 'FOLLOW_UP_OVERDUE' ELSE 'CLOSE_OVERDUE' END
           END AS reason
    FROM step
    UNION ALL
    SELECT g, id, c0, NULL, NULL, 'CREATED', c0, NULL, NULL, 'bench-import', NULL FROM lead) e
WHERE e.at < $2::timestamptz"#;

/// After `WITH ev AS (EVENTS)`: writes the events in time order and each lead as its last event
/// left it (owned ones due 60 and 90 days from now: no sweep touches them during the run);
/// returns how many events.
const WRITE: &str = r#",
written AS (
    INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner, actor,
                             reason, occurred_at)
    SELECT $7, id, $8, kind, from_owner, to_owner, actor, reason, at FROM ev ORDER BY at, g
    RETURNING 1),
made AS (
    INSERT INTO leads (tenant_id, id, pool_id, name, company, phone, source, region, industry,
                       grade, state, owner_id, acquired_at, acquired_via, last_follow_up_at,
                       follow_up_deadline, close_deadline, previous_owner_id, pool_entered_at,
                       created_at, updated_at)
    SELECT $7, id, $8, 'Lead ' || g, 'Company ' || g || ' Ltd', '+86 139' || lpad(g::text, 8, '0'),
           'bench', (ARRAY['east', 'west', 'north', 'south'])[g % 4 + 1],
           (ARRAY['retail', 'tech', 'finance'])[g % 3 + 1], (ARRAY['A', 'B', 'C', 'D'])[g / 4 % 4 + 1],
           CASE WHEN kind = 'CONVERTED' THEN 'CONVERTED' WHEN to_owner IS NULL THEN 'IN_POOL'
                ELSE 'OWNED' END,
           to_owner, CASE WHEN to_owner IS NOT NULL THEN acquired_at END,
           CASE WHEN to_owner IS NOT NULL THEN
               CASE way WHEN 'CLAIMED' THEN 'CLAIM' ELSE 'DISTRIBUTE' END END,
           CASE WHEN kind = 'FOLLOWED_UP' THEN at END,
           CASE WHEN to_owner IS NOT NULL THEN $2::timestamptz + interval '60 days' END,
           CASE WHEN to_owner IS NOT NULL THEN $2::timestamptz + interval '90 days' END,
           CASE WHEN to_owner IS NULL THEN from_owner END,
           CASE WHEN to_owner IS NULL AND kind <> 'CONVERTED' THEN at END, c0, at
    FROM (SELECT DISTINCT ON (g) * FROM ev ORDER BY g, at DESC) last
    RETURNING 1)
SELECT (SELECT count(*) FROM written) + 0 * (SELECT count(*) FROM made)"#;

/// The seeded history's checks: state and owner agree, held counts match, and each lead's
/// events replay step by step (CREATED first; CLAIMED and DISTRIBUTED from nobody to someone;
/// FOLLOWED_UP by the owner, keeping them; RELEASED, RECYCLED and CONVERTED from the owner to
/// nobody) to its current owner, converted exactly when the last step is CONVERTED.
pub async fn history_checks(conn: &mut PgConnection) -> Result<Vec<Check>> {
    let (owner_state, held, bad_steps, wrong_end): (i64, i64, i64, i64) = sqlx::query_as(HISTORY)
        .bind(TENANT)
        .fetch_one(&mut *conn)
        .await?;
    let check = |name, violations| Check { name, violations };
    Ok(vec![
        check("state OWNED ⇔ owner set", owner_state),
        check("held_count = owned leads", held),
        check("events replay step by step", bad_steps),
        check("events replay to the current owner and state", wrong_end),
    ])
}

const HISTORY: &str = r#"
WITH steps AS (
    SELECT lead_id, kind, from_owner, to_owner, lag(to_owner) OVER w AS before,
           row_number() OVER w AS n, count(*) OVER (PARTITION BY lead_id) AS total
    FROM lead_events WHERE tenant_id = $1
    WINDOW w AS (PARTITION BY lead_id ORDER BY seq)),
last AS (SELECT lead_id, kind, to_owner FROM steps WHERE n = total)
SELECT (SELECT count(*) FROM leads
        WHERE tenant_id = $1 AND (state = 'OWNED') <> (owner_id IS NOT NULL)),
       (SELECT count(*) FROM members m
        WHERE m.tenant_id = $1 AND m.held_count <> (
            SELECT count(*) FROM leads l
            WHERE l.tenant_id = $1 AND l.pool_id = m.pool_id AND l.owner_id = m.user_id)),
       (SELECT count(DISTINCT lead_id) FROM steps
        WHERE (kind = 'CREATED') <> (n = 1)
           OR (kind = 'CREATED' AND to_owner IS NOT NULL)
           OR (kind IN ('CLAIMED', 'DISTRIBUTED') AND (before IS NOT NULL OR to_owner IS NULL))
           OR (kind = 'FOLLOWED_UP' AND (before IS NULL OR from_owner IS DISTINCT FROM before
                                          OR to_owner IS DISTINCT FROM before))
           OR (kind IN ('RELEASED', 'RECYCLED', 'CONVERTED')
               AND (before IS NULL OR from_owner IS DISTINCT FROM before OR to_owner IS NOT NULL))
           OR kind NOT IN ('CREATED', 'CLAIMED', 'DISTRIBUTED', 'FOLLOWED_UP', 'RELEASED',
                           'RECYCLED', 'CONVERTED')),
       (SELECT count(*) FROM leads l LEFT JOIN last ON last.lead_id = l.id
        WHERE l.tenant_id = $1
          AND (last.lead_id IS NULL OR l.owner_id IS DISTINCT FROM last.to_owner
               OR (l.state = 'CONVERTED') <> (last.kind = 'CONVERTED')))
     + (SELECT count(*) FROM last WHERE NOT EXISTS (
            SELECT 1 FROM leads l WHERE l.tenant_id = $1 AND l.id = last.lead_id))"#;
