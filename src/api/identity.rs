//! Who is calling: `x-tenant-id`, `x-actor-id` and `x-actor-roles` metadata, checked on every
//! call before anything else. `api::auth` has settled it before the call reaches a service:
//! as the trusted mesh sent it, or, in JWT mode, set from the verified token's claims.

use tonic::metadata::MetadataMap;

use crate::domain::DomainError;
use crate::domain::access::{Actor, TenantRoles};
use crate::domain::error::FieldViolation;
use crate::domain::validate::MAX_CODE_CHARS;

pub const TENANT_HEADER: &str = "x-tenant-id";
pub const ACTOR_HEADER: &str = "x-actor-id";
pub const ROLES_HEADER: &str = "x-actor-roles";

/// The caller's identity, or `UNAUTHENTICATED`/`MISSING_IDENTITY` naming what is missing.
pub fn actor(metadata: &MetadataMap) -> Result<Actor, DomainError> {
    let mut missing = Vec::new();
    let mut header = |name: &str| {
        let value = metadata
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default();
        if value.is_empty() || value.chars().count() > MAX_CODE_CHARS {
            missing.push(FieldViolation::new(
                name,
                format!("must be set to 1 to {MAX_CODE_CHARS} visible ASCII characters"),
            ));
        }
        value.to_owned()
    };
    let tenant_id = header(TENANT_HEADER);
    let user_id = header(ACTOR_HEADER);
    if !missing.is_empty() {
        return Err(DomainError::MissingIdentity(missing));
    }
    let roles = metadata
        .get(ROLES_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(TenantRoles::parse)
        .unwrap_or_default();
    Ok(Actor {
        tenant_id,
        user_id,
        roles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_headers_are_all_named() {
        let err = actor(&MetadataMap::new()).expect_err("no identity");
        let fields: Vec<_> = err
            .field_violations()
            .iter()
            .map(|f| f.field.clone())
            .collect();
        assert_eq!(fields, [TENANT_HEADER, ACTOR_HEADER]);
    }

    #[test]
    fn reads_tenant_actor_and_roles() {
        let mut md = MetadataMap::new();
        md.insert(TENANT_HEADER, "acme".parse().expect("ascii"));
        md.insert(ACTOR_HEADER, "alice".parse().expect("ascii"));
        md.insert(ROLES_HEADER, "admin".parse().expect("ascii"));
        let actor = actor(&md).expect("identity");
        assert_eq!(actor.tenant_id, "acme");
        assert!(actor.roles.admin && !actor.roles.service);
    }
}
