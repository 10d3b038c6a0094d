-- Business time in SQL (shared/domain.md "Business time"): deadlines stay computed inside the
-- set-based statements that write them, so the calendar arithmetic of domain::calendar
-- (Calendar::add and Calendar::sub with BusinessDuration::Workdays and ::Open) is restated
-- here, result for result. tests/business_time.rs property-tests the two against each other;
-- a change to either side must keep that test passing.

-- The definition in a form cheap to evaluate per day walked, derived from `definition` (the JSON
-- of CalendarDraft) by the trigger below on every insert and update, so the Rust code that
-- writes `definition` stays as it is and the two never disagree:
-- - workdays: the ISO weekdays (1 = Monday … 7 = Sunday), sorted, distinct;
-- - opens, closes: the business hours [opens, closes) as local times; both NULL: open all day;
-- - holidays, make_up_workdays: the dates listed (inclusive ranges become daterange's [a, b+1)),
--   merged by the multirange itself.
-- The definition's own `timezone` plays no part: a calendar is read in the pool's zone.
ALTER TABLE calendars
    ADD COLUMN workdays         integer[],
    ADD COLUMN opens            time,
    ADD COLUMN closes           time,
    ADD COLUMN holidays         datemultirange,
    ADD COLUMN make_up_workdays datemultirange;

-- The dates of a JSON array of 'YYYY-MM-DD' and 'YYYY-MM-DD..YYYY-MM-DD' texts.
CREATE FUNCTION calendar_dates(texts jsonb) RETURNS datemultirange
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(range_agg(daterange(btrim(split_part(t, '..', 1))::date,
                                        btrim(COALESCE(NULLIF(split_part(t, '..', 2), ''),
                                                       split_part(t, '..', 1)))::date,
                                        '[]')),
                    '{}'::datemultirange)
    FROM jsonb_array_elements_text(COALESCE(NULLIF(texts, 'null'::jsonb), '[]'::jsonb)) AS t
$$;

-- Derives the columns above from `definition`; they cannot be written any other way.
CREATE FUNCTION calendars_derive() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    hours jsonb := NULLIF(NEW.definition -> 'business_hours', 'null'::jsonb);
BEGIN
    NEW.workdays := ARRAY(
        SELECT DISTINCT d::integer
        FROM jsonb_array_elements_text(
            COALESCE(NULLIF(NEW.definition -> 'workdays', 'null'::jsonb), '[]'::jsonb)) AS d
        ORDER BY 1);
    NEW.opens := btrim(hours ->> 'start')::time;
    NEW.closes := btrim(hours ->> 'end')::time;
    NEW.holidays := calendar_dates(NEW.definition -> 'holidays');
    NEW.make_up_workdays := calendar_dates(NEW.definition -> 'make_up_workdays');
    RETURN NEW;
END
$$;

CREATE TRIGGER calendars_derive BEFORE INSERT OR UPDATE ON calendars
    FOR EACH ROW EXECUTE FUNCTION calendars_derive();

UPDATE calendars SET definition = definition;

ALTER TABLE calendars
    ALTER COLUMN workdays SET NOT NULL,
    ALTER COLUMN holidays SET NOT NULL,
    ALTER COLUMN make_up_workdays SET NOT NULL,
    ADD CONSTRAINT calendars_hours_check
        CHECK ((opens IS NULL) = (closes IS NULL) AND (opens IS NULL OR opens < closes));

-- The instant a wall clock in `tz` reads `local` (domain::calendar::local): for a time the
-- clocks skip, the instant they jump (the first instant reading `local` or later); for a time
-- they show twice, the first showing, or the last when `latest` (a window's close).
-- PostgreSQL's own `local AT TIME ZONE tz` reads a skipped time with the offset from before the
-- jump (an instant after it) and a repeated time with the offset from after (the last showing),
-- so the offsets 16 hours either side (further than any UTC offset) are compared instead:
-- equal, `local` shows once; different, each is tried by reading the instant back, and a time
-- neither shows lies in the gap, whose end is found by bisecting whole seconds (offsets change
-- on whole seconds). Like the Rust, this assumes at most one offset change within 16 hours of
-- `local`.
CREATE FUNCTION business_instant(tz text, local timestamp, latest boolean)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    before_off interval := (((local - interval '16 hours') AT TIME ZONE 'UTC') AT TIME ZONE tz)
                           - (local - interval '16 hours');
    after_off interval := (((local + interval '16 hours') AT TIME ZONE 'UTC') AT TIME ZONE tz)
                          - (local + interval '16 hours');
    early timestamptz;
    late timestamptz;
    early_shows boolean;
    late_shows boolean;
    lo bigint;
    hi bigint;
    mid bigint;
BEGIN
    IF before_off = after_off THEN
        RETURN (local - before_off) AT TIME ZONE 'UTC';
    END IF;
    early := (local - GREATEST(before_off, after_off)) AT TIME ZONE 'UTC';
    late := (local - LEAST(before_off, after_off)) AT TIME ZONE 'UTC';
    early_shows := (early AT TIME ZONE tz) = local;
    late_shows := (late AT TIME ZONE tz) = local;
    IF early_shows AND late_shows THEN
        RETURN CASE WHEN latest THEN late ELSE early END;
    ELSIF early_shows THEN
        RETURN early;
    ELSIF late_shows THEN
        RETURN late;
    END IF;
    -- In the gap: `early` reads before `local`, `late` after it.
    lo := floor(extract(epoch FROM early));
    hi := ceil(extract(epoch FROM late));
    WHILE hi - lo > 1 LOOP
        mid := lo + (hi - lo) / 2;
        IF (to_timestamp(mid) AT TIME ZONE tz) >= local THEN
            hi := mid;
        ELSE
            lo := mid;
        END IF;
    END LOOP;
    RETURN to_timestamp(hi);
END
$$;

-- The open time of the workday `day` in `tz` (Calendar::interval_of): [opening of `opens`,
-- closing of `closes`), or the whole day when the calendar has no business hours (both NULL),
-- cut to end at the first showing of the next day's midnight so days never overlap. NULL when
-- nothing is left (a 02:00–02:30 window on a day the clocks jump from 02:00 to 03:00).
-- business_add and business_sub inline the common case, a day with no clock change near it, and
-- call this for the others.
CREATE FUNCTION business_hours_of(tz text, day date, opens time, closes time)
RETURNS tstzrange
LANGUAGE plpgsql STABLE AS $$
DECLARE
    next_day timestamptz := business_instant(tz, (day + 1)::timestamp, false);
    open_at timestamptz;
    close_at timestamptz;
BEGIN
    IF opens IS NULL THEN
        open_at := business_instant(tz, day::timestamp, false);
        close_at := next_day;
    ELSE
        open_at := business_instant(tz, day + opens, false);
        close_at := LEAST(business_instant(tz, day + closes, true), next_day);
    END IF;
    IF open_at < close_at THEN
        RETURN tstzrange(open_at, close_at);
    END IF;
    RETURN NULL;
END
$$;

-- `start` moved forward through the open time of calendar `c` read in zone `tz` (the pool's):
-- Calendar::add with BusinessDuration::Workdays(workdays) or ::Open(open_seconds seconds); give
-- one of the two, the other NULL (both NULL, no rule: NULL, as `start + NULL::interval`; both
-- given is an error, as are a negative workdays and a missing calendar, `c.id IS NULL`: a pool
-- without a calendar counts its rules on the wall clock and must not come here).
-- - workdays n: the close of the n-th workday after the start's business day (the workday whose
--   open time holds `start`, or for a start in closed time the workday of the next opening);
--   0 is the close of the business day itself;
-- - open_seconds: walk forward through open intervals until that much open time has passed; a
--   start in closed time counts from the next opening; a walk that uses up an interval exactly
--   ends at its close; 0 is the next open instant; a negative amount is business_sub.
-- NULL for a NULL start, and when the walk meets 3,660 days in a row without open time
-- (intervals::HORIZON_DAYS).
--
-- Days are walked one at a time from the day before the start's local date, as
-- Calendar::open_intervals does. Which days are workdays (Calendar::is_workday): a holiday is
-- closed; else a make-up workday is open; else its weekday decides. A workday's open time is
-- business_hours_of, computed here directly when the UTC offset is the same 16 hours before its
-- midnight and 16 hours after the next (no clock change can then touch its local times, given
-- that offsets never change twice within 56 hours: in the tz database since 1900 they are at
-- least 95 hours apart).
CREATE FUNCTION business_add(c calendars, tz text, start timestamptz, workdays integer,
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
    WHILE closed < 3660 LOOP
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

-- `deadline` moved back through the open time of calendar `c` read in zone `tz`: Calendar::sub
-- with BusinessDuration::Workdays(workdays) or ::Open(open_seconds seconds); arguments as for
-- business_add.
-- - open_seconds: walk back through open intervals until that much open time lies between the
--   result and `deadline`; a deadline in closed time counts back from the previous close; the
--   latest such instant; a negative amount is business_add;
-- - workdays n: the same local time of day (the wall clock of the deadline, or of the previous
--   close for a deadline in closed time, since the midnight of its day) n workdays before the
--   deadline's day (the workday whose open time holds the deadline or ends at it; in closed
--   time, the previous close's), read as an opening and cut to that day's open time; 0 is the
--   deadline itself, or the previous close for one in closed time.
-- Days are walked back one at a time from the day after the deadline's local date
-- (Calendar::open_intervals_before), as business_add walks them forward; NULL as there.
CREATE FUNCTION business_sub(c calendars, tz text, deadline timestamptz, workdays integer,
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
    WHILE closed < 3660 LOOP
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
