//! `ListLeads`: one keyset page of the leads an actor may read.
//!
//! The only statement built at run time: eleven optional filters and eight orders would be
//! hundreds of fixed statements, and a fixed statement with `($n IS NULL OR …)` filters cannot
//! use the right index once PostgreSQL caches a generic plan. So the statement names only the
//! filters asked for. Its shape is covered by the listing tests, which run every filter and order.
//!
//! Whether it is prepared depends on its filters ([`plan_fits_any_values`]): planning costs more
//! than running a one-pool page (0.3–0.5 ms against 0.15 ms at 1M leads), so a statement whose best
//! plan is the same for any values is prepared and its plan reused; one whose best plan depends
//! on its values (how many leads a text, a tag or a time bound finds) runs unprepared
//! (`persistent(false)`), planned for its own values each time.

use sqlx::{PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{LeadRow, LeadView, views_of};
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::listing::{self, LeadFilter, LeadOrder, OrderKey, SortValue};

/// One page of a listing: its order, where it starts and how many rows to fetch.
#[derive(Debug, Clone)]
pub struct Page {
    pub order: LeadOrder,
    pub after: Option<(SortValue, Uuid)>,
    pub limit: i64,
}

/// The SQL of an order key, spelled exactly as in the indexes of the lead_listing migration so
/// the planner matches them: unset times become `infinity` and sort last.
fn key_sql(key: OrderKey) -> &'static str {
    match key {
        OrderKey::CreatedAt => "l.created_at",
        OrderKey::PoolEnteredAt => "COALESCE(l.pool_entered_at, 'infinity'::timestamptz)",
        OrderKey::FollowUpDeadline => "COALESCE(l.follow_up_deadline, 'infinity'::timestamptz)",
        OrderKey::Grade => "l.grade",
    }
}

#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id))]
pub async fn list(
    db: impl PgExecutor<'_>,
    actor: &Actor,
    filter: &LeadFilter,
    page: &Page,
) -> Result<Vec<LeadView>> {
    let rows = statement("", actor, filter, page)
        .build_query_as::<LeadRow>()
        .persistent(plan_fits_any_values(filter))
        .fetch_all(db)
        .await;
    views_of(rows)
}

/// Whether one plan serves a statement of this filter whatever its values: equality filters on
/// the pool, owner, grade, region and industry narrow an index the page is read in order of
/// (the state is written as a literal: each state is its own statement, since `IN_POOL` holds
/// most of a pool and `CONVERTED` a few of it). A text, a tag or a time bound can find a few
/// leads or most of them, and the plan that reads a few through an index and sorts them is the
/// wrong one for most: those are planned per call.
fn plan_fits_any_values(filter: &LeadFilter) -> bool {
    filter.tag.is_none()
        && filter.query.is_none()
        && filter.deadline_before.is_none()
        && filter.created_after.is_none()
        && filter.created_before.is_none()
}

/// The statement of [`list`] after `prefix` (the benchmark EXPLAINs it with an `EXPLAIN …`).
pub fn statement<'a>(
    prefix: &str,
    actor: &'a Actor,
    filter: &'a LeadFilter,
    page: &'a Page,
) -> QueryBuilder<'a, Postgres> {
    let mut q = QueryBuilder::<Postgres>::new(prefix);
    q.push(
        "SELECT l.*, m.role AS viewer_role, m.active AS viewer_active,
                p.mask_contacts AS pool_masks_contacts
         FROM leads l
         JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
         LEFT JOIN members m
           ON m.tenant_id = l.tenant_id AND m.pool_id = l.pool_id AND m.user_id = ",
    );
    q.push_bind(&actor.user_id);
    if filter.tag.is_some() || filter.query.is_some() {
        // The terms' GIN indexes live beside the lead, one row a lead
        // (migrations/20261207000000_lead_search.sql).
        q.push(" JOIN lead_search s ON s.tenant_id = l.tenant_id AND s.lead_id = l.id");
    }
    q.push(" WHERE l.tenant_id = ").push_bind(&actor.tenant_id);
    if !actor.reads_everything() {
        // Members read their pools; anyone reads the leads they own.
        q.push(" AND (m.user_id IS NOT NULL OR l.owner_id = ")
            .push_bind(&actor.user_id)
            .push(")");
    }
    push_filters(&mut q, filter);
    push_page(&mut q, page);
    q
}

