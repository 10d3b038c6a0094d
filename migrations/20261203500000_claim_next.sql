-- Pull (shared/domain.md "Pull: claim next"): ClaimNext hands the caller the pool's best lead they
-- may claim, by the pool's pull_order (grades in priority order, then the rest; oldest pool entry
-- first within each), and new_lead_embargo keeps a lead that just entered the pool from claims
-- (claim or claim next) for that long; managers and the distributor may still assign it.
ALTER TABLE pools
    ADD COLUMN pull_order text[] NOT NULL DEFAULT '{}',
    ADD COLUMN new_lead_embargo_seconds integer CHECK (new_lead_embargo_seconds > 0);

-- ClaimNext's queue within one grade: the pool's public leads of that grade, oldest entry first
-- (the other grades walk leads_pool_queue_idx). Claims take rows out of IN_POOL, so they add no
-- entry here.
CREATE INDEX leads_pool_grade_queue_idx ON leads (tenant_id, pool_id, grade, pool_entered_at, id)
    WHERE state = 'IN_POOL';

-- When a lead that entered the pool at `entered` may be claimed: NULL without an embargo.
CREATE FUNCTION embargo_ends(p pools, entered timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT entered + make_interval(secs => p.new_lead_embargo_seconds)
$$;

-- The best lead of the pool the claimant may claim at `at` (of the wanted region and industry
-- when given), locked (FOR UPDATE SKIP LOCKED: a lead another caller is taking is passed over,
-- never waited for); NULL when there is none. Grades in pull_order first, in that order, then
-- every other grade; oldest pool entry first.
CREATE FUNCTION next_claimable(tenant text, pool uuid, claimant text, at timestamptz,
                               wanted_region text, wanted_industry text)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    p pools;
    grade_wanted text;
    found uuid;
BEGIN
    SELECT * INTO p FROM pools WHERE tenant_id = tenant AND id = pool;
    FOREACH grade_wanted IN ARRAY p.pull_order LOOP
        SELECT l.id INTO found FROM leads l
        WHERE l.tenant_id = tenant AND l.pool_id = pool AND l.state = 'IN_POOL'
          AND l.grade = grade_wanted AND NOT l.locked
          AND (l.cooldown_until IS NULL OR l.cooldown_until <= at
               OR l.previous_owner_id IS DISTINCT FROM claimant)
          AND (p.new_lead_embargo_seconds IS NULL OR embargo_ends(p, l.pool_entered_at) <= at)
          AND (wanted_region IS NULL OR l.region = wanted_region)
          AND (wanted_industry IS NULL OR l.industry = wanted_industry)
        ORDER BY l.pool_entered_at, l.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF found IS NOT NULL THEN
            RETURN found;
        END IF;
    END LOOP;
    SELECT l.id INTO found FROM leads l
    WHERE l.tenant_id = tenant AND l.pool_id = pool AND l.state = 'IN_POOL'
      AND NOT (l.grade = ANY (p.pull_order)) AND NOT l.locked
      AND (l.cooldown_until IS NULL OR l.cooldown_until <= at
           OR l.previous_owner_id IS DISTINCT FROM claimant)
      AND (p.new_lead_embargo_seconds IS NULL OR embargo_ends(p, l.pool_entered_at) <= at)
      AND (wanted_region IS NULL OR l.region = wanted_region)
      AND (wanted_industry IS NULL OR l.industry = wanted_industry)
    ORDER BY l.pool_entered_at, l.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED;
    RETURN found;
END;
$$;
