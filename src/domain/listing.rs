//! What a lead listing may ask for: its filters, its order (AIP-132 `order_by`) and the keyset
//! position after a row in that order.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::lead::{Lead, LeadState};
use super::validate::Validator;

/// The filters of a lead listing, validated; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadFilter {
    pub pool_id: Option<Uuid>,
    pub owner_id: Option<String>,
    pub state: Option<LeadState>,
    pub grade: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub tag: Option<String>,
    /// Text that name or company contains, case-insensitively.
    pub query: Option<String>,
    /// Owned leads whose nearer deadline (follow-up or close) is before this time.
    pub deadline_before: Option<DateTime<Utc>>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// The keys a listing may be ordered by; ties are always broken by lead id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderKey {
    #[default]
    CreatedAt,
    PoolEnteredAt,
    FollowUpDeadline,
    Grade,
}

impl OrderKey {
    const ALL: [(&'static str, OrderKey); 4] = [
        ("created_at", OrderKey::CreatedAt),
        ("pool_entered_at", OrderKey::PoolEnteredAt),
        ("follow_up_deadline", OrderKey::FollowUpDeadline),
        ("grade", OrderKey::Grade),
    ];

    /// The lead's value of this key. An unset time sorts after every set one.
    pub fn value_of(self, lead: &Lead) -> SortValue {
        match self {
            OrderKey::CreatedAt => SortValue::Time(Some(lead.created_at)),
            OrderKey::PoolEnteredAt => SortValue::Time(lead.pool_entered_at),
            OrderKey::FollowUpDeadline => SortValue::Time(lead.follow_up_deadline),
            OrderKey::Grade => SortValue::Text(lead.grade.clone()),
        }
    }
}

/// A lead's value of the order key; `Time(None)` is "never", later than any time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortValue {
    Time(Option<DateTime<Utc>>),
    Text(String),
}

/// The order of a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadOrder {
    pub key: OrderKey,
    pub descending: bool,
}

impl LeadOrder {
    /// Reads `order_by`: `<key>` or `<key> asc|desc`; empty is `created_at asc`.
    pub fn parse(v: &mut Validator, order_by: &str) -> Self {
        let mut words = order_by.split_whitespace();
        let Some(name) = words.next() else {
            return Self::default();
        };
        let key = OrderKey::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k);
        let descending = match (words.next(), words.next()) {
            (None, None) => Some(false),
            (Some(dir), None) if dir.eq_ignore_ascii_case("asc") => Some(false),
            (Some(dir), None) if dir.eq_ignore_ascii_case("desc") => Some(true),
            _ => None,
        };
        match key.zip(descending) {
            Some((key, descending)) => Self { key, descending },
            None => {
                v.violation(
                    "order_by",
                    "must be one of created_at, pool_entered_at, follow_up_deadline, grade, \
                     optionally followed by asc or desc",
                );
                Self::default()
            }
        }
    }

    /// Where the page after `lead` starts.
    pub fn position_after(self, lead: &Lead) -> (SortValue, Uuid) {
        (self.key.value_of(lead), lead.id)
    }

    /// Whether `value` is of this order's key: a time for the time keys, a text for `grade`.
    pub fn fits(self, value: &SortValue) -> bool {
        matches!(
            (self.key, value),
            (OrderKey::Grade, SortValue::Text(_))
                | (
                    OrderKey::CreatedAt | OrderKey::PoolEnteredAt | OrderKey::FollowUpDeadline,
                    SortValue::Time(_)
                )
        )
    }
}

/// `text` as an ILIKE pattern matching it anywhere, its wildcards taken literally.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(order_by: &str) -> Result<LeadOrder, Vec<String>> {
        let mut v = Validator::new();
        let order = LeadOrder::parse(&mut v, order_by);
        v.finish(order).map_err(|e| {
            e.field_violations()
                .iter()
                .map(|f| f.field.clone())
                .collect()
        })
    }

    #[test]
    fn order_by_reads_key_and_direction() {
        assert_eq!(parse(""), Ok(LeadOrder::default()));
        assert_eq!(
            parse("grade desc"),
            Ok(LeadOrder {
                key: OrderKey::Grade,
                descending: true
            })
        );
        assert_eq!(
            parse(" follow_up_deadline ASC "),
            Ok(LeadOrder {
                key: OrderKey::FollowUpDeadline,
                descending: false
            })
        );
        assert_eq!(
            parse("pool_entered_at").map(|o| o.key),
            Ok(OrderKey::PoolEnteredAt)
        );
    }

    #[test]
    fn order_by_refuses_unknown_keys_and_extra_words() {
        for bad in [
            "name",
            "grade sideways",
            "grade desc, created_at",
            "created_at asc x",
        ] {
            assert_eq!(parse(bad), Err(vec!["order_by".to_owned()]), "{bad}");
        }
    }

    #[test]
    fn contains_pattern_escapes_wildcards() {
        assert_eq!(contains_pattern("Acme"), "%Acme%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
