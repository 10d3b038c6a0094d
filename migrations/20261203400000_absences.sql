-- Leave and cover (shared/domain.md "People's time"): a user away for a time, tenant-wide.
-- Being away is a matter of time (away_from <= now < away_until, unless cancelled), so
-- distribution and assignment skip the user from the first instant; what happens to their leads
-- (PAUSE: no warning or recycling, deadlines moved by the time away at the end; COVER: leads held
-- by a colleague) is applied by the scheduler moving `state` SCHEDULED -> ACTIVE -> ENDED, each
-- step a conditional update so several replicas apply it once.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE absences (
    tenant_id     text        NOT NULL,
    id            uuid        NOT NULL,
    user_id       text        NOT NULL,
    away_from     timestamptz NOT NULL,
    -- When the absence ends: as planned, or when it was cleared early.
    away_until    timestamptz NOT NULL,
    mode          text        NOT NULL CHECK (mode IN ('PAUSE', 'COVER')),
    cover_user_id text,
    reason        text        NOT NULL DEFAULT '',
    state         text        NOT NULL DEFAULT 'SCHEDULED'
                              CHECK (state IN ('SCHEDULED', 'ACTIVE', 'ENDED', 'CANCELLED')),
    created_by    text        NOT NULL,
    created_at    timestamptz NOT NULL,
    started_at    timestamptz,
    ended_at      timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK (away_from < away_until),
    CHECK ((mode = 'COVER') = (cover_user_id IS NOT NULL) AND cover_user_id IS DISTINCT FROM user_id),
    -- One absence at a time per user; the constraint name maps to MEMBER_AWAY.
    CONSTRAINT absences_no_overlap EXCLUDE USING gist (
        tenant_id WITH =, user_id WITH =, tstzrange(away_from, away_until) WITH &&)
        WHERE (state IN ('SCHEDULED', 'ACTIVE'))
);
-- The scheduler's work: absences to start or end.
CREATE INDEX absences_open_idx ON absences (tenant_id, state, away_from)
    WHERE state IN ('SCHEDULED', 'ACTIVE');

-- Whether the user is away at `at`: distribution and assignment skip them.
CREATE FUNCTION away_until(tenant text, member text, at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT a.away_until FROM absences a
    WHERE a.tenant_id = tenant AND a.user_id = member AND a.state IN ('SCHEDULED', 'ACTIVE')
      AND a.away_from <= at AND at < a.away_until
$$;

-- Whether the owner's leads are paused: an absence under way (COVER pauses the leads that did
-- not move). Their leads are neither warned nor recycled.
CREATE FUNCTION owner_paused(tenant text, owner text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM absences a
                   WHERE a.tenant_id = tenant AND a.user_id = owner AND a.state = 'ACTIVE')
$$;

-- The owner a covered lead returns to; the colleague holds it (owner_id).
ALTER TABLE leads ADD COLUMN covered_owner_id text;
CREATE INDEX leads_covered_owner_idx ON leads (tenant_id, covered_owner_id)
    WHERE covered_owner_id IS NOT NULL;

-- A cover ends when the lead leaves the colleague by any other way (released, recycled, passed
-- on, moved): every statement that changes the owner without naming covered_owner_id clears
-- it. Converted and discarded leads keep it, so reports credit the owner.
CREATE FUNCTION leads_end_cover() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.covered_owner_id IS NOT DISTINCT FROM OLD.covered_owner_id
       AND (NEW.state = 'IN_POOL'
            OR (NEW.state = 'OWNED' AND NEW.owner_id IS DISTINCT FROM OLD.owner_id)) THEN
        NEW.covered_owner_id := NULL;
    END IF;
    RETURN NEW;
END;
$$;
-- Only covered leads pay for the trigger.
CREATE TRIGGER leads_end_cover BEFORE UPDATE ON leads
    FOR EACH ROW WHEN (OLD.covered_owner_id IS NOT NULL) EXECUTE FUNCTION leads_end_cover();

-- AWAY_STARTED and AWAY_ENDED are about a user (user_id), not a lead: one per pool the user is
-- an active member of, so a pool's followers see it.
ALTER TABLE lead_events
    ALTER COLUMN lead_id DROP NOT NULL,
    ADD COLUMN user_id text,
    ADD CONSTRAINT lead_events_subject CHECK (
        (lead_id IS NULL) = (kind IN ('AWAY_STARTED', 'AWAY_ENDED'))
        AND (user_id IS NULL) = (lead_id IS NOT NULL));

-- recycle_candidates (20261203300000_business_rules.sql) skipping paused owners; otherwise
-- unchanged.
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
           AND NOT owner_paused(u.tenant_id, u.owner_id)
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
           AND NOT owner_paused(w.tenant_id, w.owner_id)
         ORDER BY w.warned_recycle_at
         LIMIT max_rows)
    ) c
    WHERE (tenant IS NULL OR p.tenant_id = tenant) AND (pool IS NULL OR p.id = pool)
    LIMIT max_rows
$$;
