-- Deadline rules in business time (shared/domain.md "Business time"): each of follow_up_timeout,
-- close_timeout and warn_before is wall time (the *_seconds columns), or workdays, or open time,
-- counted in the pool's calendar. Deadlines stay computed inside the statements that acquire,
-- follow up and reschedule leads; these functions say how.
ALTER TABLE pools
    ADD COLUMN follow_up_workdays      integer CHECK (follow_up_workdays BETWEEN 0 AND 366),
    ADD COLUMN follow_up_open_seconds  integer CHECK (follow_up_open_seconds > 0),
    ADD COLUMN close_workdays          integer CHECK (close_workdays BETWEEN 0 AND 366),
    ADD COLUMN close_open_seconds      integer CHECK (close_open_seconds > 0),
    ADD COLUMN warn_before_workdays    integer CHECK (warn_before_workdays BETWEEN 1 AND 366),
    ADD COLUMN warn_before_open_seconds integer CHECK (warn_before_open_seconds > 0),
    -- One way per rule, and business time only with a calendar to count it in.
    ADD CONSTRAINT pools_one_follow_up_rule CHECK (
        num_nonnulls(follow_up_timeout_seconds, follow_up_workdays, follow_up_open_seconds) <= 1),
    ADD CONSTRAINT pools_one_close_rule CHECK (
        num_nonnulls(close_timeout_seconds, close_workdays, close_open_seconds) <= 1),
    ADD CONSTRAINT pools_one_warn_rule CHECK (
        num_nonnulls(warn_before_seconds, warn_before_workdays, warn_before_open_seconds) <= 1),
    ADD CONSTRAINT pools_business_rules_need_calendar CHECK (
        calendar_id IS NOT NULL
        OR num_nonnulls(follow_up_workdays, follow_up_open_seconds, close_workdays,
                        close_open_seconds, warn_before_workdays, warn_before_open_seconds) = 0);

-- The calendar a pool counts business time in. A function, not a sub-select, so the deadline
-- functions below stay simple enough for the planner to inline: on the wall clock they cost what
-- `start + interval` costs.
CREATE FUNCTION pool_calendar(p pools) RETURNS calendars
LANGUAGE sql STABLE AS $$
    SELECT c FROM calendars c WHERE c.tenant_id = p.tenant_id AND c.id = p.calendar_id
$$;

-- `start` plus a rule of the pool: wall time when neither business amount is set (NULL when the
-- rule is unset too), else business time in the pool's calendar and zone.
CREATE FUNCTION pool_time_after(p pools, start timestamptz, wall_seconds integer,
                                workdays integer, open_seconds integer)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN workdays IS NULL AND open_seconds IS NULL
            THEN start + make_interval(secs => wall_seconds)
        ELSE business_add(pool_calendar(p), p.timezone, start, workdays, open_seconds)
    END
$$;

