//! Business time in SQL (migrations/20261203200000_business_time.sql) against the reference in
//! `domain::calendar`: `business_add` and `business_sub` must give exactly what `Calendar::add`
//! and `Calendar::sub` give, for any calendar read in any pool zone, through daylight-saving
//! changes, holidays and make-up days. Deadlines are computed in set-based SQL, so this test is
//! what keeps the two implementations from drifting apart.
//!
//! The database: `DATABASE_URL` if set, else the private PostgreSQL the api tests use (started
//! from the installed binaries, see tests/api/harness.rs); each test gets a fresh migrated
//! database, dropped at the end.

use std::cell::RefCell;
use std::str::FromStr;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::collection::vec;
use proptest::prelude::{Just, ProptestConfig, any, prop_oneof};
use proptest::sample::select;
use proptest::strategy::Strategy;
use proptest::test_runner::{TestCaseError, TestRunner};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use leadpool::domain::calendar::{BusinessDuration, BusinessHoursDraft, Calendar, CalendarDraft};
use leadpool::embedded_pg::{EmbeddedPgOptions, EmbeddedPostgres};

/// Pool zones: without clock changes (Shanghai, UTC), with them at 02:00 (New York, Berlin),
/// at midnight (Havana), by 30 minutes (Lord Howe), and at the end of a Saturday (Santiago:
/// 24:00 becomes 23:00 in April, 01:00 of Sunday in September).
const ZONES: [Tz; 7] = [
    chrono_tz::Asia::Shanghai,
    chrono_tz::UTC,
    chrono_tz::America::New_York,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::Havana,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::America::Santiago,
];

/// Cases start in 2000..=2080. chrono-tz's tables end in 2099 (no clock changes after that),
/// while PostgreSQL goes on applying the zone's last rule: the two differ from 2100 on, and the
/// longest walk here (200 open hours of a 15-minute window one day a week) takes 16 years.
const FIRST_YEAR: i32 = 2000;
const LAST_YEAR: i32 = 2080;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A fresh, migrated database, dropped when the test ends.
struct TestDb {
    conn: PgConnection,
    admin: PgConnectOptions,
    name: String,
}

impl TestDb {
    async fn create() -> Self {
        let admin = admin_options().await;
        let name = format!("leadpool_business_time_{}", Uuid::now_v7().simple());
        let mut conn = PgConnection::connect_with(&admin).await.expect("connect");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.expect("close");
        let mut conn = PgConnection::connect_with(&admin.clone().database(&name))
            .await
            .expect("connect to the test database");
        sqlx::migrate!()
            .run(&mut conn)
            .await
            .expect("run migrations");
        Self { conn, admin, name }
    }

    /// Stores `draft` as the service stores a calendar (`definition` only: the trigger derives
    /// the rest) and returns its id.
    async fn insert(&mut self, draft: &CalendarDraft) -> Uuid {
        let id = Uuid::now_v7();
        let definition = serde_json::to_value(draft).expect("draft as JSON");
        sqlx::query(
            "INSERT INTO calendars (tenant_id, id, name, definition, created_at, updated_at)
             VALUES ('business-time', $1, $1::text, $2, now(), now())",
        )
        .bind(id)
        .bind(definition)
        .execute(&mut self.conn)
        .await
        .expect("insert calendar");
        id
    }

    /// `business_add`/`business_sub` of calendar `id` read in `zone`, for every query, in one
    /// round trip.
    async fn evaluate(
        &mut self,
        id: Uuid,
        zone: Tz,
        queries: &[Query],
    ) -> Vec<Option<DateTime<Utc>>> {
        let at: Vec<DateTime<Utc>> = queries.iter().map(|q| q.at).collect();
        let backwards: Vec<bool> = queries.iter().map(|q| q.backwards).collect();
        let workdays: Vec<Option<i32>> = (queries.iter())
            .map(|q| match q.duration {
                BusinessDuration::Workdays(n) => Some(i32::try_from(n).expect("small")),
                _ => None,
            })
            .collect();
        let open_seconds: Vec<Option<i64>> = (queries.iter())
            .map(|q| match q.duration {
                BusinessDuration::Open(d) => Some(d.num_seconds()),
                _ => None,
            })
            .collect();
        sqlx::query_scalar(
            "SELECT CASE WHEN q.backwards
                         THEN business_sub(c, $2, q.at, q.workdays, q.open_seconds)
                         ELSE business_add(c, $2, q.at, q.workdays, q.open_seconds) END
             FROM calendars c
             CROSS JOIN unnest($3::timestamptz[], $4::boolean[], $5::integer[], $6::bigint[])
                 WITH ORDINALITY AS q (at, backwards, workdays, open_seconds, i)
             WHERE c.tenant_id = 'business-time' AND c.id = $1
             ORDER BY q.i",
        )
        .bind(id)
        .bind(zone.name())
        .bind(at)
        .bind(backwards)
        .bind(workdays)
        .bind(open_seconds)
        .fetch_all(&mut self.conn)
        .await
        .expect("evaluate business time in SQL")
    }
}

