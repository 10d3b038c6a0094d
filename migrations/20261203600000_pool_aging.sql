-- Aging (shared/domain.md "Pull: claim next"): a lead left in the public pool for the pool's
-- unclaimed_alert_after gets one POOL_AGING event per pool entry, so a notification service can
-- tell a manager. The lead remembers the entry it was alerted for (its pool_entered_at then), so
-- the sweep alerts each entry once, whichever replica runs it.
ALTER TABLE pools
    ADD COLUMN unclaimed_alert_after_seconds integer CHECK (unclaimed_alert_after_seconds > 0);
ALTER TABLE leads ADD COLUMN aging_alerted_entry timestamptz;

-- The sweep's queue: public leads whose current entry has not been alerted, oldest first.
CREATE INDEX leads_pool_aging_idx ON leads (tenant_id, pool_id, pool_entered_at, id)
    WHERE state = 'IN_POOL' AND aging_alerted_entry IS DISTINCT FROM pool_entered_at;
