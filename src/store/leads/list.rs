//! `ListLeads`: one keyset page of the leads an actor may read.
//!
//! The only statement built at run time: eleven optional filters and eight orders would be
//! hundreds of fixed statements, and a fixed statement with `($n IS NULL OR …)` filters cannot
//! use the right index once PostgreSQL caches a generic plan. So the statement names only the
//! filters asked for, and runs unprepared (`persistent(false)`) so each page is planned for its
//! own values. Its shape is covered by the listing tests, which run every filter and order.

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
        .persistent(false)
        .fetch_all(db)
        .await;
    views_of(rows)
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
        q.push(" AND l.state = ").push_bind(state.as_str());
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
        // Chinese too: migrations/20261205000001_search_grams.sql); ILIKE keeps those that do.
        let pattern = listing::contains_pattern(text);
        q.push(" AND s.grams @> search_query_grams(")
            .push_bind(text)
            .push(") AND (l.name ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR l.company ILIKE ")
            .push_bind(pattern)
            .push(")");
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