impl Drop for TestDb {
    /// Runs inside the test's runtime, so the drop goes through a thread of its own.
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = std::mem::take(&mut self.name);
        let _ = std::thread::spawn(move || {
            runtime().block_on(async {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(&sql).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// `DATABASE_URL` if set, else the private server of tests/api/harness.rs (same directory, so
/// both reuse one server, which keeps running after the tests).
async fn admin_options() -> PgConnectOptions {
    if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        return PgConnectOptions::from_str(&url).expect("DATABASE_URL is a valid URL");
    }
    let base_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("leadpool-test-pg");
    let pg = EmbeddedPostgres::start(EmbeddedPgOptions {
        base_dir,
        bin_dir: std::env::var_os("LEADPOOL_PG_BIN_DIR").map(Into::into),
    })
    .await
    .expect("start the private PostgreSQL for tests");
    let options = pg.connect_options();
    // Deliberately not stopped: later runs and the api tests reuse it.
    std::mem::forget(pg);
    options
}

/// One evaluation: `add` (or `sub` when `backwards`) of `duration` at `at`.
#[derive(Debug, Clone, Copy)]
struct Query {
    at: DateTime<Utc>,
    duration: BusinessDuration,
    backwards: bool,
}

/// What the reference says.
fn expected(calendar: &Calendar, query: &Query) -> Option<DateTime<Utc>> {
    if query.backwards {
        calendar.sub(query.at, &query.duration)
    } else {
        calendar.add(query.at, &query.duration)
    }
}

/// Every query's SQL result against the reference's, reporting all that differ.
fn compare(
    calendar: &Calendar,
    queries: &[Query],
    got: &[Option<DateTime<Utc>>],
) -> Result<(), String> {
    assert_eq!(got.len(), queries.len(), "one SQL result per query");
    let zone = calendar.timezone();
    let local = |at: Option<DateTime<Utc>>| at.map(|at| at.with_timezone(&zone).to_rfc3339());
    let mismatches: Vec<String> = (queries.iter().zip(got))
        .filter_map(|(query, &sql)| {
            let rust = expected(calendar, query);
            (rust != sql).then(|| {
                format!(
                    "{} {:?} at {}: Rust {:?}, SQL {:?}",
                    if query.backwards { "sub" } else { "add" },
                    query.duration,
                    query.at.with_timezone(&zone).to_rfc3339(),
                    local(rust),
                    local(sql),
                )
            })
        })
        .collect();
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} differ in {}:\n{}",
            mismatches.len(),
            queries.len(),
            zone.name(),
            mismatches.join("\n")
        ))
    }
}

fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A range `first..=first + extra days`, written as a date alone when one day long.
fn range_text(first: NaiveDate, extra_days: i64) -> String {
    if extra_days == 0 {
        date_text(first)
    } else {
        format!(
            "{}..{}",
            date_text(first),
            date_text(first + TimeDelta::days(extra_days))
        )
    }
}

/// `09:15` for quarter-hour 37; the quarter-hour 96 (24:00, refused) is `23:59:59`.
fn clock_text(quarter: u32) -> String {
    if quarter >= 96 {
        "23:59:59".to_owned()
    } else {
        format!("{:02}:{:02}", quarter / 4, quarter % 4 * 15)
    }
}

