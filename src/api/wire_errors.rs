//! Failures tonic answers before our handlers run — a request over the size limit, a body that
//! is not the method's protobuf message — turned into the contract's statuses with ErrorInfo:
//! `RESOURCE_EXHAUSTED`/`MESSAGE_TOO_LARGE` (with the limit) instead of tonic's bare
//! `OUT_OF_RANGE`, and `INVALID_ARGUMENT`/`VALIDATION_FAILED` instead of `INTERNAL`.

use tonic::Code;

use crate::domain::DomainError;
use crate::domain::error::FieldViolation;

/// What a status tonic produced itself means in the contract, if it is one of those.
fn contract_error(code: Code, message: &str) -> Option<DomainError> {
    match code {
        Code::OutOfRange if message.contains("message length too large") => {
            limit_of(message).map(|limit_bytes| DomainError::MessageTooLarge { limit_bytes })
        }
        Code::Internal if message.starts_with("failed to decode Protobuf message") => {
            Some(DomainError::ValidationFailed(vec![FieldViolation::new(
                "request",
                "is not a valid protobuf message of this method's request type",
            )]))
        }
        _ => None,
    }
}

/// The limit tonic's size refusal names ("… the limit is: 4194304 bytes"): the server's
/// configured `max_message_bytes`, whichever service refused.
fn limit_of(message: &str) -> Option<usize> {
    let (_, rest) = message.split_once("the limit is: ")?;
    rest.split(' ').next()?.parse().ok()
}

/// The contract's status in place of tonic's, for a trailers-only error answer: the response
/// map of every call (`tower::util::MapResponseLayer`).
pub fn translate<R: Default>(response: http::Response<R>) -> http::Response<R> {
    let Some(status) = tonic::Status::from_header_map(response.headers()) else {
        return response;
    };
    match contract_error(status.code(), status.message()) {
        Some(err) => tonic::Status::from(err).into_http(),
        None => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tonics_own_size_and_decode_failures_are_translated() {
        let too_large = contract_error(
            Code::OutOfRange,
            "Error, decoded message length too large: found 5000000 bytes, the limit is: 4194304 bytes",
        );
        let too_large = too_large.expect("translated");
        assert_eq!(too_large.reason(), "MESSAGE_TOO_LARGE");
        assert_eq!(
            too_large.metadata(),
            [("limit_bytes", "4194304".to_owned())]
        );
        let undecodable = contract_error(Code::Internal, "failed to decode Protobuf message: x");
        assert_eq!(
            undecodable.expect("translated").reason(),
            "VALIDATION_FAILED"
        );
        assert!(contract_error(Code::Internal, "An internal error occurred.").is_none());
        assert!(contract_error(Code::OutOfRange, "page out of range").is_none());
    }
}
