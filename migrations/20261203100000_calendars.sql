-- Business calendars (shared/domain.md "Business time"): workdays, business hours, holidays and
-- make-up workdays, kept as the JSON of domain::calendar::CalendarDraft (one document read and
-- written whole; nothing queries inside it). A calendar has no zone of its own: a pool naming it
-- reads it in the pool's time zone.
CREATE TABLE calendars (
    tenant_id  text        NOT NULL,
    id         uuid        NOT NULL,
    name       text        NOT NULL,
    definition jsonb       NOT NULL,
    version    bigint      NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- Names are unique per tenant regardless of case; the constraint name maps to CALENDAR_NAME_TAKEN.
CREATE UNIQUE INDEX calendars_tenant_name_key ON calendars (tenant_id, lower(name));

-- The calendar a pool counts its business-time rules in; none means the wall clock. A calendar
-- named by a pool cannot be deleted (CALENDAR_IN_USE).
ALTER TABLE pools
    ADD COLUMN calendar_id uuid,
    ADD CONSTRAINT pools_calendar_fkey FOREIGN KEY (tenant_id, calendar_id)
        REFERENCES calendars (tenant_id, id);
CREATE INDEX pools_calendar_idx ON pools (tenant_id, calendar_id) WHERE calendar_id IS NOT NULL;
