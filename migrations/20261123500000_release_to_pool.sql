-- ReleaseLead may name the pool a lead goes to: its own pool, or an unarchived pool of the
-- tenant its owner is an active member of. One definition for the release and for the read
-- that explains a refused release.
CREATE FUNCTION owner_may_use(tenant text, pool uuid, owner text, to_pool uuid)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT to_pool IS NULL OR to_pool = pool OR EXISTS (
        SELECT 1
        FROM members m
        JOIN pools d ON d.tenant_id = m.tenant_id AND d.id = m.pool_id
        WHERE m.tenant_id = tenant AND m.pool_id = to_pool AND m.user_id = owner AND m.active
          AND d.archived_at IS NULL)
$$;
