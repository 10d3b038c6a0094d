-- The ownership event stream: followers read a tenant's events in (xid, seq) order, only below
-- the oldest running transaction (pg_snapshot_xmin), so a row that commits late is never skipped.

-- Serves ListEvents/WatchEvents: tenant prefix, then the (xid, seq) keyset.
CREATE INDEX lead_events_stream_idx ON lead_events (tenant_id, xid, seq);

-- Wakes the followers of every process after each writing statement commits. The payload is
-- empty on purpose: a follower blocked by another tenant's open writer must re-read when that
-- writer commits too. Notifications only shorten the wait; a slow poll covers lost ones.
CREATE FUNCTION lead_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lead_events', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER lead_events_notify AFTER INSERT ON lead_events
    FOR EACH STATEMENT EXECUTE FUNCTION lead_events_notify();
