-- A move between pools (MoveLead, a release or recycle to another pool) records where the lead
-- went; `pool_id` stays the pool it was in when the event happened.
ALTER TABLE lead_events ADD COLUMN to_pool_id uuid;
