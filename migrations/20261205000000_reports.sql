-- Reports (docs/reports.md): rollups kept by an aggregator that follows the event order with a
-- checkpoint, not by the writers: a claim writes no rollup row (no hot row for every claim of a
-- pool and day), and the aggregator's batch writes its rollups and moves the checkpoint in one
-- transaction, so a restart or a second replica never counts an event twice.

-- Where the aggregator is, per tenant: every event of the tenant at or before (xid, seq) in
-- stream order is counted. Replicas take turns on a tenant's row lock; it reads the tenant's
-- events by lead_events_stream_idx (tenant_id, xid, seq), so writers get no new index.
CREATE TABLE report_checkpoints (
    tenant_id text   PRIMARY KEY,
    xid       bigint NOT NULL DEFAULT 0,
    seq       bigint NOT NULL DEFAULT 0
);

-- What the aggregator remembers of each lead between batches.
CREATE TABLE report_lead_facts (
    tenant_id          text        NOT NULL,
    lead_id            uuid        NOT NULL,
    pool_id            uuid        NOT NULL,
    state              text        NOT NULL,
    owner_id           text,
    entered_pool_at    timestamptz,
    acquired_at        timestamptz,
    awaiting_follow_up boolean     NOT NULL DEFAULT false,
    returned           boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, lead_id)
);

-- Counts per pool, day of the pool's time zone, member ('' for the pool's own figures), metric
-- and reason ('' when the metric has none).
CREATE TABLE report_counts (
    tenant_id text   NOT NULL,
    pool_id   uuid   NOT NULL,
    day       date   NOT NULL,
    member_id text   NOT NULL,
    metric    text   NOT NULL,
    reason    text   NOT NULL,
    value     bigint NOT NULL,
    PRIMARY KEY (tenant_id, pool_id, day, member_id, metric, reason)
);

-- Durations as log-scale histograms (bins 2% wide: domain::report::histogram), per pool, day,
-- member ('' for the pool) and metric.
CREATE TABLE report_histograms (
    tenant_id text    NOT NULL,
    pool_id   uuid    NOT NULL,
    day       date    NOT NULL,
    member_id text    NOT NULL,
    metric    text    NOT NULL,
    bin       integer NOT NULL,
    count     bigint  NOT NULL,
    PRIMARY KEY (tenant_id, pool_id, day, member_id, metric, bin)
);
