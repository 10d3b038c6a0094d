//! The invariants checked after every load phase, straight on the tables, so a fast wrong run
//! cannot look good. Each check counts violations; any count above zero fails the bench.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;
use crate::seed::TENANT;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub violations: i64,
}

/// What the clients saw succeed: (lead index, member index) per successful claim.
#[derive(Debug, Default, Clone)]
pub struct Wins(pub Vec<(u32, u32)>);

impl Wins {
    pub fn merge(&mut self, other: Wins) {
        self.0.extend(other.0);
    }

    /// Distinct leads won: a retried claim of one's own lead succeeds without a new event.
    pub fn distinct_leads(&self) -> usize {
        self.0
            .iter()
            .map(|(lead, _)| lead)
            .collect::<HashSet<_>>()
            .len()
    }
}

/// Every check on the database, plus the client-side ones when `wins` is given.
pub async fn check(db: &PgPool, wins: Option<(&Wins, &[Uuid], &[String])>) -> Result<Vec<Check>> {
    let mut checks = vec![
        count("state OWNED ⇔ owner set", OWNER_MATCHES_STATE, db).await?,
        count("held_count = owned leads", HELD_COUNT_DRIFT, db).await?,
        count("no member over cap", OVER_CAP, db).await?,
    ];
    checks.extend(replay(db).await?);
    if let Some((wins, leads, members)) = wins {
        checks.extend(check_wins(db, wins, leads, members).await?);
    }
    Ok(checks)
}

pub fn all_hold(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.violations == 0)
}

/// Leads whose state and owner disagree (the table's CHECK says they cannot; we look anyway).
const OWNER_MATCHES_STATE: &str = "SELECT count(*) FROM leads
     WHERE tenant_id = $1 AND (state = 'OWNED') <> (owner_id IS NOT NULL)";

/// Members whose held_count differs from the leads they own in that pool, plus owned leads
/// whose owner is no member of the lead's pool.
const HELD_COUNT_DRIFT: &str = "WITH owned AS (
         SELECT pool_id, owner_id, count(*) AS n FROM leads
         WHERE tenant_id = $1 AND owner_id IS NOT NULL GROUP BY pool_id, owner_id)
     SELECT (SELECT count(*) FROM members m
             LEFT JOIN owned o ON o.pool_id = m.pool_id AND o.owner_id = m.user_id
             WHERE m.tenant_id = $1 AND m.held_count <> COALESCE(o.n, 0))
          + (SELECT count(*) FROM owned o WHERE NOT EXISTS (
                 SELECT 1 FROM members m
                 WHERE m.tenant_id = $1 AND m.pool_id = o.pool_id AND m.user_id = o.owner_id))";

/// Members holding more than their cap (their own, else the pool's).
const OVER_CAP: &str = "SELECT count(*) FROM members m
     JOIN pools p ON p.tenant_id = m.tenant_id AND p.id = m.pool_id
     WHERE m.tenant_id = $1 AND m.held_count > COALESCE(m.max_held, p.max_held_per_member, 2147483647)";

async fn count(name: &'static str, sql: &str, db: &PgPool) -> Result<Check> {
    let violations: i64 = sqlx::query_scalar(sql).bind(TENANT).fetch_one(db).await?;
    Ok(Check { name, violations })
}