fn push_filters<'a>(q: &mut QueryBuilder<'a, Postgres>, f: &'a LeadFilter) {
    if let Some(pool_id) = f.pool_id {
        q.push(" AND l.pool_id = ").push_bind(pool_id);
    }
    if let Some(owner_id) = &f.owner_id {
        q.push(" AND l.owner_id = ").push_bind(owner_id);
    }
    if let Some(state) = f.state {
        // A literal from the enum, not a parameter: see plan_fits_any_values.
        q.push(format_args!(" AND l.state = '{}'", state.as_str()));
    }
    for (column, value) in [
        ("l.grade", &f.grade),
        ("l.region", &f.region),
        ("l.industry", &f.industry),
    ] {
        if let Some(value) = value {
            q.push(format_args!(" AND {column} = ")).push_bind(value);
        }
    }
    if let Some(tag) = &f.tag {
        q.push(" AND s.tags @> ")
            .push_bind(std::slice::from_ref(tag));
    }
    if let Some(text) = &f.query {
        // The gram index finds every lead whose name or company could contain the text (in
        // Chinese too: migrations/20261205000001_search_grams.sql); push_contains keeps those
        // that do.
        q.push(" AND s.grams @> search_query_grams(")
            .push_bind(text)
            .push(")");
        push_contains(q, text);
    }
    if let Some(before) = f.deadline_before {
        // `owner_id IS NOT NULL` is the predicate of the partial deadline index.
        q.push(" AND l.owner_id IS NOT NULL AND LEAST(l.follow_up_deadline, l.close_deadline) < ")
            .push_bind(before);
    }
    if let Some(after) = f.created_after {
        q.push(" AND l.created_at >= ").push_bind(after);
    }
    if let Some(before) = f.created_before {
        q.push(" AND l.created_at < ").push_bind(before);
    }
}

/// Name or company contains `text`, case-insensitively. ILIKE lower-cases every row's name and
/// company (in a UTF-8 database) before matching; text that lower- and upper-cases to itself
/// (Chinese, digits) matches alike with LIKE, at about half the cost (bench `list`, 杭州: 540 →
/// 900 statements/s). PostgreSQL's own `lower` and `upper` decide, so the choice agrees with
/// ILIKE's folding; the statement is planned for its values, so the planner keeps one branch.
fn push_contains<'a>(q: &mut QueryBuilder<'a, Postgres>, text: &'a str) {
    let pattern = listing::contains_pattern(text);
    q.push(" AND CASE WHEN lower(").push_bind(text);
    q.push(") = ").push_bind(text);
    q.push(" AND upper(").push_bind(text);
    q.push(") = ").push_bind(text);
    for (branch, operator) in [("THEN", "LIKE"), ("ELSE", "ILIKE")] {
        q.push(format_args!(" {branch} l.name {operator} "))
            .push_bind(pattern.clone());
        q.push(format_args!(" OR l.company {operator} "))
            .push_bind(pattern.clone());
    }
    q.push(" END");
}

/// The keyset condition, the order and the limit.
fn push_page<'a>(q: &mut QueryBuilder<'a, Postgres>, page: &'a Page) {
    let key = key_sql(page.order.key);
    let (direction, beyond) = if page.order.descending {
        ("DESC", "<")
    } else {
        ("ASC", ">")
    };
    if let Some((value, id)) = &page.after {
        q.push(format_args!(" AND ({key}, l.id) {beyond} ("));
        match value {
            SortValue::Time(at) => {
                q.push("COALESCE(")
                    .push_bind(*at)
                    .push("::timestamptz, 'infinity'::timestamptz)");
            }
            SortValue::Text(text) => {
                q.push_bind(text).push("::text");
            }
        }
        q.push(", ").push_bind(*id).push(")");
    }
    q.push(format_args!(
        " ORDER BY {key} {direction}, l.id {direction} LIMIT "
    ))
    .push_bind(page.limit);
}
