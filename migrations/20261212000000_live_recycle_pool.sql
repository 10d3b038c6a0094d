-- Where a pool's released, recycled, offboarded and unaccepted leads go: its recycle pool while
-- that pool is live, else the pool itself. An archived pool takes no leads (nobody may claim
-- there), so a recycle pool archived after it was named must not swallow them. One definition
-- for the release, recycle and move statements. Expand only: a new function.
CREATE FUNCTION recycle_destination(p pools)
RETURNS uuid
LANGUAGE sql STABLE
AS $$
    SELECT COALESCE((SELECT r.id
                     FROM pools r
                     WHERE r.tenant_id = p.tenant_id AND r.id = p.recycle_to_pool_id
                       AND r.archived_at IS NULL),
                    p.id)
$$;
