-- A lead's search terms in a table of their own (issue 19): the GIN indexes over the grams of
-- name and company and over the tags move off `leads`. Every claim, release, recycle and
-- distribution changes indexed ownership columns of `leads`, so it is a non-HOT update that
-- writes a new entry into every index of the table: each of them added ~30 GIN entries (the
-- grams) and the tags' entry, for terms that had not changed. Measured with pgbench replaying
-- the service's claim statement on 200,000 leads: 1,833–2,180 claims/s with both GIN indexes
-- on `leads`, 2,878 without the grams', 3,296 without either.
--
-- A trigger keeps the terms in step with the lead, whichever binary writes it (during a rolling
-- update the previous release still inserts leads) and whatever the statement (create, import,
-- edit, merges): it fires on insert and on an update that names name, company or tags, which no
-- ownership change does. Row-level, so Citus can run it on the tenant's node (lead_search is
-- distributed by tenant_id beside leads; docs/scaling.md).
CREATE TABLE lead_search (
    tenant_id text   NOT NULL,
    lead_id   uuid   NOT NULL,
    -- lead_search_grams(name, company): what ListLeads' text query matches against.
    grams     text[] NOT NULL,
    tags      text[] NOT NULL,
    PRIMARY KEY (tenant_id, lead_id),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id) ON DELETE CASCADE
);

CREATE FUNCTION leads_index_search() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.name IS DISTINCT FROM OLD.name
       OR NEW.company IS DISTINCT FROM OLD.company OR NEW.tags IS DISTINCT FROM OLD.tags THEN
        INSERT INTO lead_search (tenant_id, lead_id, grams, tags)
        VALUES (NEW.tenant_id, NEW.id, lead_search_grams(NEW.name, NEW.company), NEW.tags)
        ON CONFLICT (tenant_id, lead_id)
            DO UPDATE SET grams = EXCLUDED.grams, tags = EXCLUDED.tags;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER leads_index_search
    AFTER INSERT OR UPDATE OF name, company, tags ON leads
    FOR EACH ROW EXECUTE FUNCTION leads_index_search();

INSERT INTO lead_search (tenant_id, lead_id, grams, tags)
SELECT tenant_id, id, lead_search_grams(name, company), tags FROM leads;

CREATE INDEX lead_search_grams_idx ON lead_search USING gin (grams);
CREATE INDEX lead_search_tags_idx ON lead_search USING gin (tags);
DROP INDEX leads_search_grams_idx;
DROP INDEX leads_tags_idx;

-- ListLeads orders by pool entry as COALESCE(pool_entered_at, 'infinity') (never NULL, so the
-- keyset comparison stays a row comparison); the index on the bare column could not serve it.
DROP INDEX leads_pool_entered_idx;
CREATE INDEX leads_pool_entered_idx
    ON leads (tenant_id, pool_id, (COALESCE(pool_entered_at, 'infinity'::timestamptz)), id);

-- Plans over the new table need its statistics at once, not at autovacuum's first visit.
ANALYZE lead_search;
