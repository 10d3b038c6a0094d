//! Pools and their rules.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::validate::{MAX_NAME_CHARS, Validator};

pub const DEFAULT_TIMEZONE: &str = "UTC";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
    pub max_held_per_member: Option<i32>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated request to create a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPool {
    pub name: String,
    pub timezone: String,
    pub max_held_per_member: Option<i32>,
}

impl NewPool {
    pub fn parse(
        v: &mut Validator,
        name: &str,
        timezone: &str,
        max_held_per_member: Option<i32>,
    ) -> Self {
        Self {
            name: v.required_text("name", name, MAX_NAME_CHARS),
            timezone: parse_timezone(v, timezone),
            max_held_per_member: v.non_negative("max_held_per_member", max_held_per_member),
        }
    }
}

/// An IANA zone name (empty means UTC), checked against the tz database so quota days are real days.
fn parse_timezone(v: &mut Validator, timezone: &str) -> String {
    let timezone = timezone.trim();
    if timezone.is_empty() {
        return DEFAULT_TIMEZONE.to_owned();
    }
    match timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => tz.name().to_owned(),
        Err(_) => {
            v.violation(
                "timezone",
                format!("must be an IANA time zone such as Asia/Shanghai, got {timezone:?}"),
            );
            timezone.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_timezone_means_utc() {
        let mut v = Validator::new();
        let pool = NewPool::parse(&mut v, "East", "", None);
        assert!(v.finish(()).is_ok());
        assert_eq!(pool.timezone, "UTC");
    }

    #[test]
    fn rejects_unknown_timezone_empty_name_and_negative_cap_together() {
        let mut v = Validator::new();
        NewPool::parse(&mut v, " ", "Mars/Olympus", Some(-3));
        let err = v.finish(()).expect_err("invalid");
        let fields: Vec<_> = err
            .field_violations()
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["name", "timezone", "max_held_per_member"]);
    }
}
