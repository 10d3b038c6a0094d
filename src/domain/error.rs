//! Every way a call can fail, one variant per machine-readable reason of `shared/api.md`.
//! `api::status` turns them into `tonic::Status` with `ErrorInfo`; nothing else does.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::committed::Committed;
use super::validate::quoted;

/// What a rule or a use case gives: its value, or the refusal or failure that stopped it.
pub type Result<T, E = DomainError> = std::result::Result<T, E>;

/// One invalid field of a request, reported all at once in `google.rpc.BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }

    /// This violation of a field of a message that `prefix` names in the request (`pool.`).
    pub fn under(self, prefix: &str) -> Self {
        Self::new(format!("{prefix}{}", self.field), self.description)
    }
}

/// What only a lead's owner may do, as its refusal says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OwnerAct {
    RecordFollowUp,
    Accept,
}

impl std::fmt::Display for OwnerAct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::RecordFollowUp => {
                "Only the lead's owner records its follow-ups; a manager may extend its deadline \
                 (ExtendDeadline) instead."
            }
            Self::Accept => {
                "Only the member the lead was pushed to may accept it; a manager may assign it \
                 to someone else."
            }
        })
    }
}

/// Serializable, so a batch's per-item refusals can be stored as an idempotent result; an
/// internal error is never stored (serializing it fails).
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum DomainError {
    #[error("The request has invalid fields: {}.", describe(.0))]
    ValidationFailed(Vec<FieldViolation>),
    #[error("{} is not a release reason of this pool; use one of: {allowed}.", quoted(.reason))]
    UnknownReleaseReason { reason: String, allowed: String },
    #[error(
        "This request_id was already used for a different request; use a new request_id for a new request."
    )]
    RequestIdReused,
    #[error(
        "The page token is malformed or belongs to a different query; start again without a token."
    )]
    BadPageToken,
    #[error("The call carries no identity: {}.", describe(.0))]
    MissingIdentity(Vec<FieldViolation>),
    #[error("The bearer token was refused: {0}.")]
    InvalidToken(String),
    #[error("Only members of the pool may do this.")]
    NotPoolMember { pool_id: Uuid },
    #[error("Only a manager of the pool (or a tenant admin) may do this.")]
    ManagerRequired { pool_id: Uuid },
    #[error("Only a tenant admin may do this.")]
    AdminRequired,
    #[error(
        "Only {} themselves, a manager of one of their pools, or a tenant admin may do this.",
        quoted(.user_id)
    )]
    UserNotManaged { user_id: String },
    #[error("Only the lead's owner or a manager of its pool may do this.")]
    NotLeadOwner { lead_id: Uuid },
    /// `NOT_LEAD_OWNER` where not even a manager may act for the owner.
    #[error("{act}")]
    OwnerOnly { lead_id: Uuid, act: OwnerAct },
    #[error("Pool {0} does not exist.")]
    PoolNotFound(Uuid),
    #[error("Calendar {0} does not exist.")]
    CalendarNotFound(Uuid),
    #[error("Another calendar of this tenant is already named like that; pick another name.")]
    CalendarNameTaken,
    #[error(
        "Calendar {0} is in use by a pool; point the pool at another calendar (or none) first."
    )]
    CalendarInUse(Uuid),
    #[error("Lead {0} does not exist.")]
    LeadNotFound(Uuid),
    #[error("User {} is not a member of pool {pool_id}.", quoted(.user_id))]
    MemberNotFound { pool_id: Uuid, user_id: String },
    #[error("User {} is not a member of any pool of this tenant.", quoted(.user_id))]
    UserNotMember { user_id: String },
    /// No active membership: none at all, or only inactive ones (`MEMBER_NOT_FOUND` all the same).
    #[error("User {} is not an active member of any pool of this tenant.", quoted(.user_id))]
    UserNotActiveMember { user_id: String },
    #[error("Another pool of this tenant is already named like that; pick another name.")]
    PoolNameTaken,
    #[error("User {} is already a member of pool {pool_id}.", quoted(.user_id))]
    MemberExists { pool_id: Uuid, user_id: String },
    #[error("A live lead of this tenant already has this phone or e-mail{}; work on that lead (creating and importing may set allow_duplicate to keep both).", .existing_lead_id.map(|id| format!(" ({id})")).unwrap_or_default())]
    DuplicateLead { existing_lead_id: Option<Uuid> },
    #[error("Another lead of this tenant already has this external_ref{}.", .existing_lead_id.map(|id| format!(" ({id})")).unwrap_or_default())]
    ExternalRefTaken { existing_lead_id: Option<Uuid> },
    #[error("Lead {0} is not in the public pool: someone owns it.")]
    LeadNotInPool(Uuid),
    #[error("Lead {0} is in the pool: nobody owns it.")]
    LeadNotOwned(Uuid),
    #[error("Lead {0} is locked; a manager must unlock it first.")]
    LeadLocked(Uuid),
    #[error("Lead {0} is converted or discarded and out of circulation.")]
    LeadClosed(Uuid),
    #[error("User {} is an inactive member of pool {pool_id}.", quoted(.user_id))]
    MemberInactive { pool_id: Uuid, user_id: String },
    #[error("User {} holds {held} leads of this pool and may hold at most {limit}: this call would pass that.", quoted(.user_id))]
    HeldLimitReached {
        user_id: String,
        limit: i32,
        held: i32,
    },
    #[error("Lead {lead_id} left its previous owner recently; they may take it again from {}.", rfc3339(*.until))]
    ReclaimCooldown { lead_id: Uuid, until: DateTime<Utc> },
    #[error("This would pass today's quota of {limit} claims in this pool; it resets at {}.", rfc3339(*.resets_at))]
    DailyClaimLimitReached {
        limit: i32,
        resets_at: DateTime<Utc>,
    },
    #[error("Pool {0} is archived.")]
    PoolArchived(Uuid),
    #[error("Lead {lead_id} entered the pool only just; it may be claimed from {}.", rfc3339(*.claimable_at))]
    LeadEmbargoed {
        lead_id: Uuid,
        claimable_at: DateTime<Utc>,
    },
    #[error("Pool {0} has no lead you may claim now.")]
    NoClaimableLead(Uuid),
    #[error("Lead {0} is not waiting for your acceptance.")]
    NotPendingAcceptance(Uuid),
    #[error("User {} is away{}; set override_away to give them leads anyway.", quoted(.user_id), .away_until.map(|at| format!(" until {}", rfc3339(at))).unwrap_or_default())]
    MemberAway {
        user_id: String,
        away_until: Option<DateTime<Utc>>,
    },
    /// A planned absence overlapping one of the user's that has not ended (`MEMBER_AWAY`).
    #[error("User {} already has an absence{} that overlaps this one; plan this one outside it, or clear that one first.", quoted(.user_id), .away_until.map(|at| format!(" until {}", rfc3339(at))).unwrap_or_default())]
    AbsenceOverlaps {
        user_id: String,
        away_until: Option<DateTime<Utc>>,
    },
    #[error("Absence {0} does not exist.")]
    AbsenceNotFound(Uuid),
    #[error("Absence {0} has already ended or been cancelled.")]
    AbsenceEnded(Uuid),
    #[error(
        "Lead {lead_id} is at version {current_version}, not the version this change was based on; read it again and retry."
    )]
    VersionConflict { lead_id: Uuid, current_version: i64 },
    #[error(
        "A concurrent change got in the way and this call changed nothing; read again and retry."
    )]
    ConcurrentModification,
    #[error("The database is unavailable; retry shortly.")]
    DatabaseUnavailable,
    #[error("The call ran out of time before the database answered; nothing was changed.")]
    DeadlineExceeded,
    /// The deadline passed after part of a call that commits in parts had committed.
    #[error("{0}")]
    DeadlineExceededAfter(Committed),
    #[error(
        "The request is larger than the {limit_bytes} bytes this server accepts; send it in smaller parts (ImportLeadsStream for large imports)."
    )]
    MessageTooLarge { limit_bytes: usize },
    /// Our own bug or an unexpected failure below us; never the caller's doing. The cause is
    /// logged once, where the error becomes a status, and never sent to the caller.
    #[error("An internal error occurred.")]
    #[serde(skip)]
    Internal(#[source] InternalCause),
}

