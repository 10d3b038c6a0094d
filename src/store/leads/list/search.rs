//! A listing with a text query (`ListLeads.query`): the leads whose name or company contains it.
//!
//! The gram index (migrations/20261205000001_search_grams.sql) finds every lead that could
//! contain the text, in no order; the page wants the first few in the listing's order. Which
//! way is cheaper depends on how many leads the grams find, and PostgreSQL misjudges that for a
//! text of several grams (it takes them as independent: `arci` estimated 249 leads, found
//! 13,764 of 1M). So the listing asks first ([`search_estimate`]: the estimate for the text's
//! least frequent gram, an upper bound; the service keeps it a minute), then runs one of three
//! shapes, measured at 1M leads (bench `list`):
//! - Few ([`few_enough_to_sort`]): the matches are sorted in `lead_search` by creation time and
//!   a page of them fetched ([`push_sorted_hits`]; 司马, 500 leads: 1.8 ms a call against ~5 ms
//!   fetching all 500).
//! - Many: the page's order is walked, each lead checked for the text ([`push_walk`]; 杭州,
//!   5% of leads: ~1,000 read for a page of 51).
//! - Between, or a walk that ran out: the gram index is counted up to [`FEW_HITS`] and the
//!   statement fetches those or walks on, whichever the count says ([`push_probe`]).

use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::{Listing, Planning, Source, push_contains, push_keyset, push_order};
use crate::domain::Result;
use crate::domain::listing::OrderKey;
use crate::store::db_error;

/// Whether a text's matches are few enough to sort: `hits` of the tenant's `leads` by the
/// estimate. Sorting reads every match from `lead_search` (~2 µs each); a walk of the order reads
/// about `page × leads ÷ hits` leads (~1 µs each). For a page of 50 the two cost the same at
/// `hits ≈ 5 × √leads`: 5,000 of 1M leads, 700 of 20,000.
pub fn few_enough_to_sort(hits: i64, leads: i64) -> bool {
    hits as f64 <= 5.0 * (leads.max(0) as f64).sqrt()
}

/// How many leads a text query's walk reads in the page's order. A page of 51 is found within
/// them when more than 1.3% of the leads read contain the text (at 1M leads: 杭州, 王, Gar and
/// arci of bench `list`, each within 4,000 leads). Reading one costs ~0.25 µs with LIKE, ~0.5 µs
/// when its name and company are lower-cased (pgbench at 1M leads), so a walk that runs out
/// loses 1–2 ms.
const WALK_LEADS: i64 = 4_096;

/// How many leads the gram index may find for a text query before the probe stops reading
/// them and walks the page's order instead. Fetching and sorting every lead the grams find
/// costs ~10 µs a lead; walking the order index ~1 µs a lead read, reading about
/// `page size × leads ÷ matches`. Below ~2,000 matches the first is cheaper; above, the second.
pub const FEW_HITS: u32 = 2_000;

/// The statements of a listing with `text`, in the order they run (see the module's comment),
/// chosen by the text's `estimate` (read here when the caller has none).
pub(super) async fn statements<'a>(
    db: &mut PgConnection,
    prefix: &str,
    listing: Listing<'a>,
    text: &'a str,
    estimate: Option<SearchEstimate>,
) -> Result<Vec<(QueryBuilder<'a, Postgres>, Planning)>> {
    let builder = || QueryBuilder::<Postgres>::new(prefix);
    let SearchEstimate { hits, leads } = match estimate {
        Some(known) => known,
        None => search_estimate(db, &listing.actor.tenant_id, text).await?,
    };
    let rare = hits.is_some_and(|hits| few_enough_to_sort(hits, leads));
    let filter = listing.filter;
    if rare && listing.page.order.key == OrderKey::CreatedAt {
        let mut q = builder();
        let limit = listing.page.limit;
        listing.select(&mut q, Source::SortedHits(text), |_| {}, Some(text), limit);
        // Its plan is the same whatever the text: few hits, sorted, each joined to its lead.
        // Planned per call it cost 1.3 ms to plan and 0.4 to parse for 2.8 ms to run (司马 at 1M
        // leads; 诸葛, which finds none, 0.25 ms to run).
        return Ok(vec![(q, Planning::Generic)]);
    }
    let mut probe = builder();
    push_probe(&mut probe, listing, text);
    // A walk needs an index in the page's order: within a pool or an owner's leads.
    let ordered = filter.pool_id.is_some() || filter.owner_id.is_some();
    if rare || !ordered || filter.tag.is_some() {
        return Ok(vec![(probe, Planning::PerCall)]);
    }
    let mut walk = builder();
    push_walk(&mut walk, listing, text);
    Ok(vec![
        (walk, super::planning(filter)),
        (probe, Planning::PerCall),
    ])
}

