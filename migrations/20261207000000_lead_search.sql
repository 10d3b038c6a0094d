-- A lead's search terms in a table of their own (issue 19): the GIN indexes over the grams of
-- name and company and over the tags move off `leads`. Every claim, release, recycle and
-- distribution changes indexed ownership columns of `leads`, so it is a non-HOT update that
-- writes a new entry into every index of the table: each of them added ~30 GIN entries (the
-- grams) and the tags' entry, for terms that had not changed. Measured with pgbench replaying
-- the service's claim statement on 200,000 leads: 1,833–2,180 claims/s with both GIN indexes
-- on `leads`, 2,878 without the grams', 3,296 without either.
--
-- Triggers keep the terms in step with the lead, whichever binary writes it (during a rolling
-- update the previous release still inserts leads) and whatever the statement (create, import,
-- edit): one per inserting statement, set-based over its new rows (an import writes a thousand
-- leads a statement, and a row trigger's insert per lead slowed it down), and one per row for an
-- update that changes name, company or tags, which no ownership change does. No foreign key to
-- leads: these rows are written only from leads' own new rows, and leads are never deleted (the
-- key's per-row check would cost the import as much again).
CREATE TABLE lead_search (
    tenant_id text   NOT NULL,
    lead_id   uuid   NOT NULL,
    -- lead_search_grams(name, company): what ListLeads' text query matches against.
    grams     text[] NOT NULL,
    tags      text[] NOT NULL,
    PRIMARY KEY (tenant_id, lead_id)
);

CREATE FUNCTION leads_index_new_search() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lead_search (tenant_id, lead_id, grams, tags)
    SELECT n.tenant_id, n.id, lead_search_grams(n.name, n.company), n.tags FROM new_leads n;
    RETURN NULL;
END
$$;

CREATE TRIGGER leads_index_new_search AFTER INSERT ON leads
    REFERENCING NEW TABLE AS new_leads
    FOR EACH STATEMENT EXECUTE FUNCTION leads_index_new_search();

CREATE FUNCTION leads_index_changed_search() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lead_search
    SET grams = lead_search_grams(NEW.name, NEW.company), tags = NEW.tags
    WHERE tenant_id = NEW.tenant_id AND lead_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER leads_index_changed_search AFTER UPDATE OF name, company, tags ON leads
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.company IS DISTINCT FROM NEW.company
          OR OLD.tags IS DISTINCT FROM NEW.tags)
    EXECUTE FUNCTION leads_index_changed_search();

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
