//! The daily claim quota: claims count per calendar day in the pool's time zone.

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// When the quota resets: the next local midnight after `now` in `timezone` (UTC if unknown).
/// Where a DST change skips midnight, the first instant of the new day.
pub fn resets_at(now: DateTime<Utc>, timezone: &str) -> DateTime<Utc> {
    let tz: Tz = timezone.parse().unwrap_or(Tz::UTC);
    let tomorrow = now
        .with_timezone(&tz)
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap_or(chrono::NaiveDate::MAX);
    let midnight = tomorrow.and_time(NaiveTime::MIN);
    tz.from_local_datetime(&midnight)
        .earliest()
        // A gap at midnight (e.g. America/Santiago): the day starts an hour later.
        .or_else(|| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                .earliest()
        })
        .map_or(now + chrono::Duration::days(1), |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("RFC 3339")
    }

    #[test]
    fn resets_at_local_midnight_of_the_pool_zone() {
        // 23:30 in Shanghai (UTC+8) is 15:30 UTC; midnight there is 16:00 UTC.
        assert_eq!(
            resets_at(utc("2026-03-02T15:30:00Z"), "Asia/Shanghai"),
            utc("2026-03-02T16:00:00Z")
        );
        // 00:30 in Shanghai: the next reset is almost a day away.
        assert_eq!(
            resets_at(utc("2026-03-02T16:30:00Z"), "Asia/Shanghai"),
            utc("2026-03-03T16:00:00Z")
        );
        assert_eq!(
            resets_at(utc("2026-03-02T23:59:59Z"), "UTC"),
            utc("2026-03-03T00:00:00Z")
        );
    }

    #[test]
    fn skipped_midnight_resets_when_the_day_starts() {
        // Santiago springs forward at 24:00 on 2026-09-05: the 6th starts at 01:00 (-03).
        assert_eq!(
            resets_at(utc("2026-09-05T12:00:00Z"), "America/Santiago"),
            utc("2026-09-06T04:00:00Z")
        );
    }
}