/// Replays each lead's events in order: every step must start from the owner the previous
/// step left (CREATED only first; CLAIMED, ASSIGNED, DISTRIBUTED and POOL_AGING from nobody;
/// RELEASED, RECYCLED, RECYCLE_WARNING, COVER_STARTED, COVER_ENDED, UPDATED, ESCALATED,
/// REROUTED and ACCEPTED from their `from_owner`),
/// and the last step must leave the lead's current owner (each event's `to_owner`); a lead
/// without events must be unowned. AWAY_STARTED and AWAY_ENDED name a user, not a lead.
const REPLAY: &str = "WITH steps AS (
         SELECT lead_id, kind, from_owner, to_owner AS owner_after,
                lag(to_owner) OVER (PARTITION BY lead_id ORDER BY seq) AS owner_before,
                row_number() OVER (PARTITION BY lead_id ORDER BY seq) AS n,
                count(*) OVER (PARTITION BY lead_id) AS total
         FROM lead_events WHERE tenant_id = $1 AND lead_id IS NOT NULL),
     last AS (SELECT lead_id, owner_after FROM steps WHERE n = total)
     SELECT (SELECT count(DISTINCT lead_id) FROM steps
             WHERE kind NOT IN ('CREATED', 'CLAIMED', 'ASSIGNED', 'DISTRIBUTED', 'RELEASED',
                                'RECYCLE_WARNING', 'RECYCLED', 'COVER_STARTED', 'COVER_ENDED',
                                'UPDATED', 'POOL_AGING', 'ESCALATED', 'REROUTED', 'ACCEPTED')
                OR (kind = 'CREATED' AND n <> 1)
                OR (kind IN ('CLAIMED', 'ASSIGNED', 'DISTRIBUTED', 'POOL_AGING')
                    AND owner_before IS NOT NULL)
                OR (kind IN ('RELEASED', 'RECYCLE_WARNING', 'RECYCLED', 'COVER_STARTED',
                             'COVER_ENDED', 'UPDATED', 'ESCALATED', 'REROUTED', 'ACCEPTED')
                    AND owner_before IS DISTINCT FROM from_owner)) AS bad_steps,
            (SELECT count(*) FROM leads l LEFT JOIN last ON last.lead_id = l.id
             WHERE l.tenant_id = $1 AND l.owner_id IS DISTINCT FROM last.owner_after) AS wrong_owner,
            (SELECT count(*) FROM last WHERE NOT EXISTS (
                 SELECT 1 FROM leads l WHERE l.tenant_id = $1 AND l.id = last.lead_id)) AS orphans";

async fn replay(db: &PgPool) -> Result<Vec<Check>> {
    let (bad_steps, wrong_owner, orphans): (i64, i64, i64) =
        sqlx::query_as(REPLAY).bind(TENANT).fetch_one(db).await?;
    Ok(vec![
        Check {
            name: "events replay step by step",
            violations: bad_steps,
        },
        Check {
            name: "events replay to the current owner",
            violations: wrong_owner,
        },
        Check {
            name: "no events of unknown leads",
            violations: orphans,
        },
    ])
}

/// What the clients saw against the tables: one CLAIMED event per lead won, every lead won by
/// exactly one member, and that member owns it now (no releases run during the phases).
async fn check_wins(
    db: &PgPool,
    wins: &Wins,
    leads: &[Uuid],
    members: &[String],
) -> Result<Vec<Check>> {
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM lead_events WHERE tenant_id = $1 AND kind = 'CLAIMED'",
    )
    .bind(TENANT)
    .fetch_one(db)
    .await?;
    let owners: HashMap<Uuid, String> = sqlx::query_as(
        "SELECT id, owner_id FROM leads WHERE tenant_id = $1 AND owner_id IS NOT NULL",
    )
    .bind(TENANT)
    .fetch_all(db)
    .await?
    .into_iter()
    .collect();
    let mut winner: HashMap<u32, u32> = HashMap::new();
    let mut two_winners = 0;
    let mut not_owner = 0;
    for &(lead, member) in &wins.0 {
        if *winner.entry(lead).or_insert(member) != member {
            two_winners += 1;
        }
        let owner = owners.get(&leads[lead as usize]);
        if owner != Some(&members[member as usize]) {
            not_owner += 1;
        }
    }
    let distinct = i64::try_from(wins.distinct_leads())?;
    Ok(vec![
        Check {
            name: "one CLAIMED event per lead won",
            violations: (events - distinct).abs(),
        },
        Check {
            name: "no lead won by two members",
            violations: two_winners,
        },
        Check {
            name: "each winner owns its lead",
            violations: not_owner,
        },
    ])
}
