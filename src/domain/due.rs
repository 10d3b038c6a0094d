//! How a pool's owned leads fall due, per owner and day: what `PreviewDeadlines` shows a
//! manager before a rule or calendar change, now against with the change.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// How many days ahead a preview counts when the caller does not say.
pub const DEFAULT_PREVIEW_DAYS: i64 = 31;

/// One owner's leads due on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCount {
    pub user_id: String,
    pub day: NaiveDate,
    pub due: i64,
}

/// One owner's leads due on one day, under the rules now and with a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueDay {
    pub user_id: String,
    pub day: NaiveDate,
    pub due_now: i64,
    pub due_with_change: i64,
}

/// Both countings side by side, by day and then owner; a day one of them lacks counts zero.
pub fn compare(now: Vec<DueCount>, with_change: Vec<DueCount>) -> Vec<DueDay> {
    let mut days: BTreeMap<(NaiveDate, String), DueDay> = BTreeMap::new();
    let tagged = now
        .into_iter()
        .map(|c| (c, true))
        .chain(with_change.into_iter().map(|c| (c, false)));
    for (count, is_now) in tagged {
        let day = days
            .entry((count.day, count.user_id.clone()))
            .or_insert_with(|| DueDay {
                user_id: count.user_id,
                day: count.day,
                due_now: 0,
                due_with_change: 0,
            });
        if is_now {
            day.due_now += count.due;
        } else {
            day.due_with_change += count.due;
        }
    }
    days.into_values().collect()
}

#[cfg(test)]
mod tests {
    use chrono::Datelike;

    use super::*;

    fn count(user: &str, day: u32, due: i64) -> DueCount {
        DueCount {
            user_id: user.into(),
            day: NaiveDate::from_ymd_opt(2027, 2, day).unwrap(),
            due,
        }
    }

    #[test]
    fn days_are_merged_by_day_then_owner_and_missing_ones_count_zero() {
        let now = vec![count("bob", 8, 2), count("alice", 8, 1)];
        let with_change = vec![count("alice", 15, 1), count("bob", 8, 2)];
        let merged = compare(now, with_change);
        let days: Vec<(u32, &str, i64, i64)> = merged
            .iter()
            .map(|d| {
                (
                    d.day.day(),
                    d.user_id.as_str(),
                    d.due_now,
                    d.due_with_change,
                )
            })
            .collect();
        assert_eq!(
            days,
            [(8, "alice", 1, 0), (8, "bob", 2, 2), (15, "alice", 0, 1)]
        );
    }
}
