//! Opaque event-stream cursors: a position (transaction, seq) in a version-tagged text,
//! base64url-encoded so callers treat it as a token. Unlike page tokens, a cursor is not
//! bound to a filter: it is a place in the tenant's stream, valid with any filter.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::event::EventPosition;
use crate::domain::validate::Validator;

const VERSION: &str = "e1";

pub fn encode(position: EventPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}.{}.{}", position.xid, position.seq))
}

fn decode(cursor: &str) -> Option<EventPosition> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('.');
    let (Some(VERSION), Some(xid), Some(seq), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let position = EventPosition {
        xid: xid.parse().ok()?,
        seq: seq.parse().ok()?,
    };
    (position.xid >= 0 && position.seq >= 0).then_some(position)
}

/// Where to start: after `cursor`, at the start when it is empty, or at the present
/// (`None`, resolved against the database) for `from_now`. A malformed cursor, or one
/// combined with `from_now`, is a violation of `field`.
pub fn parse(
    v: &mut Validator,
    field: &str,
    cursor: &str,
    from_now: bool,
) -> Option<EventPosition> {
    let cursor = cursor.trim();
    if cursor.is_empty() {
        return (!from_now).then_some(EventPosition::START);
    }
    if from_now {
        v.violation(field, "must be empty when from_now is set");
        return None;
    }
    let position = decode(cursor);
    if position.is_none() {
        v.violation(
            field,
            "is not a cursor this service issued; pass the cursor of the last event or \
             heartbeat you processed, or leave it empty to start from the first event",
        );
    }
    position
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let position = EventPosition { xid: 812, seq: 7 };
        let mut v = Validator::new();
        assert_eq!(
            parse(&mut v, "cursor", &encode(position), false),
            Some(position)
        );
        assert_eq!(
            parse(&mut v, "cursor", "", false),
            Some(EventPosition::START)
        );
        assert_eq!(parse(&mut v, "cursor", "", true), None);
        assert!(v.finish(()).is_ok());
    }

    #[test]
    fn malformed_cursors_are_violations() {
        let forged = URL_SAFE_NO_PAD.encode("e1.-3.4");
        let extra = URL_SAFE_NO_PAD.encode("e1.3.4.5");
        let other_version = URL_SAFE_NO_PAD.encode("e9.3.4");
        for bad in [
            "!!",
            "abc",
            forged.as_str(),
            extra.as_str(),
            other_version.as_str(),
        ] {
            let mut v = Validator::new();
            assert_eq!(parse(&mut v, "cursor", bad, false), None, "{bad}");
            assert!(v.finish(()).is_err(), "{bad}");
        }
        let mut v = Validator::new();
        parse(&mut v, "cursor", &encode(EventPosition::START), true);
        assert!(v.finish(()).is_err());
    }
}
