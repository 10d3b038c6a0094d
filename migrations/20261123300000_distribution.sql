-- Distribution (自动分配): the pool's `distribution` rule, the persisted state of its strategies,
-- and the index the distributor takes pool leads from, oldest in the pool first.

ALTER TABLE pools
    ADD COLUMN distribution_strategy text NOT NULL DEFAULT 'ROUND_ROBIN'
        CHECK (distribution_strategy IN ('ROUND_ROBIN', 'WEIGHTED', 'LEAST_LOADED', 'RULE_MATCH')),
    -- RULE_MATCH: the strategy that picks among the matching members.
    ADD COLUMN distribution_fallback text NOT NULL DEFAULT 'ROUND_ROBIN'
        CHECK (distribution_fallback IN ('ROUND_ROBIN', 'WEIGHTED', 'LEAST_LOADED')),
    -- RULE_MATCH: a lead no active member matches goes to any eligible member (by the fallback).
    ADD COLUMN assign_unmatched boolean NOT NULL DEFAULT false,
    ADD COLUMN auto_distribute boolean NOT NULL DEFAULT false,
    ADD COLUMN auto_distribute_after_seconds integer CHECK (auto_distribute_after_seconds >= 0);

-- One row per pool that has distributed: the round-robin cursor (the last recipient's place in
-- the stable member order) and the smooth weighted round-robin's current weights by user id.
-- Every distribution locks this row first and rewrites it in the transaction that assigns, so
-- concurrent distributors of one pool run one after the other and restarts never skew the spread.
CREATE TABLE distribution_state (
    tenant_id        text        NOT NULL,
    pool_id          uuid        NOT NULL,
    cursor_joined_at timestamptz,
    cursor_user_id   text,
    current_weights  jsonb       NOT NULL DEFAULT '{}',
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, pool_id),
    FOREIGN KEY (tenant_id, pool_id) REFERENCES pools (tenant_id, id)
);

-- The distributor's queue: a pool's public leads in the order they entered it.
CREATE INDEX leads_pool_queue_idx ON leads (tenant_id, pool_id, pool_entered_at, id)
    WHERE state = 'IN_POOL';
-- The scheduler's sweep finds the pools that distribute automatically.
CREATE INDEX pools_auto_distribute_idx ON pools (tenant_id, id)
    WHERE auto_distribute AND archived_at IS NULL;
