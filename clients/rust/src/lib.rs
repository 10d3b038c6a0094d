//! leadpool's gRPC API for Rust callers, without the server: the generated clients and messages
//! of every service (`v1`), the caller's identity as metadata ([`Identity`]), and a failed call
//! read as a [`Refusal`] with its `leadpool.v1.ErrorReason`.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use leadpool_client::v1::{lead_service_client::LeadServiceClient, ClaimLeadRequest};
//! use leadpool_client::{Identity, Refusal};
//!
//! let mut leads = LeadServiceClient::connect("http://leadpool:50051").await?;
//! let alice = Identity::metadata("acme", "alice", &[]);
//! let claim = ClaimLeadRequest { lead_id: "…".into(), ..Default::default() };
//! match leads.claim_lead(alice.request(claim)?).await {
//!     Ok(claimed) => println!("{:?}", claimed.into_inner().lead),
//!     Err(status) => match Refusal::from_status(&status) {
//!         Some(refusal) => println!("refused: {:?} {:?}", refusal.reason, refusal.metadata),
//!         None => return Err(status.into()),
//!     },
//! }
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::metadata::errors::InvalidMetadataValue;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

pub use tonic;

/// Every message, enum and client of `leadpool.v1`.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, missing_docs)]
    tonic::include_proto!("leadpool.v1");
}

/// The `ErrorInfo.domain` of leadpool's refusals.
pub const ERROR_DOMAIN: &str = "leadpool.v1";

/// How long a call may take unless the caller says otherwise: the server stops working on a
/// call when its deadline passes, and a call that failed committed nothing.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Who is calling. Trusted metadata is for callers behind a mesh or gateway that sets it;
/// a server in JWT mode takes the bearer token's claims instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// `x-tenant-id`, `x-actor-id` and, when there are any, `x-actor-roles` (comma-separated).
    Metadata {
        tenant_id: String,
        user_id: String,
        roles: Vec<String>,
    },
    /// `authorization: Bearer <token>`.
    Bearer(String),
}

impl Identity {
    /// A user of a tenant with these roles (`admin`, `service`, `manager`; none for a rep).
    pub fn metadata(tenant_id: &str, user_id: &str, roles: &[&str]) -> Self {
        Self::Metadata {
            tenant_id: tenant_id.to_owned(),
            user_id: user_id.to_owned(),
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        }
    }

    /// `message` as a request from this caller, bounded by [`DEFAULT_TIMEOUT`] (change it with
    /// `set_timeout`).
    pub fn request<T>(&self, message: T) -> Result<Request<T>, InvalidMetadataValue> {
        let mut request = Request::new(message);
        request.set_timeout(DEFAULT_TIMEOUT);
        let metadata = request.metadata_mut();
        match self {
            Self::Metadata {
                tenant_id,
                user_id,
                roles,
            } => {
                metadata.insert("x-tenant-id", MetadataValue::try_from(tenant_id.as_str())?);
                metadata.insert("x-actor-id", MetadataValue::try_from(user_id.as_str())?);
                if !roles.is_empty() {
                    metadata.insert("x-actor-roles", MetadataValue::try_from(roles.join(","))?);
                }
            }
            Self::Bearer(token) => {
                let value = MetadataValue::try_from(format!("Bearer {token}"))?;
                metadata.insert("authorization", value);
            }
        }
        Ok(request)
    }
}

/// A call leadpool refused: the gRPC code, the reason callers switch on, and the ids and
/// figures the reason names (`lead_id`, `limit`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub reason: v1::ErrorReason,
    pub message: String,
    pub metadata: HashMap<String, String>,
}

impl Refusal {
    /// The refusal `status` carries, or `None` when it has no leadpool `ErrorInfo` (a failure
    /// of the network or of something between caller and server).
    pub fn from_status(status: &Status) -> Option<Self> {
        let info = status.get_details_error_info()?;
        if info.domain != ERROR_DOMAIN {
            return None;
        }
        // On the wire the reason is the enum value's name without its `ERROR_REASON_` prefix.
        let reason = v1::ErrorReason::from_str_name(&format!("ERROR_REASON_{}", info.reason))?;
        Some(Self {
            code: status.code(),
            reason,
            message: status.message().to_owned(),
            metadata: info.metadata,
        })
    }

    /// Whether sending the same request again (with the same `request_id`, after a backoff)
    /// may succeed: a lost race or an unreachable database, not the request itself. A
    /// `VERSION_CONFLICT` needs a fresh read first, so it is not among them.
    pub fn is_retryable(&self) -> bool {
        use v1::ErrorReason::{ConcurrentModification, DatabaseUnavailable, DeadlineExceeded};
        matches!(
            self.reason,
            ConcurrentModification | DatabaseUnavailable | DeadlineExceeded
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, StatusExt};

    fn refused(code: Code, reason: &str, domain: &str) -> Status {
        let metadata = HashMap::from([("user_id".to_owned(), "alice".to_owned())]);
        let details = ErrorDetails::with_error_info(reason, domain, metadata);
        Status::with_error_details(code, "refused", details)
    }

    #[test]
    fn reads_a_leadpool_refusal_and_ignores_other_domains() {
        let status = refused(Code::FailedPrecondition, "HELD_LIMIT_REACHED", ERROR_DOMAIN);
        let refusal = Refusal::from_status(&status).expect("a leadpool refusal");
        assert_eq!(refusal.reason, v1::ErrorReason::HeldLimitReached);
        assert_eq!(refusal.metadata["user_id"], "alice");
        assert!(!refusal.is_retryable());
        let lost_race = refused(Code::Aborted, "CONCURRENT_MODIFICATION", ERROR_DOMAIN);
        assert!(Refusal::from_status(&lost_race).unwrap().is_retryable());
        let foreign = refused(Code::Unavailable, "HELD_LIMIT_REACHED", "mesh.example");
        assert_eq!(Refusal::from_status(&foreign), None);
        assert_eq!(Refusal::from_status(&Status::unavailable("reset")), None);
    }

    #[test]
    fn identity_travels_as_metadata_or_a_bearer_token() {
        let alice = Identity::metadata("acme", "alice", &["manager", "admin"]);
        let request = alice.request(()).expect("valid metadata");
        let header = |name| request.metadata().get(name).map(|v| v.to_str().unwrap());
        assert_eq!(header("x-tenant-id"), Some("acme"));
        assert_eq!(header("x-actor-roles"), Some("manager,admin"));
        let rep = Identity::metadata("acme", "bob", &[]).request(()).unwrap();
        assert!(rep.metadata().get("x-actor-roles").is_none());
        let bearer = Identity::Bearer("t0k3n".into()).request(()).unwrap();
        assert_eq!(
            bearer.metadata().get("authorization").unwrap(),
            "Bearer t0k3n"
        );
        assert!(Identity::metadata("acme", "a\nb", &[]).request(()).is_err());
    }
}