/// Every instant in `FIRST_YEAR..=LAST_YEAR` at which `zone`'s UTC offset changes.
fn offset_changes(zone: Tz) -> Vec<DateTime<Utc>> {
    let offset = |at: DateTime<Utc>| zone.offset_from_utc_datetime(&at.naive_utc()).fix();
    let first = Utc
        .with_ymd_and_hms(FIRST_YEAR, 1, 1, 0, 0, 0)
        .single()
        .expect("a UTC instant");
    let mut changes = Vec::new();
    let mut day = first;
    while day.year() <= LAST_YEAR {
        let next = day + TimeDelta::days(1);
        if offset(day) != offset(next) {
            // Offsets change on whole seconds: bisect the day for the first one after it.
            let (mut before, mut after) = (day.timestamp(), next.timestamp());
            while after - before > 1 {
                let middle = before + (after - before) / 2;
                let at = DateTime::from_timestamp(middle, 0).expect("in range");
                if offset(at) == offset(day) {
                    before = middle;
                } else {
                    after = middle;
                }
            }
            changes.push(DateTime::from_timestamp(after, 0).expect("in range"));
        }
        day = next;
    }
    changes
}

/// The offset changes of each of [`ZONES`], in the same order.
static CHANGES: LazyLock<Vec<Vec<DateTime<Utc>>>> =
    LazyLock::new(|| ZONES.iter().map(|&zone| offset_changes(zone)).collect());

/// One property case: a calendar, the pool zone it is read in, and queries starting within two
/// days of one centre instant (for half the cases in a zone with clock changes, a change).
#[derive(Debug, Clone)]
struct Case {
    zone: Tz,
    draft: CalendarDraft,
    queries: Vec<Query>,
}

/// A random quarter-hour of `FIRST_YEAR..=LAST_YEAR`, or a clock change of the zone.
fn centre(zone_index: usize) -> impl Strategy<Value = DateTime<Utc>> {
    let first = Utc
        .with_ymd_and_hms(FIRST_YEAR, 1, 1, 0, 0, 0)
        .single()
        .expect("a UTC instant");
    let quarters = i64::from(LAST_YEAR - FIRST_YEAR + 1) * 365 * 96;
    let random = (0..quarters).prop_map(move |q| first + TimeDelta::minutes(15 * q));
    let changes = CHANGES[zone_index].clone();
    if changes.is_empty() {
        random.boxed()
    } else {
        prop_oneof![random, select(changes)].boxed()
    }
}

/// How far from the centre a query starts: quarter-hours (so openings and closes are hit
/// exactly) or any second, with or without microseconds, within two days.
fn offset() -> impl Strategy<Value = TimeDelta> {
    let two_days = 2 * 86_400_i64;
    prop_oneof![
        (-192_i64..=192).prop_map(|q| TimeDelta::minutes(15 * q)),
        (-two_days..=two_days).prop_map(TimeDelta::seconds),
        (-two_days..=two_days, 1_i64..1_000_000)
            .prop_map(|(s, us)| TimeDelta::seconds(s) + TimeDelta::microseconds(us)),
    ]
}

fn duration() -> impl Strategy<Value = BusinessDuration> {
    prop_oneof![
        4 => (0_u32..=25).prop_map(BusinessDuration::Workdays),
        4 => (0_i64..=200 * 60).prop_map(|m| BusinessDuration::Open(TimeDelta::minutes(m))),
        1 => (-200 * 60_i64..0).prop_map(|m| BusinessDuration::Open(TimeDelta::minutes(m))),
    ]
}

/// Business hours `[start, end)` in quarter-hours, start before end; `None` in a fifth of the
/// cases (open all day).
fn hours() -> impl Strategy<Value = Option<BusinessHoursDraft>> {
    proptest::option::weighted(0.8, (0_u32..=96, 0_u32..=96)).prop_map(|window| {
        window.map(|(a, b)| {
            let (mut start, mut end) = (a.min(b), a.max(b));
            if start == end {
                if end == 96 {
                    start -= 1;
                } else {
                    end += 1;
                }
            }
            BusinessHoursDraft {
                start: clock_text(start),
                end: clock_text(end),
            }
        })
    })
}

