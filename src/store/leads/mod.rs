//! Leads and the ownership changes of claim and release. Each change is one statement that
//! checks its rules, keeps the owner's held count in step and appends its event, so it is
//! atomic without an explicit transaction and correct under any concurrency.

pub mod acceptance;
pub mod batch;
pub mod edit;
pub mod follow_ups;
pub mod import;
pub mod lifecycle;
pub mod list;
mod snapshots;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::lead::{
    AcquiredVia, Lead, LeadState, NewLead, ReleaseReason, normalize_email, normalize_phone,
};
use crate::domain::member::Membership;
use crate::store::db_error;

pub use snapshots::{
    claim_snapshot, claim_snapshots, claimant, first_embargoed, release_snapshot, standing,
};

pub use crate::domain::lead::LeadView;

/// Every column of `leads`, the reader's membership of its pool (NULL where the statement has no
/// reader) and whether the pool masks contacts.
#[derive(sqlx::FromRow)]
struct LeadRow {
    #[allow(dead_code)] // selected by `l.*`; tenant scoping happens in the WHERE clauses
    tenant_id: String,
    id: Uuid,
    pool_id: Uuid,
    external_ref: Option<String>,
    name: String,
    company: String,
    phone: String,
    email: String,
    source: String,
    region: String,
    industry: String,
    grade: String,
    tags: Vec<String>,
    attributes: serde_json::Value,
    state: String,
    owner_id: Option<String>,
    acquired_at: Option<DateTime<Utc>>,
    acquired_via: Option<String>,
    last_follow_up_at: Option<DateTime<Utc>>,
    follow_up_deadline: Option<DateTime<Utc>>,
    close_deadline: Option<DateTime<Utc>>,
    locked: bool,
    previous_owner_id: Option<String>,
    cooldown_until: Option<DateTime<Utc>>,
    pool_entered_at: Option<DateTime<Utc>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[allow(dead_code)] // duplicate detection reads it in SQL only
    phone_normalized: String,
    #[allow(dead_code)] // duplicate detection reads it in SQL only
    email_normalized: String,
    duplicate_of: Option<Uuid>,
    #[allow(dead_code)] // the recycle scheduler's bookkeeping, read in SQL only
    warned_deadline: Option<DateTime<Utc>>,
    #[allow(dead_code)] // the recycle scheduler's bookkeeping, read in SQL only
    warned_owner: Option<String>,
    #[allow(dead_code)] // the recycle scheduler's bookkeeping, read in SQL only
    warned_recycle_at: Option<DateTime<Utc>>,
    covered_owner_id: Option<String>,
    #[allow(dead_code)] // the aging sweep's bookkeeping, read in SQL only
    aging_alerted_entry: Option<DateTime<Utc>>,
    accept_deadline: Option<DateTime<Utc>>,
    #[allow(dead_code)] // the reroute sweep's bookkeeping, read in SQL only
    accept_chain: Vec<String>,
    viewer_role: Option<String>,
    viewer_active: Option<bool>,
    pool_masks_contacts: bool,
}

impl TryFrom<LeadRow> for LeadView {
    type Error = DomainError;

    fn try_from(row: LeadRow) -> Result<Self> {
        let viewer = row
            .viewer_role
            .zip(row.viewer_active)
            .map(|(role, active)| Membership::stored(&role, active))
            .transpose()?;
        let attributes: BTreeMap<String, String> =
            serde_json::from_value(row.attributes).map_err(DomainError::internal_from)?;
        let lead = Lead {
            id: row.id,
            pool_id: row.pool_id,
            external_ref: row.external_ref,
            name: row.name,
            company: row.company,
            phone: row.phone,
            email: row.email,
            source: row.source,
            region: row.region,
            industry: row.industry,
            grade: row.grade,
            tags: row.tags,
            attributes,
            state: LeadState::try_from(row.state.as_str())?,
            owner_id: row.owner_id,
            acquired_at: row.acquired_at,
            acquired_via: row
                .acquired_via
                .as_deref()
                .map(AcquiredVia::try_from)
                .transpose()?,
            last_follow_up_at: row.last_follow_up_at,
            follow_up_deadline: row.follow_up_deadline,
            close_deadline: row.close_deadline,
            locked: row.locked,
            previous_owner_id: row.previous_owner_id,
            cooldown_until: row.cooldown_until,
            pool_entered_at: row.pool_entered_at,
            duplicate_of: row.duplicate_of,
            covered_owner_id: row.covered_owner_id,
            accept_deadline: row.accept_deadline,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        };
        Ok(Self {
            lead,
            viewer,
            pool_masks_contacts: row.pool_masks_contacts,
        })
    }
}

