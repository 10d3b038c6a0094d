-- A user's AWAY_STARTED and AWAY_ENDED events (the only events that name a user), so an absence's
-- end finds the pools its start was announced in (store::absences::effects::announce) without
-- reading the tenant's whole history.
CREATE INDEX lead_events_user_idx ON lead_events (tenant_id, user_id, pool_id, seq)
    WHERE user_id IS NOT NULL;
