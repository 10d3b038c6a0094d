-- A NOTIFY inside every writing transaction serialises their commits on PostgreSQL's global
-- notify queue lock (measured: claims/s fell to a third to a half). The service now wakes its
-- own followers in memory after each commit and announces writes to other replicas with one
-- coalesced NOTIFY outside the writes (see src/wakeups.rs).
DROP TRIGGER lead_events_notify ON lead_events;
DROP FUNCTION lead_events_notify();
