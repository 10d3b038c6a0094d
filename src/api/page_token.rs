//! Opaque keyset page tokens. A token carries the position after the last row and the filter
//! it was issued for, so it cannot be replayed against another query. It is not a secret:
//! every query is still scoped to the caller's tenant and rights.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::domain::DomainError;
use crate::domain::listing::SortValue;

#[derive(Serialize, Deserialize)]
struct Token<F, K> {
    filter: F,
    after: K,
}

pub fn encode<F: Serialize, K: Serialize>(filter: &F, after: &K) -> String {
    // Serialising plain data to JSON cannot fail.
    let json = serde_json::to_vec(&Token { filter, after }).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// A position a token may carry: only values a row could have had, so that a token edited
/// by hand is refused as one, never sent to the database to fail there (a NUL in a text, a
/// time PostgreSQL cannot hold).
pub trait Position {
    fn is_possible(&self) -> bool;
}

impl Position for i64 {
    fn is_possible(&self) -> bool {
        true
    }
}

impl Position for Uuid {
    fn is_possible(&self) -> bool {
        true
    }
}

impl Position for String {
    fn is_possible(&self) -> bool {
        !self.contains('\0')
    }
}

/// The years every stored time lies in (the API refuses others on input).
impl Position for DateTime<Utc> {
    fn is_possible(&self) -> bool {
        (1..=9999).contains(&self.year())
    }
}

impl<T: Position> Position for Option<T> {
    fn is_possible(&self) -> bool {
        self.as_ref().is_none_or(Position::is_possible)
    }
}

impl<A: Position, B: Position> Position for (A, B) {
    fn is_possible(&self) -> bool {
        self.0.is_possible() && self.1.is_possible()
    }
}

impl Position for SortValue {
    fn is_possible(&self) -> bool {
        match self {
            SortValue::Time(at) => at.is_possible(),
            SortValue::Text(text) => text.is_possible(),
        }
    }
}

/// The position in a token, or `None` for an empty token (the first page). A token that does
/// not decode, was issued for another filter, or holds a position no row can have is
/// `BAD_PAGE_TOKEN`.
pub fn decode<F, K>(token: &str, filter: &F) -> Result<Option<K>, DomainError>
where
    F: DeserializeOwned + PartialEq,
    K: DeserializeOwned + Position,
{
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| DomainError::BadPageToken)?;
    let token: Token<F, K> =
        serde_json::from_slice(&bytes).map_err(|_| DomainError::BadPageToken)?;
    if token.filter == *filter && token.after.is_possible() {
        Ok(Some(token.after))
    } else {
        Err(DomainError::BadPageToken)
    }
}

/// Splits the page from the extra row fetched to learn whether another page follows, and
/// returns the next token built from the page's last row.
pub fn paginate<T, F: Serialize, K: Serialize>(
    mut rows: Vec<T>,
    page_size: usize,
    filter: &F,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, String) {
    if rows.len() <= page_size {
        return (rows, String::new());
    }
    rows.truncate(page_size);
    let next = rows
        .last()
        .map(|last| encode(filter, &key(last)))
        .unwrap_or_default();
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_for_its_filter_only() {
        let token = encode(&"pool-a", &(7_i64, "x".to_owned()));
        let after: Option<(i64, String)> = decode(&token, &"pool-a".to_owned()).expect("valid");
        assert_eq!(after, Some((7, "x".to_owned())));
        assert!(matches!(
            decode::<String, (i64, String)>(&token, &"pool-b".to_owned()),
            Err(DomainError::BadPageToken)
        ));
        assert!(matches!(
            decode::<String, i64>("!!not base64!!", &String::new()),
            Err(DomainError::BadPageToken)
        ));
    }

    /// A token edited by hand to hold what no row can (a NUL, a time before year 1) is refused
    /// here, not sent to the database.
    #[test]
    fn impossible_positions_are_bad_tokens() {
        let long_ago = DateTime::<Utc>::MIN_UTC;
        let forged = [
            encode(&"f", &(SortValue::Text("A\0".into()), Uuid::nil())),
            encode(&"f", &(SortValue::Time(Some(long_ago)), Uuid::nil())),
            encode(&"f", &(Some(long_ago), 1_i64)),
        ];
        for token in &forged[..2] {
            let decoded = decode::<String, (SortValue, Uuid)>(token, &"f".to_owned());
            assert!(matches!(decoded, Err(DomainError::BadPageToken)), "{token}");
        }
        let decoded = decode::<String, (Option<DateTime<Utc>>, i64)>(&forged[2], &"f".into());
        assert!(matches!(decoded, Err(DomainError::BadPageToken)));
        let fine = encode(&"f", &(SortValue::Text("A".into()), Uuid::nil()));
        let decoded = decode::<String, (SortValue, Uuid)>(&fine, &"f".to_owned());
        assert!(matches!(decoded, Ok(Some(_))));
    }

    #[test]
    fn paginate_emits_a_token_only_when_more_rows_follow() {
        let (page, next) = paginate(vec![1, 2, 3], 2, &"f", |n| *n);
        assert_eq!(page, [1, 2]);
        assert!(!next.is_empty());
        let (page, next) = paginate(vec![1, 2], 2, &"f", |n| *n);
        assert_eq!(page, [1, 2]);
        assert!(next.is_empty());
    }
}
