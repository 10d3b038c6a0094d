-- Under RULE_MATCH, each set of members a lead matches takes turns on its own: the last
-- recipient of each matching set, keyed by a hash of the set's members
-- (domain::distribution::turns), beside the pool's one round-robin cursor.
ALTER TABLE distribution_state
    ADD COLUMN group_cursors jsonb NOT NULL DEFAULT '{}';