/// The lead a single-row statement returned, as its reader sees it; `None` when no row matched
/// (the statement's precondition did not hold).
fn view_of(row: Result<Option<LeadRow>, sqlx::Error>) -> Result<Option<LeadView>> {
    row.map_err(db_error)?.map(LeadView::try_from).transpose()
}

/// The leads a statement returned, each as its reader sees it.
fn views_of(rows: Result<Vec<LeadRow>, sqlx::Error>) -> Result<Vec<LeadView>> {
    rows.map_err(db_error)?
        .into_iter()
        .map(LeadView::try_from)
        .collect()
}

/// What a create asks for, validated.
#[derive(Debug, Clone)]
pub struct CreateLead<'a> {
    pub pool_id: Uuid,
    pub lead: &'a NewLead,
    pub owner_id: Option<&'a str>,
    pub request_id: Option<Uuid>,
    /// Keep a lead whose phone or e-mail a live lead has, recording it as `duplicate_of`.
    pub allow_duplicate: bool,
}

/// Creates the lead and its `CREATED` event. With an owner, the owner must be an active member
/// within their cap, checked and counted in the same statement. `None`: the owner was refused.
/// The lead comes back as its creator reads it: with their membership of the pool, as every read.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, pool_id = %create.pool_id))]
pub async fn create(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    create: &CreateLead<'_>,
    now: DateTime<Utc>,
) -> Result<Option<LeadView>> {
    let lead = create.lead;
    let attributes = serde_json::to_value(&lead.attributes).map_err(DomainError::internal_from)?;
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH duplicate AS (
               SELECT found.id
               FROM (SELECT live_lead_with_contact($1, $19, $20) AS id) found
               WHERE found.id IS NOT NULL
           ),
           admitted AS (SELECT 1 AS ok WHERE $21 OR NOT EXISTS (SELECT 1 FROM duplicate)),
           counted AS (
               UPDATE members m SET held_count = m.held_count + 1, updated_at = $5
               FROM pools p, admitted
               WHERE m.tenant_id = $1 AND m.pool_id = $2 AND m.user_id = $4 AND m.active
                 AND p.tenant_id = $1 AND p.id = $2
                 AND m.held_count < COALESCE(m.max_held, p.max_held_per_member, 2147483647)
               RETURNING m.user_id
           ),
           gate AS (
               SELECT 1 AS ok FROM admitted
               WHERE $4::text IS NULL OR EXISTS (SELECT 1 FROM counted)
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, to_owner, actor,
                                        occurred_at, request_id)
               SELECT $1, $3, $2, 'CREATED', $4, $6, $5, $7 FROM gate
           )
           INSERT INTO leads (tenant_id, id, pool_id, external_ref, name, company, phone, email,
                              source, region, industry, grade, tags, attributes, state, owner_id,
                              acquired_at, acquired_via, follow_up_deadline, close_deadline,
                              pool_entered_at, phone_normalized, email_normalized, duplicate_of,
                              created_at, updated_at)
           SELECT $1, $3, $2, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                  CASE WHEN $4::text IS NULL THEN 'IN_POOL' ELSE 'OWNED' END, $4,
                  CASE WHEN $4::text IS NULL THEN NULL ELSE $5::timestamptz END,
                  CASE WHEN $4::text IS NULL THEN NULL ELSE 'CREATE' END,
                  CASE WHEN $4::text IS NULL THEN NULL ELSE follow_up_deadline(p, $16, $5) END,
                  CASE WHEN $4::text IS NULL THEN NULL ELSE close_deadline(p, $16, $5) END,
                  CASE WHEN $4::text IS NULL THEN $5::timestamptz END,
                  $19, $20, (SELECT id FROM duplicate), $5, $5
           FROM gate, pools p
           WHERE p.tenant_id = $1 AND p.id = $2
           RETURNING (SELECT v.role FROM members v
                      WHERE v.tenant_id = $1 AND v.pool_id = $2 AND v.user_id = $6)
                         AS "viewer_role?",
                     (SELECT v.active FROM members v
                      WHERE v.tenant_id = $1 AND v.pool_id = $2 AND v.user_id = $6)
                         AS "viewer_active?",
                     (SELECT p.mask_contacts FROM pools p WHERE p.tenant_id = $1 AND p.id = $2)
                         AS "pool_masks_contacts!", *"#,
        actor.tenant_id,
        create.pool_id,
        Uuid::now_v7(),
        create.owner_id,
        now,
        actor.user_id,
        create.request_id,
        lead.external_ref,
        lead.name,
        lead.company,
        lead.phone,
        lead.email,
        lead.source,
        lead.region,
        lead.industry,
        lead.grade,
        &lead.tags,
        attributes,
        normalize_phone(&lead.phone),
        normalize_email(&lead.email),
        create.allow_duplicate,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}

