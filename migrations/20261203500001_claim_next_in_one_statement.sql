-- ClaimNext in one statement (the claim's, picking its lead with this function): next_claimable
-- (20261203500000_claim_next.sql) now returns no lead to a claimant the claim would refuse
-- whatever the lead (inactive, archived pool, no quota, at the cap), so such a caller never holds,
-- even for a statement, a lead another caller could take.
-- The best lead of the pool the claimant may claim at `at` (of the wanted region and industry
-- when given), locked (FOR UPDATE SKIP LOCKED: a lead another caller is taking is passed over,
-- never waited for); NULL when there is none. Grades in pull_order first, in that order, then
-- every other grade; oldest pool entry first.
CREATE OR REPLACE FUNCTION next_claimable(tenant text, pool uuid, claimant text, at timestamptz,
                               wanted_region text, wanted_industry text)
RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    p pools;
    grade_wanted text;
    picked uuid;
BEGIN
    SELECT * INTO p FROM pools WHERE tenant_id = tenant AND id = pool AND archived_at IS NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- Only a claimant the claim would admit picks a lead (the claim statement checks the same
    -- again, and decides): one who could not take it never holds a lead another caller could.
    PERFORM 1 FROM members m
    WHERE m.tenant_id = tenant AND m.pool_id = pool AND m.user_id = claimant AND m.active
      AND m.held_count < COALESCE(m.max_held, p.max_held_per_member, 2147483647)
      AND (p.daily_claim_limit IS NULL
           OR CASE WHEN m.claims_day = (at AT TIME ZONE p.timezone)::date
                   THEN m.claims_today ELSE 0 END < p.daily_claim_limit);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    FOREACH grade_wanted IN ARRAY p.pull_order LOOP
        SELECT l.id INTO picked FROM leads l
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
        IF picked IS NOT NULL THEN
            RETURN picked;
        END IF;
    END LOOP;
    SELECT l.id INTO picked FROM leads l
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
    RETURN picked;
END;
$$;
