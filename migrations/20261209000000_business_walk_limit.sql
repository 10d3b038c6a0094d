-- A walk through business time ends after a century of days (36,600), as it already ended after
-- ten years of days in a row without open time: a deadline further away is no deadline (NULL,
-- never due), as Calendar::open_intervals in Rust says (WALK_LIMIT_DAYS). A valid rule could ask
-- for more: ten years of open time in a calendar open one minute a day walked 5 million days
-- (eight seconds of database time for every lead acquired, for a deadline in the year 16417).
-- The functions are otherwise those of 20261203200000_business_time.sql.

CREATE OR REPLACE FUNCTION business_add(c calendars, tz text, start timestamptz, workdays integer,
                             open_seconds bigint)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    week integer[] := c.workdays;
    holidays datemultirange := c.holidays;
    make_ups datemultirange := c.make_up_workdays;
    opens interval := COALESCE(c.opens::interval, interval '0');
    closes interval := COALESCE(c.closes::interval, interval '24 hours');
    day date;
    midnight timestamp;
    off interval;
    hours tstzrange;
    open_at timestamptz;
    close_at timestamptz;
    closed integer := 0;
    walked integer := 0;
    n integer := workdays;
    left_us bigint := open_seconds * 1000000;
    length_us bigint;
BEGIN
    IF workdays IS NULL AND open_seconds IS NULL THEN
        RETURN NULL;
    ELSIF workdays IS NOT NULL AND open_seconds IS NOT NULL THEN
        RAISE EXCEPTION 'business_add takes one of workdays and open_seconds, not both';
    ELSIF workdays < 0 THEN
        RAISE EXCEPTION 'business_add: workdays must not be negative, got %', workdays;
    ELSIF c.id IS NULL THEN
        RAISE EXCEPTION 'business_add needs a calendar';
    ELSIF open_seconds < 0 THEN
        RETURN business_sub(c, tz, start, NULL, -open_seconds);
    ELSIF start IS NULL THEN
        RETURN NULL;
    END IF;
    day := (start AT TIME ZONE tz)::date - 1;
    WHILE closed < 3660 AND walked < 36600 LOOP
        walked := walked + 1;
        midnight := day;
        day := day + 1;
        IF holidays @> midnight::date
           OR NOT (make_ups @> midnight::date
                   OR extract(isodow FROM midnight)::integer = ANY (week)) THEN
            closed := closed + 1;
            CONTINUE;
        END IF;
        off := (((midnight - interval '16 hours') AT TIME ZONE 'UTC') AT TIME ZONE tz)
               - (midnight - interval '16 hours');
        IF off = (((midnight + interval '40 hours') AT TIME ZONE 'UTC') AT TIME ZONE tz)
                 - (midnight + interval '40 hours') THEN
            open_at := (midnight + opens - off) AT TIME ZONE 'UTC';
            close_at := (midnight + closes - off) AT TIME ZONE 'UTC';
        ELSE
            hours := business_hours_of(tz, midnight::date, c.opens, c.closes);
            IF hours IS NULL THEN
                closed := closed + 1;
                CONTINUE;
            END IF;
            open_at := lower(hours);
            close_at := upper(hours);
        END IF;
        closed := 0;
        CONTINUE WHEN close_at <= start;
        open_at := GREATEST(open_at, start);
        IF n IS NOT NULL THEN
            IF n = 0 THEN
                RETURN close_at;
            END IF;
            n := n - 1;
        ELSE
            length_us := extract(epoch FROM close_at - open_at) * 1000000;
            IF length_us >= left_us THEN
                RETURN open_at + left_us * interval '1 microsecond';
            END IF;
            left_us := left_us - length_us;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION business_sub(c calendars, tz text, deadline timestamptz, workdays integer,
                             open_seconds bigint)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    week integer[] := c.workdays;
    holidays datemultirange := c.holidays;
    make_ups datemultirange := c.make_up_workdays;
    opens interval := COALESCE(c.opens::interval, interval '0');
    closes interval := COALESCE(c.closes::interval, interval '24 hours');
    day date;
    midnight timestamp;
    off interval;
    hours tstzrange;
    open_at timestamptz;
    close_at timestamptz;
    closed integer := 0;
    walked integer := 0;
    n integer := workdays;
    left_us bigint := open_seconds * 1000000;
    length_us bigint;
    time_of_day interval;
BEGIN
    IF workdays IS NULL AND open_seconds IS NULL THEN
        RETURN NULL;
    ELSIF workdays IS NOT NULL AND open_seconds IS NOT NULL THEN
        RAISE EXCEPTION 'business_sub takes one of workdays and open_seconds, not both';
    ELSIF workdays < 0 THEN
        RAISE EXCEPTION 'business_sub: workdays must not be negative, got %', workdays;
    ELSIF c.id IS NULL THEN
        RAISE EXCEPTION 'business_sub needs a calendar';
    ELSIF open_seconds < 0 THEN
        RETURN business_add(c, tz, deadline, NULL, -open_seconds);
    ELSIF deadline IS NULL THEN
        RETURN NULL;
    END IF;
    day := (deadline AT TIME ZONE tz)::date + 1;
    WHILE closed < 3660 AND walked < 36600 LOOP
        walked := walked + 1;
        midnight := day;
        day := day - 1;
        IF holidays @> midnight::date
           OR NOT (make_ups @> midnight::date
                   OR extract(isodow FROM midnight)::integer = ANY (week)) THEN
            closed := closed + 1;
            CONTINUE;
        END IF;
        off := (((midnight - interval '16 hours') AT TIME ZONE 'UTC') AT TIME ZONE tz)
               - (midnight - interval '16 hours');
        IF off = (((midnight + interval '40 hours') AT TIME ZONE 'UTC') AT TIME ZONE tz)
                 - (midnight + interval '40 hours') THEN
            open_at := (midnight + opens - off) AT TIME ZONE 'UTC';
            close_at := (midnight + closes - off) AT TIME ZONE 'UTC';
        ELSE
            hours := business_hours_of(tz, midnight::date, c.opens, c.closes);
            IF hours IS NULL THEN
                closed := closed + 1;
                CONTINUE;
            END IF;
            open_at := lower(hours);
            close_at := upper(hours);
        END IF;
        closed := 0;
        CONTINUE WHEN open_at > deadline;
        close_at := LEAST(close_at, deadline);
        IF n IS NULL THEN
            length_us := extract(epoch FROM close_at - open_at) * 1000000;
            IF length_us >= left_us THEN
                RETURN close_at - left_us * interval '1 microsecond';
            END IF;
            left_us := left_us - length_us;
        ELSIF time_of_day IS NULL THEN
            -- The deadline's day. A whole-day close (the next midnight) reads 24:00.
            IF n = 0 THEN
                RETURN close_at;
            END IF;
            time_of_day := (close_at AT TIME ZONE tz) - midnight;
        ELSE
            n := n - 1;
            IF n = 0 THEN
                RETURN LEAST(GREATEST(business_instant(tz, midnight + time_of_day, false),
                                      open_at),
                             close_at);
            END IF;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
