-- A text query found in few leads reads them in the listing's default order (issue 19). A
-- rare name (司马: 500 of 1M leads) used to fetch every lead the gram index found from `leads`,
-- then sort them, to return the first 50 (4,000 buffers, ~5 ms). With each lead's creation time
-- beside its grams, the matches are sorted in `lead_search` and only a page of them is fetched.
-- A lead's `created_at` never changes, so only the insert trigger writes it.
ALTER TABLE lead_search ADD COLUMN created_at timestamptz;

UPDATE lead_search s SET created_at = l.created_at
FROM leads l
WHERE l.tenant_id = s.tenant_id AND l.id = s.lead_id;

ALTER TABLE lead_search ALTER COLUMN created_at SET NOT NULL;

CREATE OR REPLACE FUNCTION leads_index_new_search() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lead_search (tenant_id, lead_id, grams, tags, created_at)
    SELECT n.tenant_id, n.id, lead_search_grams(n.name, n.company), n.tags, n.created_at
    FROM new_leads n;
    RETURN NULL;
END
$$;

-- How many of a tenant's leads the gram index would find for `q` (`hits`), as the planner
-- estimates it for the query's least frequent gram: an upper bound of the leads containing `q`,
-- read from the statistics without touching the index (the planner's estimate for all the grams
-- at once takes them as independent, and they are not: `arci` was estimated at 249 leads and
-- found 13,764); NULL for a query without a gram. And how many leads the tenant has (`leads`).
-- ListLeads decides by them whether to sort the matches or walk the page's order
-- (store/leads/list/search.rs). At most 8 of a long text's grams are asked about (each costs a
-- plan, ~50 µs): the least of some is still an upper bound. Volatile, the default: PostgreSQL
-- runs EXPLAIN only in a volatile function.
CREATE FUNCTION search_hits_estimate(tenant text, q text, OUT hits bigint, OUT leads bigint)
LANGUAGE plpgsql AS $$
DECLARE
    gram text;
    plan json;
BEGIN
    EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM lead_search WHERE tenant_id = %L',
                   tenant)
        INTO plan;
    leads := (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint;
    FOR gram IN SELECT DISTINCT g FROM unnest(search_query_grams(q)) AS g LIMIT 8 LOOP
        EXECUTE format('EXPLAIN (FORMAT JSON) SELECT 1 FROM lead_search
                        WHERE tenant_id = %L AND grams @> ARRAY[%L]', tenant, gram)
            INTO plan;
        hits := LEAST(hits, (plan -> 0 -> 'Plan' ->> 'Plan Rows')::bigint);
    END LOOP;
END
$$;

ANALYZE lead_search;