/// What the planner's statistics say of a text query, which decides how it is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchEstimate {
    /// How many of the tenant's leads hold the text's least frequent gram (`None` for a text
    /// without a gram: every lead's grams hold it).
    pub hits: Option<i64>,
    /// How many leads the tenant has.
    pub leads: i64,
}

/// The planner's [`SearchEstimate`] of `text` among the tenant's leads: from the statistics,
/// without touching the index (one `EXPLAIN` for the tenant and one per gram, at most 8).
pub async fn search_estimate(
    db: &mut PgConnection,
    tenant_id: &str,
    text: &str,
) -> Result<SearchEstimate> {
    let estimate = sqlx::query!(
        r#"SELECT hits, leads AS "leads!" FROM search_hits_estimate($1, $2)"#,
        tenant_id,
        text
    )
    .fetch_one(db)
    .await
    .map_err(db_error)?;
    Ok(SearchEstimate {
        hits: estimate.hits,
        leads: estimate.leads,
    })
}

/// Few matches: the leads whose grams hold the text's, sorted by creation time in
/// `lead_search`, each page's leads then fetched from `leads` in that order until the page is
/// full (the join on `created_at` tells the planner both orders are one). Creation order only:
/// the other order keys change and are not kept beside the grams.
pub(super) fn push_sorted_hits<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    listing: Listing<'a>,
    text: &'a str,
) {
    let Listing { actor, page, .. } = listing;
    let direction = if page.order.descending { "DESC" } else { "ASC" };
    q.push("(SELECT s.lead_id, s.created_at, s.tags FROM lead_search s WHERE s.tenant_id = ")
        .push_bind(&actor.tenant_id)
        .push(" AND s.grams @> search_query_grams(")
        .push_bind(text)
        .push(")");
    push_keyset(q, page, "s.created_at", "s.lead_id");
    q.push(format_args!(
        " ORDER BY s.created_at {direction}, s.lead_id {direction}) s \
         JOIN leads l ON l.tenant_id = "
    ))
    .push_bind(&actor.tenant_id)
    .push(" AND l.id = s.lead_id AND l.created_at = s.created_at");
}

/// The first page of matches among the first `WALK_LEADS` leads of the page's order: a full page
/// is the page, since every later lead sorts after them. No gram is read: the order's index is
/// walked, reading only what the text is matched against, and the page's leads are then read
/// whole (at 1M leads, 杭州: 1.35 ms a call against 1.85 when every lead walked is read whole).
/// The plan is the order's index whatever the text, so it is prepared like an equality listing.
fn push_walk<'a>(q: &mut QueryBuilder<'a, Postgres>, listing: Listing<'a>, text: &'a str) {
    let Listing {
        actor,
        filter,
        page,
    } = listing;
    let walked = |q: &mut QueryBuilder<'a, Postgres>| {
        q.push(
            " AND l.id IN (SELECT l.id FROM (SELECT l.id, l.name, l.company, l.created_at, \
             l.pool_entered_at, l.follow_up_deadline, l.grade FROM leads l WHERE l.tenant_id = ",
        )
        .push_bind(&actor.tenant_id);
        super::push_filters(q, filter);
        super::push_after(q, page);
        push_order(q, page, WALK_LEADS);
        q.push(") l WHERE");
        push_contains(q, text);
        push_order(q, page, page.limit);
        q.push(")");
    };
    listing.select(q, Source::Leads, walked, None, page.limit);
}

/// The statement counts: the first `FEW_HITS + 1` leads the gram index finds are read, and one
/// of two branches runs, the other cut off by its one-time filter. Few hits: those leads are
/// fetched and sorted. Many: the page's order index is walked, each lead checked for the text,
/// until the page is full.
fn push_probe<'a>(q: &mut QueryBuilder<'a, Postgres>, listing: Listing<'a>, text: &'a str) {
    let limit = listing.page.limit;
    q.push("WITH hits AS MATERIALIZED (SELECT s.lead_id FROM lead_search s WHERE s.tenant_id = ")
        .push_bind(&listing.actor.tenant_id)
        .push(" AND s.grams @> search_query_grams(")
        .push_bind(text)
        .push(format_args!(
            ") LIMIT {}), few AS (SELECT count(*) <= {FEW_HITS} AS yes FROM hits) \
             SELECT * FROM ((",
            FEW_HITS + 1
        ));
    let fetch_hits = |q: &mut QueryBuilder<'a, Postgres>| {
        q.push(" AND (SELECT yes FROM few) AND l.id IN (SELECT lead_id FROM hits)");
    };
    listing.select(q, Source::Leads, fetch_hits, Some(text), limit);
    q.push(") UNION ALL (");
    let walk = |q: &mut QueryBuilder<'a, Postgres>| {
        q.push(" AND NOT (SELECT yes FROM few)");
    };
    listing.select(q, Source::Leads, walk, Some(text), limit);
    // The branches are each ordered; the page is ordered again, over the few rows they return.
    q.push(")) l");
    push_order(q, listing.page, limit);
}
