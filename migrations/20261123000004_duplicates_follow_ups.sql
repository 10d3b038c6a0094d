-- Duplicate detection: normalised phone and e-mail (computed by domain::lead::normalize_*),
-- unique among the live leads of a tenant unless a lead was let in as a known duplicate.
ALTER TABLE leads
    ADD COLUMN phone_normalized text NOT NULL DEFAULT '',
    ADD COLUMN email_normalized text NOT NULL DEFAULT '',
    ADD COLUMN duplicate_of     uuid;

CREATE UNIQUE INDEX leads_live_phone_key ON leads (tenant_id, phone_normalized)
    WHERE phone_normalized <> '' AND duplicate_of IS NULL AND state IN ('IN_POOL', 'OWNED');
CREATE UNIQUE INDEX leads_live_email_key ON leads (tenant_id, email_normalized)
    WHERE email_normalized <> '' AND duplicate_of IS NULL AND state IN ('IN_POOL', 'OWNED');

-- Follow-ups (跟进): the owner's logged interactions, kept in their own history.
CREATE TABLE follow_ups (
    tenant_id   text        NOT NULL,
    id          uuid        NOT NULL,
    lead_id     uuid        NOT NULL,
    author      text        NOT NULL,
    channel     text        NOT NULL CHECK (channel IN ('CALL', 'EMAIL', 'VISIT', 'MESSAGE', 'OTHER')),
    note        text        NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id)
);
CREATE INDEX follow_ups_lead_idx ON follow_ups (tenant_id, lead_id, occurred_at, id);
