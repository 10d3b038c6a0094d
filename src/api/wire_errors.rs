//! Failures tonic answers before our handlers run — a request over the size limit, a body that
//! is not the method's protobuf message — turned into the contract's statuses with ErrorInfo:
//! `RESOURCE_EXHAUSTED`/`MESSAGE_TOO_LARGE` (with the limit) instead of tonic's bare
//! `OUT_OF_RANGE`, and `INVALID_ARGUMENT`/`VALIDATION_FAILED` instead of `INTERNAL`.

use tonic::Code;

use crate::domain::DomainError;
use crate::domain::error::FieldViolation;

/// The largest request message the server decodes (tonic's default, as `shared/api.md` says).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// What a status tonic produced itself means in the contract, if it is one of those.
fn contract_error(code: Code, message: &str) -> Option<DomainError> {
    match code {
        Code::OutOfRange if message.contains("message length too large") => {
            Some(DomainError::MessageTooLarge {
                limit_bytes: MAX_MESSAGE_BYTES,
            })
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
        assert_eq!(too_large.expect("translated").reason(), "MESSAGE_TOO_LARGE");
        let undecodable = contract_error(Code::Internal, "failed to decode Protobuf message: x");
        assert_eq!(
            undecodable.expect("translated").reason(),
            "VALIDATION_FAILED"
        );
        assert!(contract_error(Code::Internal, "An internal error occurred.").is_none());
        assert!(contract_error(Code::OutOfRange, "page out of range").is_none());
    }
}
