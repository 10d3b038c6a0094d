-- Under RULE_MATCH with the WEIGHTED fallback, each set of matching members keeps its own
-- current weights, as each keeps its own round-robin place (group_cursors): a set's key (a hash
-- of its members, domain::distribution::turns) → {user_id: current weight}, zeros left out.
-- Only added: a binary without it keeps reading and writing the columns it knows.
ALTER TABLE distribution_state
    ADD COLUMN group_weights jsonb NOT NULL DEFAULT '{}';
