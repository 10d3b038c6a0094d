-- Accept or reroute (shared/domain.md "Accept or reroute"): a lead pushed to a member
-- (distribution, or a manager's assignment where the pool says sla_on_assign) must be accepted
-- within the pool's accept_within (wall time, or business time in the pool's calendar). A pending
-- lead carries its accept_deadline and the members who had it pushed in this chain, oldest
-- first (the current owner last), so a reroute never hands it to one of them again.
ALTER TABLE pools
    ADD COLUMN accept_within_seconds      integer CHECK (accept_within_seconds > 0),
    ADD COLUMN accept_within_workdays     integer CHECK (accept_within_workdays BETWEEN 0 AND 366),
    ADD COLUMN accept_within_open_seconds integer CHECK (accept_within_open_seconds > 0),
    -- NULL: reroute until nobody in the pool is left to try.
    ADD COLUMN max_reroutes               integer CHECK (max_reroutes BETWEEN 0 AND 1000),
    ADD COLUMN sla_on_assign              boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT pools_one_accept_rule CHECK (
        num_nonnulls(accept_within_seconds, accept_within_workdays, accept_within_open_seconds) <= 1),
    ADD CONSTRAINT pools_accept_business_needs_calendar CHECK (
        calendar_id IS NOT NULL
        OR num_nonnulls(accept_within_workdays, accept_within_open_seconds) = 0);

ALTER TABLE leads
    ADD COLUMN accept_deadline timestamptz,
    ADD COLUMN accept_chain    text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT leads_pending_is_owned CHECK (accept_deadline IS NULL OR state = 'OWNED');

-- When a lead pushed at `start` must be accepted by: NULL when the pool has no accept window.
CREATE FUNCTION accept_deadline(p pools, start timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN num_nonnulls(p.accept_within_seconds, p.accept_within_workdays,
                          p.accept_within_open_seconds) = 0 THEN NULL
        ELSE pool_time_after(p, start, p.accept_within_seconds, p.accept_within_workdays,
                             p.accept_within_open_seconds)
    END
$$;

-- Pending leads are few at any time, so these partial indexes stay small: the pools the reroute
-- sweep visits (every tenant), each pool's queue of missed leads and pending list, and each
-- member's pending list.
CREATE INDEX leads_accept_due_idx ON leads (accept_deadline) WHERE accept_deadline IS NOT NULL;
CREATE INDEX leads_pending_pool_idx ON leads (tenant_id, pool_id, accept_deadline, id)
    WHERE accept_deadline IS NOT NULL;
CREATE INDEX leads_pending_owner_idx ON leads (tenant_id, owner_id, accept_deadline, id)
    WHERE accept_deadline IS NOT NULL;

-- Any statement that takes a pending lead from its owner (release, recycle, transfer, cover,
-- offboarding) or closes it ends the wait: the lead is no longer pending, and its chain ends. A
-- reroute is the one owner change that keeps the lead pending: it extends the chain. Only
-- pending leads pay for the trigger.
CREATE FUNCTION leads_end_pending() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state <> 'OWNED'
       OR (NEW.owner_id IS DISTINCT FROM OLD.owner_id
           AND NEW.accept_chain IS NOT DISTINCT FROM OLD.accept_chain) THEN
        NEW.accept_deadline := NULL;
        NEW.accept_chain := '{}';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER leads_end_pending BEFORE UPDATE ON leads
    FOR EACH ROW WHEN (OLD.accept_deadline IS NOT NULL) EXECUTE FUNCTION leads_end_pending();
