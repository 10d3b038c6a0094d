//! The one mapping from [`DomainError`] to `tonic::Status`: a gRPC code, a plain sentence,
//! `google.rpc.ErrorInfo` (reason, domain `leadpool.v1`, metadata) and, for validation,
//! `google.rpc.BadRequest` naming every bad field.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::DomainError;
use crate::proto;
use crate::service::deadline;

pub const ERROR_DOMAIN: &str = "leadpool.v1";

fn code(err: &DomainError) -> Code {
    use DomainError as E;
    match err {
        E::ValidationFailed(_)
        | E::BadPageToken
        | E::UnknownReleaseReason { .. }
        | E::RequestIdReused => Code::InvalidArgument,
        E::MissingIdentity(_) | E::InvalidToken(_) => Code::Unauthenticated,
        E::NotPoolMember { .. }
        | E::ManagerRequired { .. }
        | E::UserNotManaged { .. }
        | E::AdminRequired
        | E::NotLeadOwner { .. }
        | E::OwnerOnly { .. } => Code::PermissionDenied,
        E::PoolNotFound(_)
        | E::CalendarNotFound(_)
        | E::AbsenceNotFound(_)
        | E::LeadNotFound(_)
        | E::MemberNotFound { .. }
        | E::UserNotMember { .. }
        | E::UserNotActiveMember { .. } => Code::NotFound,
        E::PoolNameTaken
        | E::CalendarNameTaken
        | E::MemberExists { .. }
        | E::ExternalRefTaken { .. }
        | E::DuplicateLead { .. } => Code::AlreadyExists,
        E::LeadNotInPool(_)
        | E::LeadNotOwned(_)
        | E::LeadLocked(_)
        | E::LeadClosed(_)
        | E::MemberInactive { .. }
        | E::HeldLimitReached { .. }
        | E::PoolArchived(_)
        | E::CalendarInUse(_)
        | E::MemberAway { .. }
        | E::AbsenceOverlaps { .. }
        | E::LeadEmbargoed { .. }
        | E::NoClaimableLead(_)
        | E::NotPendingAcceptance(_)
        | E::AbsenceEnded(_)
        | E::ReclaimCooldown { .. } => Code::FailedPrecondition,
        E::DailyClaimLimitReached { .. } | E::MessageTooLarge { .. } => Code::ResourceExhausted,
        E::ConcurrentModification | E::VersionConflict { .. } => Code::Aborted,
        E::DatabaseUnavailable => Code::Unavailable,
        E::DeadlineExceeded | E::DeadlineExceededAfter(_) => Code::DeadlineExceeded,
        E::Internal(_) => Code::Internal,
    }
}

/// Logs a failed call once: our own errors at ERROR with their cause, an unreachable database
/// at WARN, and refusals, which are the service working as it should, at DEBUG.
fn log(err: &DomainError) {
    match err {
        DomainError::Internal(cause) => {
            tracing::error!(reason = err.reason(), cause = %ErrorChain(cause), "internal error");
        }
        DomainError::DatabaseUnavailable => tracing::warn!(reason = err.reason(), "{err}"),
        _ => tracing::debug!(reason = err.reason(), "refused: {err}"),
    }
}

/// An error with its sources, as one line.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<DomainError> for Status {
    fn from(err: DomainError) -> Self {
        // A call that commits in parts says what stays done when its deadline passes.
        let err = deadline::owned_up(err);
        log(&err);
        let metadata: HashMap<String, String> = err
            .metadata()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let mut details = ErrorDetails::new();
        details.set_error_info(err.reason(), ERROR_DOMAIN, metadata);
        for violation in err.field_violations().iter() {
            details.add_bad_request_violation(&violation.field, &violation.description);
        }
        Status::with_error_details(code(&err), err.to_string(), details)
    }
}

/// A refused item of a batch call: what the single call would have returned as its status.
pub fn refusal(err: DomainError) -> proto::ClaimRefusal {
    proto::ClaimRefusal {
        code: code(&err) as i32,
        reason: err.reason().to_owned(),
        message: err.to_string(),
        metadata: err
            .metadata()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::proto::ErrorReason;

    /// The reasons `DomainError::reason` can answer, read from its source: every reason the
    /// service sends (the auth layer's refusals are `DomainError`s too).
    fn sent() -> BTreeSet<String> {
        let source = include_str!("../domain/error.rs");
        let (_, body) = source
            .split_once("pub fn reason(&self)")
            .expect("DomainError::reason");
        let (body, _) = body.split_once("pub fn ").expect("the function after it");
        body.lines()
            .filter_map(|line| line.split_once("=> \"").map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_once('"').map(|(reason, _)| reason.to_owned()))
            .collect()
    }

    #[test]
    fn the_proto_enum_lists_exactly_the_reasons_the_service_sends() {
        let listed: BTreeSet<String> = (1..1_000)
            .filter_map(|n| ErrorReason::try_from(n).ok())
            .map(|r| {
                r.as_str_name()
                    .trim_start_matches("ERROR_REASON_")
                    .to_owned()
            })
            .collect();
        let sent = sent();
        assert!(sent.len() > 30, "read the reasons: {sent:?}");
        assert_eq!(listed, sent);
    }
}