fn any_case() -> impl Strategy<Value = Case> {
    (0..ZONES.len()).prop_flat_map(|zone_index| {
        (
            Just(ZONES[zone_index]),
            centre(zone_index),
            0_u8..128,
            hours(),
            vec((-20_i64..40, 0_i64..10), 0..4),
            vec((-20_i64..40, 0_i64..3), 0..3),
            vec((offset(), duration(), any::<bool>()), 8),
        )
            .prop_map(|(zone, centre, week, hours, holidays, make_ups, queries)| {
                let centre_day = centre.with_timezone(&zone).date_naive();
                let day = |offset: i64| centre_day + TimeDelta::days(offset);
                let overlaps_holiday = |first: i64, extra: i64| {
                    holidays
                        .iter()
                        .any(|&(h, h_extra)| first <= h + h_extra && h <= first + extra)
                };
                let make_ups: Vec<String> = (make_ups.iter())
                    .filter(|&&(first, extra)| !overlaps_holiday(first, extra))
                    .map(|&(first, extra)| range_text(day(first), extra))
                    .collect();
                let mut workdays: Vec<i32> =
                    (1..=7).filter(|d| week & (1 << (d - 1)) != 0).collect();
                if workdays.is_empty() && make_ups.is_empty() {
                    workdays = vec![1, 2, 3, 4, 5];
                }
                Case {
                    zone,
                    draft: CalendarDraft {
                        timezone: "UTC".to_owned(),
                        workdays,
                        business_hours: hours,
                        holidays: (holidays.iter())
                            .map(|&(first, extra)| range_text(day(first), extra))
                            .collect(),
                        make_up_workdays: make_ups,
                    },
                    queries: (queries.into_iter())
                        .map(|(offset, duration, backwards)| Query {
                            at: centre + offset,
                            duration,
                            backwards,
                        })
                        .collect(),
                }
            })
    })
}

/// The stored calendar read in the pool's zone, as the service reads it.
fn reference(draft: &CalendarDraft, zone: Tz) -> Calendar {
    Calendar::try_from(draft.clone())
        .expect("a valid calendar")
        .with_timezone(zone)
}