-- A lead's follow-up deadline counted from `start`: its grade's override when it has one (wall
-- or business time, or none), else the pool's rule. Overrides are domain::pool::GradeDeadlines
-- as JSON: {"follow_up_timeout_seconds": 86400 | null, "follow_up_business":
-- {"workdays": 3} | {"open_seconds": 7200} | null, ...}.
CREATE FUNCTION follow_up_deadline(p pools, grade text, start timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p.grade_overrides ? grade
            THEN pool_time_after(
                p, start,
                (p.grade_overrides -> grade ->> 'follow_up_timeout_seconds')::integer,
                (p.grade_overrides -> grade -> 'follow_up_business' ->> 'workdays')::integer,
                (p.grade_overrides -> grade -> 'follow_up_business' ->> 'open_seconds')::integer)
        ELSE pool_time_after(p, start, p.follow_up_timeout_seconds, p.follow_up_workdays,
                             p.follow_up_open_seconds)
    END
$$;

-- A lead's close deadline counted from `start`, as follow_up_deadline.
CREATE FUNCTION close_deadline(p pools, grade text, start timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p.grade_overrides ? grade
            THEN pool_time_after(
                p, start,
                (p.grade_overrides -> grade ->> 'close_timeout_seconds')::integer,
                (p.grade_overrides -> grade -> 'close_business' ->> 'workdays')::integer,
                (p.grade_overrides -> grade -> 'close_business' ->> 'open_seconds')::integer)
        ELSE pool_time_after(p, start, p.close_timeout_seconds, p.close_workdays,
                             p.close_open_seconds)
    END
$$;

-- Whether the pool warns before recycling.
CREATE FUNCTION pool_warns(p pools) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(p.warn_before_seconds, 0) > 0
        OR p.warn_before_workdays IS NOT NULL OR p.warn_before_open_seconds IS NOT NULL
$$;

-- When the warning for `deadline` is due: warn_before earlier, in the pool's terms.
CREATE FUNCTION warning_due(p pools, deadline timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p.warn_before_workdays IS NULL AND p.warn_before_open_seconds IS NULL
            THEN deadline - make_interval(secs => COALESCE(p.warn_before_seconds, 0))
        ELSE business_sub(pool_calendar(p), p.timezone, deadline, p.warn_before_workdays,
                          p.warn_before_open_seconds)
    END
$$;

-- `as_of` plus the pool's warn_before: a lead due by then is warned now, and a warning sent now
-- gives the owner until then.
CREATE FUNCTION warning_horizon(p pools, as_of timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT pool_time_after(p, as_of, COALESCE(p.warn_before_seconds, 0), p.warn_before_workdays,
                           p.warn_before_open_seconds)
$$;

-- recycle_schedule and recycle_candidates (20261123200000_recycle.sql), with warn_before in the
-- pool's terms; otherwise unchanged.
CREATE OR REPLACE FUNCTION recycle_schedule(l leads, p pools, as_of timestamptz)
RETURNS TABLE (deadline timestamptz, reason text, warn_at timestamptz, recycle_at timestamptz,
               action text)
LANGUAGE sql STABLE AS $$
    SELECT d.deadline, d.reason, t.warn_at, t.recycle_at,
           CASE WHEN t.warn_at <= as_of THEN 'WARN'
                WHEN t.warn_at IS NULL AND t.recycle_at <= as_of THEN 'RECYCLE' END
    FROM (SELECT LEAST(l.follow_up_deadline, l.close_deadline) AS deadline,
                 CASE WHEN l.close_deadline < l.follow_up_deadline OR l.follow_up_deadline IS NULL
                      THEN 'CLOSE_OVERDUE' ELSE 'FOLLOW_UP_OVERDUE' END AS reason,
                 pool_warns(p) AS warns,
                 COALESCE(l.warned_deadline = LEAST(l.follow_up_deadline, l.close_deadline)
                          AND l.warned_owner = l.owner_id, false) AS warned) d
    CROSS JOIN LATERAL (
        SELECT CASE WHEN d.warns AND NOT d.warned
                    THEN GREATEST(warning_due(p, d.deadline), as_of) END AS warn_at,
               CASE WHEN d.warned THEN l.warned_recycle_at
                    ELSE GREATEST(d.deadline, warning_horizon(p, as_of)) END AS recycle_at) t
    WHERE l.state = 'OWNED' AND NOT l.locked AND d.deadline IS NOT NULL
      AND (p.exempt_grades = '{}' OR NOT (l.grade = ANY (p.exempt_grades)))
$$;

CREATE OR REPLACE FUNCTION recycle_candidates(as_of timestamptz, tenant text, pool uuid,
                                              wanted text, max_rows integer)
RETURNS TABLE (tenant_id text, pool_id uuid, lead_id uuid)
LANGUAGE sql STABLE AS $$
    SELECT p.tenant_id, p.id, c.id
    FROM pools p
    CROSS JOIN LATERAL (
        (SELECT u.id FROM leads u
         WHERE u.tenant_id = p.tenant_id AND u.pool_id = p.id AND u.state = 'OWNED'
           AND NOT u.locked
           AND (u.warned_deadline IS DISTINCT FROM LEAST(u.follow_up_deadline, u.close_deadline)
                OR u.warned_owner IS DISTINCT FROM u.owner_id)
           AND LEAST(u.follow_up_deadline, u.close_deadline) <= warning_horizon(p, as_of)
           AND (p.exempt_grades = '{}' OR NOT (u.grade = ANY (p.exempt_grades)))
           AND (wanted = 'WARN') = pool_warns(p)
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
