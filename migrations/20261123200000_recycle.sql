-- Recycling (自动回收): the scheduler warns an owner before a lead's deadline and takes the lead
-- back once it has passed. A lead's recycle deadline is the earlier of its follow-up and close
-- deadlines; the rules are in recycle_schedule below, the one place that decides.

-- The last RECYCLE_WARNING of the lead: the deadline and owner it was for, and the recycle time it
-- announced. It counts only while deadline and owner are still those, so a follow-up, an extension
-- or a new owner needs a warning of its own, and nothing has to reset these columns.
ALTER TABLE leads
    ADD COLUMN warned_deadline   timestamptz,
    ADD COLUMN warned_owner      text,
    ADD COLUMN warned_recycle_at timestamptz;

-- Owned leads not warned for their current deadline, by that deadline: the scheduler reads each
-- pool's range up to now + warn_before (warnings, and recycles where no warning is due).
CREATE INDEX leads_recycle_unwarned_idx
    ON leads (tenant_id, pool_id, (LEAST(follow_up_deadline, close_deadline)))
    WHERE state = 'OWNED' AND NOT locked
      AND (warned_deadline IS DISTINCT FROM LEAST(follow_up_deadline, close_deadline)
           OR warned_owner IS DISTINCT FROM owner_id);

-- Owned leads warned for their current deadline, by the recycle time the warning announced.
CREATE INDEX leads_recycle_warned_idx
    ON leads (tenant_id, pool_id, warned_recycle_at)
    WHERE state = 'OWNED' AND NOT locked
      AND warned_deadline = LEAST(follow_up_deadline, close_deadline)
      AND warned_owner = owner_id;

-- Serves ListRecycled: a pool's recycles, newest first.
CREATE INDEX lead_events_recycled_idx ON lead_events (tenant_id, pool_id, seq)
    WHERE kind = 'RECYCLED';

-- When the scheduler warns about and recycles a lead, as seen at `as_of` (shared/domain.md "No
-- recycle without notice"):
-- - deadline: the earlier of the two deadlines; reason: which one it is;
-- - warn_at: when the RECYCLE_WARNING goes out; NULL when none is due (warn_before unset or 0,
--   or the warning for this deadline and owner went out already). Never before `as_of`: a warning
--   the scheduler missed goes out at once;
-- - recycle_at: the deadline, but never sooner than warn_before after the warning; once warned,
--   the time that warning announced;
-- - action: what a sweep at `as_of` does: WARN, RECYCLE or nothing (NULL).
-- No row for a lead the scheduler leaves alone: not owned, locked, of an exempt grade, or
-- without deadlines.
CREATE FUNCTION recycle_schedule(l leads, p pools, as_of timestamptz)
RETURNS TABLE (deadline timestamptz, reason text, warn_at timestamptz, recycle_at timestamptz,
               action text)
LANGUAGE sql STABLE AS $$
    SELECT d.deadline, d.reason, t.warn_at, t.recycle_at,
           CASE WHEN t.warn_at <= as_of THEN 'WARN'
                WHEN t.warn_at IS NULL AND t.recycle_at <= as_of THEN 'RECYCLE' END
    FROM (SELECT LEAST(l.follow_up_deadline, l.close_deadline) AS deadline,
                 CASE WHEN l.close_deadline < l.follow_up_deadline OR l.follow_up_deadline IS NULL
                      THEN 'CLOSE_OVERDUE' ELSE 'FOLLOW_UP_OVERDUE' END AS reason,
                 make_interval(secs => COALESCE(p.warn_before_seconds, 0)) AS notice,
                 COALESCE(l.warned_deadline = LEAST(l.follow_up_deadline, l.close_deadline)
                          AND l.warned_owner = l.owner_id, false) AS warned) d
    CROSS JOIN LATERAL (
        SELECT CASE WHEN d.notice > interval '0' AND NOT d.warned
                    THEN GREATEST(d.deadline - d.notice, as_of) END AS warn_at,
               CASE WHEN d.warned THEN l.warned_recycle_at
                    ELSE GREATEST(d.deadline, as_of + d.notice) END AS recycle_at) t
    WHERE l.state = 'OWNED' AND NOT l.locked AND d.deadline IS NOT NULL
      AND (p.exempt_grades = '{}' OR NOT (l.grade = ANY (p.exempt_grades)))
$$;

-- Where a sweep at `as_of` looks for leads to warn (wanted = 'WARN') or to recycle
-- (wanted = 'RECYCLE'): at most `max_rows` of them, of one pool, one tenant or all (NULL). It
-- restates recycle_schedule's conditions in the shape of the partial indexes above, pool by pool
-- in deadline order, so it reads only leads that are due and stops at `max_rows`: a pool with
-- warn_before has its unwarned leads warned and its warned leads recycled; a pool without, its
-- leads recycled. Callers decide with recycle_schedule itself.
CREATE FUNCTION recycle_candidates(as_of timestamptz, tenant text, pool uuid, wanted text,
                                   max_rows integer)
RETURNS TABLE (tenant_id text, lead_id uuid)
LANGUAGE sql STABLE AS $$
    SELECT p.tenant_id, c.id
    FROM pools p
    CROSS JOIN LATERAL (
        -- `exempt_grades = '{}' OR` also keeps the planner's row estimate sane: it cannot
        -- estimate a grade against another table's array and would fall back to sorting.
        (SELECT u.id FROM leads u
         WHERE u.tenant_id = p.tenant_id AND u.pool_id = p.id AND u.state = 'OWNED'
           AND NOT u.locked
           AND (u.warned_deadline IS DISTINCT FROM LEAST(u.follow_up_deadline, u.close_deadline)
                OR u.warned_owner IS DISTINCT FROM u.owner_id)
           AND LEAST(u.follow_up_deadline, u.close_deadline)
               <= as_of + make_interval(secs => COALESCE(p.warn_before_seconds, 0))
           AND (p.exempt_grades = '{}' OR NOT (u.grade = ANY (p.exempt_grades)))
           AND (wanted = 'WARN') = (COALESCE(p.warn_before_seconds, 0) > 0)
         ORDER BY LEAST(u.follow_up_deadline, u.close_deadline)
         LIMIT max_rows)
        UNION ALL
        (SELECT w.id FROM leads w
         WHERE w.tenant_id = p.tenant_id AND w.pool_id = p.id AND w.state = 'OWNED'
           AND NOT w.locked
           AND w.warned_deadline = LEAST(w.follow_up_deadline, w.close_deadline)
           AND w.warned_owner = w.owner_id
           AND w.warned_recycle_at <= as_of
           AND (p.exempt_grades = '{}' OR NOT (w.grade = ANY (p.exempt_grades)))
           AND wanted = 'RECYCLE'
         ORDER BY w.warned_recycle_at
         LIMIT max_rows)
    ) c
    WHERE (tenant IS NULL OR p.tenant_id = tenant) AND (pool IS NULL OR p.id = pool)
    LIMIT max_rows
$$;