/// Why an internal error happened, kept for the log.
#[derive(Debug)]
pub struct InternalCause(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for InternalCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for InternalCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl DomainError {
    /// An internal error described by `what`.
    pub fn internal(what: impl Into<String>) -> Self {
        Self::Internal(InternalCause(what.into().into()))
    }

    /// An internal error caused by `cause`.
    pub fn internal_from(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(InternalCause(Box::new(cause)))
    }

    /// The `ErrorInfo.reason` of this error, as listed in `shared/api.md`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ValidationFailed(_) => "VALIDATION_FAILED",
            Self::BadPageToken => "BAD_PAGE_TOKEN",
            Self::RequestIdReused => "REQUEST_ID_REUSED",
            Self::UnknownReleaseReason { .. } => "UNKNOWN_RELEASE_REASON",
            Self::ReclaimCooldown { .. } => "RECLAIM_COOLDOWN",
            Self::DailyClaimLimitReached { .. } => "DAILY_CLAIM_LIMIT_REACHED",
            Self::MissingIdentity(_) => "MISSING_IDENTITY",
            Self::InvalidToken(_) => "INVALID_TOKEN",
            Self::NotPoolMember { .. } => "NOT_POOL_MEMBER",
            Self::ManagerRequired { .. } | Self::UserNotManaged { .. } => "MANAGER_REQUIRED",
            Self::AdminRequired => "ADMIN_REQUIRED",
            Self::NotLeadOwner { .. } | Self::OwnerOnly { .. } => "NOT_LEAD_OWNER",
            Self::PoolNotFound(_) => "POOL_NOT_FOUND",
            Self::CalendarNotFound(_) => "CALENDAR_NOT_FOUND",
            Self::CalendarNameTaken => "CALENDAR_NAME_TAKEN",
            Self::CalendarInUse(_) => "CALENDAR_IN_USE",
            Self::LeadNotFound(_) => "LEAD_NOT_FOUND",
            Self::MemberNotFound { .. }
            | Self::UserNotMember { .. }
            | Self::UserNotActiveMember { .. } => "MEMBER_NOT_FOUND",
            Self::PoolNameTaken => "POOL_NAME_TAKEN",
            Self::MemberExists { .. } => "MEMBER_EXISTS",
            Self::ExternalRefTaken { .. } => "EXTERNAL_REF_TAKEN",
            Self::DuplicateLead { .. } => "DUPLICATE_LEAD",
            Self::LeadNotInPool(_) => "LEAD_NOT_IN_POOL",
            Self::LeadNotOwned(_) => "LEAD_NOT_OWNED",
            Self::LeadLocked(_) => "LEAD_LOCKED",
            Self::LeadClosed(_) => "LEAD_CLOSED",
            Self::MemberInactive { .. } => "MEMBER_INACTIVE",
            Self::HeldLimitReached { .. } => "HELD_LIMIT_REACHED",
            Self::PoolArchived(_) => "POOL_ARCHIVED",
            Self::LeadEmbargoed { .. } => "LEAD_EMBARGOED",
            Self::NoClaimableLead(_) => "NO_CLAIMABLE_LEAD",
            Self::NotPendingAcceptance(_) => "NOT_PENDING_ACCEPTANCE",
            Self::MemberAway { .. } | Self::AbsenceOverlaps { .. } => "MEMBER_AWAY",
            Self::AbsenceNotFound(_) => "ABSENCE_NOT_FOUND",
            Self::AbsenceEnded(_) => "ABSENCE_ENDED",
            Self::VersionConflict { .. } => "VERSION_CONFLICT",
            Self::ConcurrentModification => "CONCURRENT_MODIFICATION",
            Self::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            Self::DeadlineExceeded | Self::DeadlineExceededAfter(_) => "DEADLINE_EXCEEDED",
            Self::MessageTooLarge { .. } => "MESSAGE_TOO_LARGE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// Machine-readable facts for `ErrorInfo.metadata`: the ids and figures a caller acts on.
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::NotPoolMember { pool_id } | Self::ManagerRequired { pool_id } => {
                vec![("pool_id", pool_id.to_string())]
            }
            Self::PoolNotFound(id) | Self::PoolArchived(id) | Self::NoClaimableLead(id) => {
                vec![("pool_id", id.to_string())]
            }
            Self::CalendarNotFound(id) | Self::CalendarInUse(id) => {
                vec![("calendar_id", id.to_string())]
            }
            Self::NotLeadOwner { lead_id: id }
            | Self::OwnerOnly { lead_id: id, .. }
            | Self::LeadNotFound(id)
            | Self::LeadNotInPool(id)
            | Self::LeadNotOwned(id)
            | Self::LeadLocked(id)
            | Self::LeadClosed(id)
            | Self::NotPendingAcceptance(id) => vec![("lead_id", id.to_string())],
            Self::MemberNotFound { pool_id, user_id }
            | Self::MemberExists { pool_id, user_id }
            | Self::MemberInactive { pool_id, user_id } => vec![
                ("pool_id", pool_id.to_string()),
                ("user_id", user_id.clone()),
            ],
            Self::HeldLimitReached {
                user_id,
                limit,
                held,
            } => vec![
                ("user_id", user_id.clone()),
                ("limit", limit.to_string()),
                ("held", held.to_string()),
            ],
            Self::DuplicateLead {
                existing_lead_id: Some(id),
            }
            | Self::ExternalRefTaken {
                existing_lead_id: Some(id),
            } => vec![("existing_lead_id", id.to_string())],
            Self::VersionConflict {
                lead_id,
                current_version,
            } => vec![
                ("lead_id", lead_id.to_string()),
                ("current_version", current_version.to_string()),
            ],
            Self::UnknownReleaseReason { reason, allowed } => {
                vec![("reason", reason.clone()), ("allowed", allowed.clone())]
            }
            Self::MessageTooLarge { limit_bytes } => vec![("limit_bytes", limit_bytes.to_string())],
            Self::DeadlineExceededAfter(committed) => committed.metadata(),
            Self::DailyClaimLimitReached { limit, resets_at } => vec![
                ("limit", limit.to_string()),
                ("resets_at", rfc3339(*resets_at)),
            ],
            _ => self.claim_metadata(),
        }
    }

    /// The metadata of the refusals of a claim for a time: when the lead may be claimed.
    fn claim_metadata(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::ReclaimCooldown { lead_id, until } => vec![
                ("lead_id", lead_id.to_string()),
                ("cooldown_until", rfc3339(*until)),
            ],
            Self::LeadEmbargoed {
                lead_id,
                claimable_at,
            } => vec![
                ("lead_id", lead_id.to_string()),
                ("claimable_at", rfc3339(*claimable_at)),
            ],
            _ => self.people_metadata(),
        }
    }

    /// The metadata of the refusals about users and their absences.
    fn people_metadata(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::UserNotMember { user_id }
            | Self::UserNotActiveMember { user_id }
            | Self::UserNotManaged { user_id } => vec![("user_id", user_id.clone())],
            Self::MemberAway {
                user_id,
                away_until,
            }
            | Self::AbsenceOverlaps {
                user_id,
                away_until,
            } => std::iter::once(("user_id", user_id.clone()))
                .chain(away_until.map(|at| ("away_until", rfc3339(at))))
                .collect(),
            Self::AbsenceNotFound(id) | Self::AbsenceEnded(id) => {
                vec![("absence_id", id.to_string())]
            }
            _ => Vec::new(),
        }
    }

    /// This error as part of a larger request whose `prefix` holds the validated message
    /// (`calendar_change.`): its bad fields named by their paths in that request.
    pub fn nested_in(self, prefix: &str) -> Self {
        match self {
            Self::ValidationFailed(violations) => {
                Self::ValidationFailed(violations.into_iter().map(|v| v.under(prefix)).collect())
            }
            other => other,
        }
    }

    /// The bad fields, for `google.rpc.BadRequest`: every `INVALID_ARGUMENT` names its field.
    pub fn field_violations(&self) -> Cow<'_, [FieldViolation]> {
        let field = match self {
            Self::ValidationFailed(v) | Self::MissingIdentity(v) => return Cow::Borrowed(v),
            Self::UnknownReleaseReason { .. } => "reason",
            Self::RequestIdReused => "request_id",
            Self::BadPageToken => "page_token",
            _ => return Cow::Borrowed(&[]),
        };
        Cow::Owned(vec![FieldViolation::new(field, self.to_string())])
    }
}

