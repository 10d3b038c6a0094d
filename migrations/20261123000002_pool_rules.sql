-- Pool rules (shared/domain.md "Pool rules"). Durations are whole seconds; NULL means "no limit".

ALTER TABLE pools
    ADD COLUMN daily_claim_limit         integer CHECK (daily_claim_limit >= 0),
    ADD COLUMN reclaim_cooldown_seconds  integer CHECK (reclaim_cooldown_seconds >= 0),
    ADD COLUMN mask_contacts             boolean NOT NULL DEFAULT false,
    ADD COLUMN release_reasons           text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN exempt_grades             text[]  NOT NULL DEFAULT '{}',
    ADD COLUMN follow_up_timeout_seconds integer CHECK (follow_up_timeout_seconds > 0),
    ADD COLUMN close_timeout_seconds     integer CHECK (close_timeout_seconds > 0),
    ADD COLUMN warn_before_seconds       integer CHECK (warn_before_seconds >= 0),
    -- {"A": {"follow_up_timeout_seconds": 2592000, "close_timeout_seconds": null}, ...}
    ADD COLUMN grade_overrides           jsonb   NOT NULL DEFAULT '{}',
    ADD COLUMN recycle_to_pool_id        uuid,
    -- Optimistic concurrency for UpdatePool: an update applies only to the version it read.
    ADD COLUMN version                   bigint  NOT NULL DEFAULT 1,
    ADD FOREIGN KEY (tenant_id, recycle_to_pool_id) REFERENCES pools (tenant_id, id);

-- The daily claim quota lives on the member row beside held_count, so one conditional UPDATE
-- of that row checks and spends cap and quota together, atomically, under any concurrency.
-- claims_day is the calendar day in the pool's time zone that claims_today counts.
ALTER TABLE members
    ADD COLUMN claims_day   date,
    ADD COLUMN claims_today integer NOT NULL DEFAULT 0 CHECK (claims_today >= 0);

-- A lead's follow-up timeout: its grade's override, else the pool's.
CREATE FUNCTION follow_up_timeout(p pools, grade text) RETURNS interval
LANGUAGE sql STABLE AS $$
    SELECT make_interval(secs => CASE
        WHEN p.grade_overrides -> grade ? 'follow_up_timeout_seconds'
            THEN (p.grade_overrides -> grade ->> 'follow_up_timeout_seconds')::integer
        ELSE p.follow_up_timeout_seconds END)
$$;

-- A lead's close timeout: its grade's override, else the pool's.
CREATE FUNCTION close_timeout(p pools, grade text) RETURNS interval
LANGUAGE sql STABLE AS $$
    SELECT make_interval(secs => CASE
        WHEN p.grade_overrides -> grade ? 'close_timeout_seconds'
            THEN (p.grade_overrides -> grade ->> 'close_timeout_seconds')::integer
        ELSE p.close_timeout_seconds END)
$$;
