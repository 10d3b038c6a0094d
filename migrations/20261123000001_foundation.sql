-- Foundation schema: pools, members, leads and the append-only lead history.
-- Every key starts with tenant_id so the schema can be distributed by tenant (Citus) unchanged.

CREATE TABLE pools (
    tenant_id           text        NOT NULL,
    id                  uuid        NOT NULL,
    name                text        NOT NULL,
    timezone            text        NOT NULL DEFAULT 'UTC',
    max_held_per_member integer     CHECK (max_held_per_member >= 0),
    archived_at         timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- Names are unique per tenant regardless of case; the constraint name maps to POOL_NAME_TAKEN.
CREATE UNIQUE INDEX pools_tenant_name_key ON pools (tenant_id, lower(name));

CREATE TABLE members (
    tenant_id  text        NOT NULL,
    pool_id    uuid        NOT NULL,
    user_id    text        NOT NULL,
    role       text        NOT NULL CHECK (role IN ('MEMBER', 'MANAGER')),
    active     boolean     NOT NULL DEFAULT true,
    weight     integer     NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000),
    max_held   integer     CHECK (max_held >= 0),
    regions    text[]      NOT NULL DEFAULT '{}',
    industries text[]      NOT NULL DEFAULT '{}',
    grades     text[]      NOT NULL DEFAULT '{}',
    -- Owned leads of this pool. Kept in step with leads.owner_id by every ownership change, in the
    -- same statement, so the cap check is one conditional UPDATE on this row (which also serialises
    -- one member's concurrent claims).
    held_count integer     NOT NULL DEFAULT 0 CHECK (held_count >= 0),
    joined_at  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT members_pkey PRIMARY KEY (tenant_id, pool_id, user_id),
    FOREIGN KEY (tenant_id, pool_id) REFERENCES pools (tenant_id, id)
);
CREATE INDEX members_user_idx ON members (tenant_id, user_id);
CREATE INDEX members_join_order_idx ON members (tenant_id, pool_id, joined_at, user_id);

CREATE TABLE leads (
    tenant_id         text        NOT NULL,
    id                uuid        NOT NULL,
    pool_id           uuid        NOT NULL,
    external_ref      text,
    name              text        NOT NULL,
    company           text        NOT NULL DEFAULT '',
    phone             text        NOT NULL DEFAULT '',
    email             text        NOT NULL DEFAULT '',
    source            text        NOT NULL DEFAULT '',
    region            text        NOT NULL DEFAULT '',
    industry          text        NOT NULL DEFAULT '',
    grade             text        NOT NULL DEFAULT '',
    tags              text[]      NOT NULL DEFAULT '{}',
    attributes        jsonb       NOT NULL DEFAULT '{}',
    state             text        NOT NULL CHECK (state IN ('IN_POOL', 'OWNED', 'CONVERTED', 'DISCARDED')),
    owner_id          text,
    acquired_at       timestamptz,
    acquired_via      text,
    last_follow_up_at timestamptz,
    follow_up_deadline timestamptz,
    close_deadline    timestamptz,
    locked            boolean     NOT NULL DEFAULT false,
    previous_owner_id text,
    cooldown_until    timestamptz,
    pool_entered_at   timestamptz,
    version           bigint      NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, pool_id) REFERENCES pools (tenant_id, id),
    -- OWNED is exactly "has an owner": one owner per lead, never a dangling one.
    CONSTRAINT leads_owner_matches_state CHECK ((state = 'OWNED') = (owner_id IS NOT NULL))
);
CREATE UNIQUE INDEX leads_tenant_external_ref_key ON leads (tenant_id, external_ref) WHERE external_ref IS NOT NULL;
-- Serves ListLeads by pool (and state) in keyset order.
CREATE INDEX leads_pool_state_created_idx ON leads (tenant_id, pool_id, state, created_at, id);
CREATE INDEX leads_pool_created_idx ON leads (tenant_id, pool_id, created_at, id);
-- Serves a member's private pool (owner = me).
CREATE INDEX leads_owner_created_idx ON leads (tenant_id, owner_id, created_at, id) WHERE owner_id IS NOT NULL;

CREATE TABLE lead_events (
    seq         bigint      GENERATED ALWAYS AS IDENTITY,
    tenant_id   text        NOT NULL,
    lead_id     uuid        NOT NULL,
    pool_id     uuid        NOT NULL,
    kind        text        NOT NULL,
    from_owner  text,
    to_owner    text,
    actor       text        NOT NULL,
    reason      text,
    note        text,
    occurred_at timestamptz NOT NULL,
    request_id  uuid,
    -- The writing transaction, so followers can read only below the oldest running writer's horizon.
    xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX lead_events_lead_idx ON lead_events (tenant_id, lead_id, seq);

-- The history is append-only: no code path may rewrite or erase it.
CREATE FUNCTION lead_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'lead_events is append-only';
END;
$$;
CREATE TRIGGER lead_events_no_update BEFORE UPDATE OR DELETE OR TRUNCATE ON lead_events
    FOR EACH STATEMENT EXECUTE FUNCTION lead_events_append_only();