/// The live lead this phone or e-mail duplicates, if any (`live_lead_with_contact`).
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn find_duplicate(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    phone: &str,
    email: &str,
) -> Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT live_lead_with_contact($1, $2, $3)",
        tenant_id,
        normalize_phone(phone),
        normalize_email(email),
    )
    .fetch_one(db)
    .await
    .map_err(db_error)
}

/// The lead of the tenant with this `external_ref`, if any.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn find_by_external_ref(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    external_ref: &str,
) -> Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "SELECT id FROM leads WHERE tenant_id = $1 AND external_ref = $2",
        tenant_id,
        external_ref,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)
}

/// One lead with the reader's membership of its pool; `LEAD_NOT_FOUND` for unknown or foreign ids.
pub async fn get(db: impl PgExecutor<'_>, actor: &Actor, lead_id: Uuid) -> Result<LeadView> {
    get_many(db, actor, &[lead_id])
        .await?
        .pop()
        .ok_or(DomainError::LeadNotFound(lead_id))
}

/// The actor's tenant's leads among `lead_ids` (unknown and foreign ids left out), each with the
/// reader's membership of its pool, in no particular order.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, leads = lead_ids.len()))]
pub async fn get_many(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    lead_ids: &[Uuid],
) -> Result<Vec<LeadView>> {
    let rows = sqlx::query_as!(
        LeadRow,
        r#"SELECT m.role AS "viewer_role?", m.active AS "viewer_active?",
                  p.mask_contacts AS pool_masks_contacts, l.*
           FROM leads l
           JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
           LEFT JOIN members m
             ON m.tenant_id = l.tenant_id AND m.pool_id = l.pool_id AND m.user_id = $3
           WHERE l.tenant_id = $1 AND l.id = ANY($2)"#,
        actor.tenant_id,
        lead_ids,
        actor.user_id,
    )
    .fetch_all(db)
    .await;
    views_of(rows)
}

/// Which lead a claim takes: a given one, or the pool's best the actor may claim now.
#[derive(Debug, Clone, Copy)]
pub enum ClaimTarget<'a> {
    Lead(Uuid),
    /// `ClaimNext`: by the pool's `pull_order`, then the longest in the pool, of the region and
    /// industry when given, passing over leads other transactions hold (`next_claimable`).
    Next {
        pool_id: Uuid,
        region: Option<&'a str>,
        industry: Option<&'a str>,
    },
}

/// Claims a pool lead for the actor in one statement. The lead row is locked first (so two
/// claimers serialise on it; `ClaimNext`'s pick skips rows others hold instead) and must be in
/// the pool, unlocked, out of the actor's cooldown and embargo;
/// then the actor's member row changes only if they are active, below their cap and within
/// today's quota (held count and quota live on that one row, so one conditional UPDATE spends
/// both atomically); only then does the lead change owner, with its deadlines, and the event
/// get written. `None`: nothing changed; [`claim_snapshot`] explains why.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, ?target))]
pub async fn claim(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    target: ClaimTarget<'_>,
    request_id: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<Option<LeadView>> {
    let (lead_id, pool_id, region, industry) = match target {
        ClaimTarget::Lead(lead_id) => (Some(lead_id), None, None, None),
        ClaimTarget::Next {
            pool_id,
            region,
            industry,
        } => (None, Some(pool_id), region, industry),
    };
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH target AS (
               SELECT l.id, l.pool_id, l.pool_entered_at FROM leads l
               WHERE l.tenant_id = $1
                 AND l.id = (SELECT COALESCE($2::uuid,
                                             next_claimable($1, $6::uuid, $3, $4, $7, $8)))
                 AND l.state = 'IN_POOL' AND NOT l.locked
                 AND (l.cooldown_until IS NULL OR l.cooldown_until <= $4
                      OR l.previous_owner_id IS DISTINCT FROM $3)
               FOR UPDATE
           ),
           counted AS (
               UPDATE members m
               SET held_count = m.held_count + 1,
                   claims_today = CASE WHEN m.claims_day = ($4 AT TIME ZONE p.timezone)::date
                                       THEN m.claims_today + 1 ELSE 1 END,
                   claims_day = ($4 AT TIME ZONE p.timezone)::date,
                   updated_at = $4
               FROM target t JOIN pools p ON p.tenant_id = $1 AND p.id = t.pool_id
               WHERE m.tenant_id = $1 AND m.pool_id = t.pool_id AND m.user_id = $3 AND m.active
                 AND p.archived_at IS NULL
                 AND (p.new_lead_embargo_seconds IS NULL
                      OR embargo_ends(p, t.pool_entered_at) <= $4)
                 AND m.held_count < COALESCE(m.max_held, p.max_held_per_member, 2147483647)
                 AND (p.daily_claim_limit IS NULL
                      OR CASE WHEN m.claims_day = ($4 AT TIME ZONE p.timezone)::date
                              THEN m.claims_today ELSE 0 END < p.daily_claim_limit)
               RETURNING m.pool_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, to_owner, actor,
                                        occurred_at, request_id)
               SELECT $1, t.id, c.pool_id, 'CLAIMED', $3, $3, $4, $5 FROM counted c, target t
           )
           UPDATE leads l
           SET state = 'OWNED', owner_id = $3, acquired_at = $4, acquired_via = 'CLAIM',
               follow_up_deadline = follow_up_deadline(p, l.grade, $4),
               close_deadline = close_deadline(p, l.grade, $4),
               cooldown_until = NULL, version = l.version + 1, updated_at = $4
           FROM counted c JOIN pools p ON p.tenant_id = $1 AND p.id = c.pool_id, target t
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING NULL::text AS "viewer_role?", NULL::boolean AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        lead_id,
        actor.user_id,
        now,
        request_id,
        pool_id,
        region,
        industry,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}