/// A time as RFC 3339 in UTC, as error messages and metadata carry it.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validate::MAX_QUOTED_CHARS;

    /// A user id may be 128 characters; a message names at most 64 of them (shared/api.md).
    #[test]
    fn messages_quote_at_most_64_characters_of_a_user_id() {
        let user_id = "用".repeat(128);
        let pool_id = Uuid::nil();
        let errors = [
            DomainError::UserNotManaged {
                user_id: user_id.clone(),
            },
            DomainError::MemberNotFound {
                pool_id,
                user_id: user_id.clone(),
            },
            DomainError::UserNotMember {
                user_id: user_id.clone(),
            },
            DomainError::UserNotActiveMember {
                user_id: user_id.clone(),
            },
            DomainError::MemberExists {
                pool_id,
                user_id: user_id.clone(),
            },
            DomainError::MemberInactive {
                pool_id,
                user_id: user_id.clone(),
            },
            DomainError::HeldLimitReached {
                user_id: user_id.clone(),
                limit: 1,
                held: 1,
            },
            DomainError::MemberAway {
                user_id: user_id.clone(),
                away_until: None,
            },
            DomainError::AbsenceOverlaps {
                user_id: user_id.clone(),
                away_until: None,
            },
        ];
        let quoted_run = "用".repeat(MAX_QUOTED_CHARS);
        for error in errors {
            let message = error.to_string();
            assert!(message.contains(&format!("\"{quoted_run}\"…")), "{message}");
            assert!(
                !message.contains(&"用".repeat(MAX_QUOTED_CHARS + 1)),
                "{message}"
            );
        }
    }
}
