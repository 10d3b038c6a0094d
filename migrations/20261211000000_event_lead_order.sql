-- Followers read events in (xid, seq) order, so a lead's events must reach them in the order they
-- happened: each event's xid greater than the xid of every earlier event of its lead.
--
-- A transaction takes its xid at its first write, which can come well before it reaches a lead:
-- Distribute locks its distribution state, then waits for a member's row, then reads the pool.
-- Meanwhile a younger transaction (a greater xid) releases a lead and commits; the older one then
-- distributes that lead and writes its event under its smaller xid. In (xid, seq) order the
-- DISTRIBUTED event came before the RELEASED one, and a follower replaying the stream left the
-- lead in the pool while it was owned (black-box audit, 2-3 such pairs in 4,000 events under
-- mixed claims, releases and distributions).
--
-- Every writer of a lead's event holds the lead's row lock, so the events of one lead are written
-- one transaction after another, and with this check each lead's events already stand in xid
-- order: an inversion shows as the lead's last event by another transaction (the newest by seq)
-- having the greater xid. The check runs once per inserting statement over the statement's rows,
-- one index probe and about one row read per event; its query takes a snapshot of its own, so it
-- sees the commit the statement waited for. An inversion fails the statement with
-- serialization_failure: the service runs the whole use case again on a fresh transaction
-- (service::retry), whose xid is then the younger one. A lead's first event (CREATED) has nothing
-- before it and is not checked.
--
-- The check's plan is made once per connection and kept. Made while lead_events is empty (a new
-- database, the first claims of a benchmark), a sequential scan looks cheapest, and every later
-- event then read the whole table (claims at half their rate). The index probe is right at any
-- size, so the function plans without sequential scans.
CREATE FUNCTION lead_events_in_lead_order() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    inverted uuid;
BEGIN
    SELECT n.lead_id INTO inverted
    FROM inserted n
    CROSS JOIN LATERAL (
        SELECT e.xid FROM lead_events e
        WHERE e.tenant_id = n.tenant_id AND e.lead_id = n.lead_id AND e.xid <> n.xid
        ORDER BY e.seq DESC
        LIMIT 1
    ) last
    WHERE n.lead_id IS NOT NULL AND n.kind <> 'CREATED' AND last.xid > n.xid
    LIMIT 1;
    IF inverted IS NOT NULL THEN
        RAISE EXCEPTION 'lead % changed in a transaction that began after this one', inverted
            USING ERRCODE = 'serialization_failure',
                  HINT = 'Run the change again: its events would follow the newer change''s in the event stream.';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER lead_events_in_lead_order AFTER INSERT ON lead_events
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION lead_events_in_lead_order();
