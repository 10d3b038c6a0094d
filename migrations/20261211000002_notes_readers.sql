-- Who reads a lead's follow-up notes and history among users without a tenant role (`admin` and
-- `service` always do): its owner; the members of its pool who manage it (active managers);
-- the pool's other members only while the lead is IN_POOL, so the next rep sees what came before
-- but nobody reads the live notes of a lead a colleague works; for a converted or discarded lead,
-- the member of its pool who held it last. One definition for GetLeadHistory and ListFollowUps
-- (which then pick the refusal) and for the event feed of a pool's plain members, which filters
-- with it inside its keyset read. Expand only: a new function.
CREATE FUNCTION reads_lead_notes(l leads, reader text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
    SELECT COALESCE(l.owner_id = reader, false) OR EXISTS (
        SELECT 1
        FROM members m
        WHERE m.tenant_id = l.tenant_id AND m.pool_id = l.pool_id AND m.user_id = reader
          AND (l.state = 'IN_POOL'
               OR (m.role = 'MANAGER' AND m.active)
               OR (l.state IN ('CONVERTED', 'DISCARDED') AND l.previous_owner_id = reader)))
$$;
