-- Idempotency (AIP-155): the first completed response of (tenant, actor, method, request_id),
-- stored in the same transaction as the change, replayed to retries for 24 hours.
CREATE TABLE idempotency_keys (
    tenant_id    text        NOT NULL,
    actor        text        NOT NULL,
    method       text        NOT NULL,
    request_id   uuid        NOT NULL,
    request_hash bytea       NOT NULL,
    response     bytea,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, actor, method, request_id)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