#[test]
fn sql_business_time_equals_the_rust_reference() {
    let rt = runtime();
    let db = RefCell::new(rt.block_on(TestDb::create()));
    let config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(200)
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&any_case(), |case| {
        let calendar = reference(&case.draft, case.zone);
        let mut db = db.borrow_mut();
        let db = &mut *db;
        let case = &case;
        let got = rt.block_on(async move {
            let id = db.insert(&case.draft).await;
            db.evaluate(id, case.zone, &case.queries).await
        });
        compare(&calendar, &case.queries, &got).map_err(TestCaseError::fail)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

/// Every 45 minutes (so every quarter-hour of the clock in turn) from two days before to two
/// days after each clock change of 2027, for windows that open, close or lie in the changed
/// hour, in each zone that changes its clocks.
#[test]
fn sql_business_time_equals_the_rust_reference_around_every_2027_clock_change() {
    let rt = runtime();
    let mut db = rt.block_on(TestDb::create());
    let windows = [
        None,
        Some(("01:30", "03:00")),
        Some(("02:00", "02:30")),
        Some(("02:30", "04:00")),
        Some(("00:00", "01:00")),
        Some(("00:30", "02:15")),
        Some(("09:00", "18:00")),
        Some(("22:30", "23:45")),
    ];
    let durations = [
        BusinessDuration::Workdays(0),
        BusinessDuration::Workdays(1),
        BusinessDuration::Workdays(3),
        BusinessDuration::Open(TimeDelta::zero()),
        BusinessDuration::Open(TimeDelta::minutes(45)),
        BusinessDuration::Open(TimeDelta::hours(27)),
    ];
    let mut checked = 0;
    for (zone_index, &zone) in ZONES.iter().enumerate() {
        let changes: Vec<DateTime<Utc>> = (CHANGES[zone_index].iter())
            .copied()
            .filter(|at| at.year() == 2027)
            .collect();
        if changes.is_empty() {
            continue;
        }
        let queries: Vec<Query> = (changes.iter())
            .flat_map(|&change| (-64..=64).map(move |k| change + TimeDelta::minutes(45 * k)))
            .flat_map(|at| {
                durations.iter().flat_map(move |&duration| {
                    [false, true].map(|backwards| Query {
                        at,
                        duration,
                        backwards,
                    })
                })
            })
            .collect();
        for window in windows {
            let draft = CalendarDraft {
                timezone: "UTC".to_owned(),
                workdays: vec![1, 2, 3, 4, 5, 6, 7],
                business_hours: window.map(|(start, end)| BusinessHoursDraft {
                    start: start.to_owned(),
                    end: end.to_owned(),
                }),
                holidays: Vec::new(),
                make_up_workdays: Vec::new(),
            };
            let calendar = reference(&draft, zone);
            let got = rt.block_on(async {
                let id = db.insert(&draft).await;
                db.evaluate(id, zone, &queries).await
            });
            if let Err(report) = compare(&calendar, &queries, &got) {
                panic!("window {window:?}: {report}");
            }
            checked += queries.len();
        }
    }
    assert!(checked > 10_000, "checked {checked}");
}

/// The worked example of shared/domain.md: Friday 2027-02-05 15:00 in Shanghai plus 3
/// workdays, over the Spring Festival (2027-02-06..2027-02-12 off, Saturday 2027-02-20 a
/// make-up workday), is due Wednesday 2027-02-17 18:00; and a calendar whose holidays cover the
/// next ten years has no deadline (NULL), as the reference has none.
#[test]
fn spring_festival_deadline_in_sql() {
    let rt = runtime();
    let mut db = rt.block_on(TestDb::create());
    let shanghai = chrono_tz::Asia::Shanghai;
    let at = |d, h| {
        shanghai
            .with_ymd_and_hms(2027, 2, d, h, 0, 0)
            .single()
            .expect("a Shanghai time")
            .to_utc()
    };
    let spring_festival = CalendarDraft {
        timezone: "UTC".to_owned(),
        workdays: vec![1, 2, 3, 4, 5],
        business_hours: Some(BusinessHoursDraft {
            start: "09:00".to_owned(),
            end: "18:00".to_owned(),
        }),
        holidays: vec!["2027-02-06..2027-02-12".to_owned()],
        make_up_workdays: vec!["2027-02-20".to_owned()],
    };
    let queries = [
        Query {
            at: at(5, 15),
            duration: BusinessDuration::Workdays(3),
            backwards: false,
        },
        Query {
            at: at(17, 18),
            duration: BusinessDuration::Workdays(3),
            backwards: true,
        },
        Query {
            at: at(5, 17),
            duration: BusinessDuration::Open(TimeDelta::hours(3)),
            backwards: false,
        },
    ];
    let (got, no_rule) = rt.block_on(async {
        let id = db.insert(&spring_festival).await;
        let no_rule: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT business_add(c, 'Asia/Shanghai', now(), NULL, NULL) FROM calendars c
             WHERE tenant_id = 'business-time' AND id = $1",
        )
        .bind(id)
        .fetch_one(&mut db.conn)
        .await
        .expect("no rule");
        (db.evaluate(id, shanghai, &queries).await, no_rule)
    });
    assert_eq!(got, [Some(at(17, 18)), Some(at(5, 18)), Some(at(15, 11))]);
    assert_eq!(no_rule, None, "no rule, no deadline");
    let calendar = reference(&spring_festival, shanghai);
    compare(&calendar, &queries, &got).unwrap_or_else(|report| panic!("{report}"));

    let never_open = CalendarDraft {
        timezone: "UTC".to_owned(),
        workdays: vec![1],
        business_hours: None,
        holidays: vec!["2027-01-01..2040-12-31".to_owned()],
        make_up_workdays: Vec::new(),
    };
    let start = at(1, 0);
    let queries = [
        Query {
            at: start,
            duration: BusinessDuration::Workdays(1),
            backwards: false,
        },
        Query {
            at: start,
            duration: BusinessDuration::Open(TimeDelta::hours(1)),
            backwards: false,
        },
        Query {
            at: start + TimeDelta::days(365 * 12),
            duration: BusinessDuration::Open(TimeDelta::hours(1)),
            backwards: true,
        },
    ];
    let got = rt.block_on(async {
        let id = db.insert(&never_open).await;
        db.evaluate(id, shanghai, &queries).await
    });
    assert_eq!(got, [None, None, None]);
    compare(&reference(&never_open, shanghai), &queries, &got)
        .unwrap_or_else(|report| panic!("{report}"));
}

/// The trigger keeps the derived columns in step with `definition`: the service updates only
/// the JSON, and the next deadline already reads the new holidays.
#[test]
fn an_updated_definition_moves_sql_deadlines() {
    let rt = runtime();
    let mut db = rt.block_on(TestDb::create());
    let shanghai = chrono_tz::Asia::Shanghai;
    let at = |d, h| {
        shanghai
            .with_ymd_and_hms(2027, 2, d, h, 0, 0)
            .single()
            .expect("a Shanghai time")
            .to_utc()
    };
    let mut draft = CalendarDraft {
        timezone: "UTC".to_owned(),
        workdays: vec![1, 2, 3, 4, 5],
        business_hours: Some(BusinessHoursDraft {
            start: "09:00".to_owned(),
            end: "18:00".to_owned(),
        }),
        holidays: vec!["2027-02-06..2027-02-12".to_owned()],
        make_up_workdays: Vec::new(),
    };
    let queries = [Query {
        at: at(5, 15),
        duration: BusinessDuration::Workdays(3),
        backwards: false,
    }];
    let id = rt.block_on(db.insert(&draft));
    draft.holidays.clear();
    let got = rt.block_on(async {
        sqlx::query(
            "UPDATE calendars SET definition = $2 WHERE tenant_id = 'business-time' AND id = $1",
        )
        .bind(id)
        .bind(serde_json::to_value(&draft).expect("draft as JSON"))
        .execute(&mut db.conn)
        .await
        .expect("update calendar");
        db.evaluate(id, shanghai, &queries).await
    });
    assert_eq!(got, [Some(at(10, 18))], "Monday, Tuesday, Wednesday");
}

/// The walk gives up after exactly 3,660 closed days in a row, as the reference does: open
/// days 3,660 days apart are still found, 3,661 apart they are not.
#[test]
fn the_horizon_is_the_reference_horizon() {
    let rt = runtime();
    let mut db = rt.block_on(TestDb::create());
    let first = NaiveDate::from_ymd_opt(2027, 3, 1).expect("a date");
    let noon = |day: NaiveDate| day.and_hms_opt(12, 0, 0).expect("a time").and_utc();
    for apart in [3_659, 3_660, 3_661] {
        let last = first + TimeDelta::days(apart);
        let draft = CalendarDraft {
            timezone: "UTC".to_owned(),
            workdays: Vec::new(),
            business_hours: None,
            holidays: Vec::new(),
            make_up_workdays: vec![date_text(first), date_text(last)],
        };
        let queries = [
            Query {
                at: noon(first),
                duration: BusinessDuration::Workdays(1),
                backwards: false,
            },
            Query {
                at: noon(first),
                duration: BusinessDuration::Open(TimeDelta::hours(13)),
                backwards: false,
            },
            Query {
                at: noon(last),
                duration: BusinessDuration::Open(TimeDelta::hours(13)),
                backwards: true,
            },
            Query {
                at: noon(last),
                duration: BusinessDuration::Workdays(1),
                backwards: true,
            },
        ];
        let got = rt.block_on(async {
            let id = db.insert(&draft).await;
            db.evaluate(id, chrono_tz::UTC, &queries).await
        });
        let calendar = reference(&draft, chrono_tz::UTC);
        compare(&calendar, &queries, &got)
            .unwrap_or_else(|report| panic!("{apart} days apart: {report}"));
        let found = got.iter().filter(|at| at.is_some()).count();
        assert_eq!(
            found,
            if apart <= 3_660 { 4 } else { 0 },
            "{apart} days apart"
        );
    }
}

/// A walk ends after a century of days in all, in SQL as in the reference: ten years of open
/// time in a calendar open one minute a day (a valid rule, five million days away) is no
/// deadline, found at once, where 36,000 minutes still is one.
#[test]
fn a_walk_ends_after_a_century_as_the_reference_does() {
    let rt = runtime();
    let mut db = rt.block_on(TestDb::create());
    let draft = CalendarDraft {
        timezone: "UTC".to_owned(),
        workdays: vec![1, 2, 3, 4, 5, 6, 7],
        business_hours: Some(BusinessHoursDraft {
            start: "23:58".to_owned(),
            end: "23:59".to_owned(),
        }),
        holidays: Vec::new(),
        make_up_workdays: Vec::new(),
    };
    let start = NaiveDate::from_ymd_opt(2027, 3, 1)
        .and_then(|day| day.and_hms_opt(12, 0, 0))
        .expect("a time")
        .and_utc();
    let open = |minutes: i64, backwards: bool| Query {
        at: start,
        duration: BusinessDuration::Open(TimeDelta::minutes(minutes)),
        backwards,
    };
    let queries = [
        open(36_000, false),
        open(36_000, true),
        open(40_000, false),
        open(40_000, true),
        open(315_360_000 / 60, false),
    ];
    let got = rt.block_on(async {
        let id = db.insert(&draft).await;
        db.evaluate(id, chrono_tz::UTC, &queries).await
    });
    compare(&reference(&draft, chrono_tz::UTC), &queries, &got)
        .unwrap_or_else(|report| panic!("{report}"));
    let found: Vec<bool> = got.iter().map(Option::is_some).collect();
    assert_eq!(found, [true, true, false, false, false]);
}
