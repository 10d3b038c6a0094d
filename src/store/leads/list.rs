//! `ListLeads`: one keyset page of the leads an actor may read.
//!
//! The only statements built at run time: eleven optional filters and eight orders would be
//! hundreds of fixed statements, and a fixed statement with `($n IS NULL OR …)` filters cannot
//! use the right index once PostgreSQL caches a generic plan. So a statement names only the
//! filters asked for. Their shapes are covered by the listing and search tests, which run every
//! filter and order, and text found in few leads and in many.
//!
//! How one is planned ([`Planning`]) depends on its filters ([`plan_fits_any_values`]): planning
//! costs more than running a one-pool page (0.3–0.5 ms against 0.15 ms at 1M leads), so a
//! statement whose best plan is the same for any values is prepared and its plan reused; one whose
//! best plan depends on its values (how many leads a text, a tag or a time bound finds) runs
//! unprepared (`persistent(false)`), planned for its own values each time.

mod search;

use sqlx::{Connection, PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{LeadRow, LeadView, views_of};
use crate::domain::Result;
use crate::domain::access::Actor;
use crate::domain::listing::{self, LeadFilter, LeadOrder, OrderKey, SortValue};
pub use search::{FEW_HITS, SearchEstimate, few_enough_to_sort, search_estimate};

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

/// One page: the listing's [`statements`] in turn, until one fails or fills the page.
/// `estimate`: the text query's [`SearchEstimate`] when the caller keeps one, else read here.
#[tracing::instrument(skip_all, fields(tenant_id = %actor.tenant_id))]
pub async fn list(
    db: &mut PgConnection,
    actor: &Actor,
    filter: &LeadFilter,
    page: &Page,
    estimate: Option<SearchEstimate>,
) -> Result<Vec<LeadView>> {
    let mut rows = Ok(Vec::new());
    let stages = statements(&mut *db, "", actor, filter, page, estimate).await?;
    for (mut stage, planning) in stages {
        rows = fetch(&mut *db, &mut stage, planning).await;
        if !matches!(&rows, Ok(found) if (found.len() as i64) < page.limit) {
            break;
        }
    }
    views_of(rows)
}

/// How a listing statement is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planning {
    /// Unprepared, for its own values at every call: its best plan depends on them.
    PerCall,
    /// Prepared: PostgreSQL keeps a generic plan once it costs no more than the calls' own.
    Reused,
    /// Prepared, its generic plan forced: the best plan is the same for any values, but
    /// PostgreSQL would plan every call, as its estimate for the call's values is always lower.
    Generic,
}

/// Only this transaction's statements take their generic plan; the connection's others do not.
const GENERIC_PLANS: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan";

/// A statement's rows, planned as `planning` says.
async fn fetch(
    db: &mut PgConnection,
    stage: &mut QueryBuilder<'_, Postgres>,
    planning: Planning,
) -> sqlx::Result<Vec<LeadRow>> {
    let query = stage.build_query_as::<LeadRow>();
    match planning {
        Planning::PerCall => query.persistent(false).fetch_all(db).await,
        Planning::Reused => query.fetch_all(db).await,
        Planning::Generic => {
            let mut tx = db.begin_with(GENERIC_PLANS).await?;
            let rows = query.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows)
        }
    }
}

/// Whether one plan serves a statement of this filter whatever its values: equality filters on
/// the pool, owner, grade, region and industry narrow an index the page is read in order of
/// (the state is written as a literal: each state is its own statement, since `IN_POOL` holds
/// most of a pool and `CONVERTED` a few of it). A tag or a time bound can find a few leads or
/// most of them, and the plan that reads a few through an index and sorts them is the wrong
/// one for most: those are planned per call. (So are a text query's gram searches.)
fn plan_fits_any_values(filter: &LeadFilter) -> bool {
    filter.tag.is_none()
        && filter.deadline_before.is_none()
        && filter.created_after.is_none()
        && filter.created_before.is_none()
}

/// [`Planning::Reused`] when [`plan_fits_any_values`], else [`Planning::PerCall`].
fn planning(filter: &LeadFilter) -> Planning {
    if plan_fits_any_values(filter) {
        Planning::Reused
    } else {
        Planning::PerCall
    }
}

/// The statements of [`list`] after `prefix` (the benchmark EXPLAINs them with an `EXPLAIN …`),
/// run in turn until one fills the page (the last answers with what it finds), each with
/// how it is planned. A text query's statements depend on how many leads it could find, its
/// `estimate` (read here when `None`; [`search::statements`]).
pub async fn statements<'a>(
    db: &mut PgConnection,
    prefix: &str,
    actor: &'a Actor,
    filter: &'a LeadFilter,
    page: &'a Page,
    estimate: Option<SearchEstimate>,
) -> Result<Vec<(QueryBuilder<'a, Postgres>, Planning)>> {
    let listing = Listing {
        actor,
        filter,
        page,
    };
    let Some(text) = &filter.query else {
        let mut q = QueryBuilder::new(prefix);
        listing.select(&mut q, Source::Leads, |_| {}, None, page.limit);
        return Ok(vec![(q, planning(filter))]);
    };
    search::statements(db, prefix, listing, text, estimate).await
}

/// One listing request: who asks, for which leads, which page.
#[derive(Clone, Copy)]
struct Listing<'a> {
    actor: &'a Actor,
    filter: &'a LeadFilter,
    page: &'a Page,
}

/// Where a SELECT reads its leads: `leads` in the index order the planner picks, or the leads
/// whose grams contain a text's, in creation order ([`search::push_sorted_hits`]).
enum Source<'a> {
    Leads,
    SortedHits(&'a str),
}

