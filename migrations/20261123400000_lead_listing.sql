-- ListLeads: every filter and order index-backed within a pool.
-- Orders are keyset scans of (tenant_id, pool_id, <key>, id); created_at's index exists.
CREATE INDEX leads_pool_entered_idx ON leads (tenant_id, pool_id, pool_entered_at, id);
-- Leads without a follow-up deadline (in the pool) sort last: the key is never NULL, so the
-- keyset comparison stays a plain row comparison.
CREATE INDEX leads_pool_follow_up_idx
    ON leads (tenant_id, pool_id, (COALESCE(follow_up_deadline, 'infinity'::timestamptz)), id);
CREATE INDEX leads_pool_grade_idx ON leads (tenant_id, pool_id, grade, id);
-- The usual combined filter (grade and region), in the default order.
CREATE INDEX leads_pool_grade_region_idx ON leads (tenant_id, pool_id, grade, region, created_at, id);
-- "Due before": the nearer of the two deadlines of owned leads.
CREATE INDEX leads_pool_next_deadline_idx
    ON leads (tenant_id, pool_id, (LEAST(follow_up_deadline, close_deadline)))
    WHERE owner_id IS NOT NULL;
CREATE INDEX leads_tags_idx ON leads USING gin (tags);
-- Substring and prefix search on name and company (ILIKE '%q%').
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX leads_name_trgm_idx ON leads USING gin (name gin_trgm_ops);
CREATE INDEX leads_company_trgm_idx ON leads USING gin (company gin_trgm_ops);