/// One release, validated.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    pub lead_id: Uuid,
    pub reason: &'a ReleaseReason,
    /// The pool the caller named instead of the pool's `recycle_to_pool_id`.
    pub to_pool_id: Option<Uuid>,
    pub request_id: Option<Uuid>,
    pub now: DateTime<Utc>,
}

/// Releases an owned, unlocked lead in one statement, if the actor is its owner or manages its
/// pool and the reason is one the pool allows. The lead goes to the named pool if its owner is an
/// active member of it, else to the pool's `recycle_to_pool_id` while that pool is live (else
/// stays in its pool), with the ex-owner's cooldown; the ex-owner's held count drops and the
/// `RELEASED` event is written with it. `None`: nothing changed; [`release_snapshot`] explains
/// why.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id, lead_id = %release.lead_id))]
pub async fn release(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    release: &Release<'_>,
) -> Result<Option<LeadView>> {
    let row = sqlx::query_as!(
        LeadRow,
        r#"WITH target AS (
               SELECT l.id, l.pool_id, l.owner_id,
                      COALESCE($9, recycle_destination(p)) AS destination,
                      $5::timestamptz + make_interval(secs => p.reclaim_cooldown_seconds)
                          AS cooldown_until
               FROM leads l JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
               WHERE l.tenant_id = $1 AND l.id = $2 AND l.state = 'OWNED' AND NOT l.locked
                 AND (cardinality(p.release_reasons) = 0 OR $6 = ANY (p.release_reasons))
                 AND (l.owner_id = $3 OR $4::boolean OR EXISTS (
                       SELECT 1 FROM members m
                       WHERE m.tenant_id = $1 AND m.pool_id = l.pool_id AND m.user_id = $3
                         AND m.role = 'MANAGER' AND m.active))
                 AND owner_may_use(l.tenant_id, l.pool_id, l.owner_id, $9)
               FOR UPDATE OF l
           ),
           uncounted AS (
               UPDATE members m SET held_count = m.held_count - 1, updated_at = $5
               FROM target t
               WHERE m.tenant_id = $1 AND m.pool_id = t.pool_id AND m.user_id = t.owner_id
           ),
           event AS (
               INSERT INTO lead_events (tenant_id, lead_id, pool_id, to_pool_id, kind, from_owner,
                                        actor, reason, note, occurred_at, request_id)
               SELECT $1, t.id, t.pool_id, NULLIF(t.destination, t.pool_id), 'RELEASED',
                      t.owner_id, $3, $6, $7, $5, $8
               FROM target t
           )
           UPDATE leads l
           SET state = 'IN_POOL', owner_id = NULL, previous_owner_id = t.owner_id,
               pool_id = t.destination, cooldown_until = t.cooldown_until,
               acquired_at = NULL, acquired_via = NULL, follow_up_deadline = NULL,
               close_deadline = NULL, pool_entered_at = $5, version = l.version + 1,
               updated_at = $5
           FROM target t
           JOIN pools p ON p.tenant_id = $1 AND p.id = t.destination
           LEFT JOIN members v ON v.tenant_id = $1 AND v.pool_id = t.destination AND v.user_id = $3
           WHERE l.tenant_id = $1 AND l.id = t.id
           RETURNING v.role AS "viewer_role?", v.active AS "viewer_active?",
                     p.mask_contacts AS pool_masks_contacts, l.*"#,
        actor.tenant_id,
        release.lead_id,
        actor.user_id,
        actor.roles.admin,
        release.now,
        release.reason.reason,
        release.reason.note,
        release.request_id,
        release.to_pool_id,
    )
    .fetch_optional(db)
    .await;
    view_of(row)
}