impl<'a> Listing<'a> {
    /// One SELECT of at most `limit` leads, of those the filter and `condition` (it pushes SQL)
    /// admit and, with `text`, whose name or company contains it.
    fn select(
        self,
        q: &mut QueryBuilder<'a, Postgres>,
        source: Source<'a>,
        condition: impl FnOnce(&mut QueryBuilder<'a, Postgres>),
        text: Option<&'a str>,
        limit: i64,
    ) {
        let Listing {
            actor,
            filter,
            page,
        } = self;
        q.push(
            "SELECT m.role AS viewer_role, m.active AS viewer_active,
                    p.mask_contacts AS pool_masks_contacts, l.* FROM ",
        );
        match source {
            Source::Leads => {
                q.push("leads l");
                if filter.tag.is_some() {
                    // The tags' GIN index lives beside the lead, one row a lead
                    // (migrations/20261207000000_lead_search.sql).
                    q.push(" JOIN lead_search s ON s.tenant_id = l.tenant_id AND s.lead_id = l.id");
                }
            }
            Source::SortedHits(text) => search::push_sorted_hits(q, self, text),
        }
        q.push(
            " JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
             LEFT JOIN members m
               ON m.tenant_id = l.tenant_id AND m.pool_id = l.pool_id AND m.user_id = ",
        );
        q.push_bind(&actor.user_id);
        q.push(" WHERE l.tenant_id = ").push_bind(&actor.tenant_id);
        if !actor.reads_everything() {
            // Members read their pools; anyone reads the leads they own.
            q.push(" AND (m.user_id IS NOT NULL OR l.owner_id = ")
                .push_bind(&actor.user_id)
                .push(")");
        }
        push_filters(q, filter);
        push_after(q, page);
        condition(q);
        if let Some(text) = text {
            q.push(" AND");
            push_contains(q, text);
        }
        push_order(q, page, limit);
    }
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

/// Name or company contains `text`, case-insensitively. Text that lower- and upper-cases to
/// itself (Chinese, digits) matches alike with LIKE, at about half the cost (bench `list`, 杭州:
/// 540 → 900 statements/s). Other text matches its lower case against each row's: what ILIKE
/// does in a UTF-8 database, but ILIKE lower-cases the pattern again for every row (pgbench over
/// 4,096 leads: 2.77 ms with ILIKE, 1.93 with the pattern lower-cased once). PostgreSQL's own
/// `lower` and `upper` decide, and the sub-selects run once even in a generic plan. ASCII text
/// with letters is [`push_contains_ascii`].
fn push_contains<'a>(q: &mut QueryBuilder<'a, Postgres>, text: &'a str) {
    let pattern = listing::contains_pattern(text);
    if text.is_ascii() && text.bytes().any(|b| b.is_ascii_alphabetic()) {
        return push_contains_ascii(q, pattern);
    }
    q.push(" CASE WHEN (SELECT lower(").push_bind(text);
    q.push(") = ").push_bind(text);
    q.push(" AND upper(").push_bind(text);
    q.push(") = ").push_bind(text);
    q.push(") THEN l.name LIKE ").push_bind(pattern.clone());
    q.push(" OR l.company LIKE ").push_bind(pattern.clone());
    q.push(" ELSE lower(l.name) LIKE (SELECT lower(")
        .push_bind(pattern.clone());
    q.push(")) OR lower(l.company) LIKE (SELECT lower(")
        .push_bind(pattern);
    q.push(")) END");
}

/// Name or company contains an ASCII `pattern` with letters, case-insensitively: each row's
/// text is lower-cased in the "C" collation, which folds only A–Z, byte by byte, instead of
/// converting every character for the locale's rules (the `arci` walk over 4,096 leads at 1M:
/// 7.2–9.1 ms → 3.0–5.4 ms). For an ASCII pattern the two agree but where the locale lowers
/// a non-ASCII letter to an ASCII one (the Kelvin sign to `k`).
fn push_contains_ascii<'a>(q: &mut QueryBuilder<'a, Postgres>, pattern: String) {
    let pattern = pattern.to_ascii_lowercase();
    q.push(r#" (lower(l.name COLLATE "C") LIKE "#)
        .push_bind(pattern.clone());
    q.push(r#" OR lower(l.company COLLATE "C") LIKE "#)
        .push_bind(pattern);
    q.push(")");
}

/// The keyset condition: the leads after the previous page's last.
fn push_after<'a>(q: &mut QueryBuilder<'a, Postgres>, page: &'a Page) {
    push_keyset(q, page, key_sql(page.order.key), "l.id");
}

/// `(key, id)` beyond the previous page's last, in the page's direction.
fn push_keyset<'a>(q: &mut QueryBuilder<'a, Postgres>, page: &'a Page, key: &str, id: &str) {
    let Some((value, last_id)) = &page.after else {
        return;
    };
    let beyond = if page.order.descending { "<" } else { ">" };
    q.push(format_args!(" AND ({key}, {id}) {beyond} ("));
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
    q.push(", ").push_bind(*last_id).push(")");
}

/// The page's order, and a limit.
///
/// The limit is written into the statement, not bound: a prepared statement's generic plan
/// cannot see a bound limit and costs it as a tenth of the rows, so PostgreSQL judged it worse
/// than a plan for the call's own values and planned every call anew (0.5–1 ms at 1M leads, more
/// than a page's execution). With the limit written, the generic plan costs the same and is
/// reused after the fifth call on a connection. Page sizes are few, so the statements are too.
fn push_order(q: &mut QueryBuilder<'_, Postgres>, page: &Page, limit: i64) {
    let key = key_sql(page.order.key);
    let direction = if page.order.descending { "DESC" } else { "ASC" };
    q.push(format_args!(
        " ORDER BY {key} {direction}, l.id {direction} LIMIT {limit}"
    ));
}
