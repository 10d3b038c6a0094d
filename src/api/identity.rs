//! Who is calling, in trusted-metadata mode: `x-tenant-id`, `x-actor-id` and `x-actor-roles`
//! as the mesh in front of us sent them. Read once per call by `api::auth`.

use http::HeaderMap;

use crate::domain::DomainError;
use crate::domain::access::{Actor, TenantRoles};
use crate::domain::error::FieldViolation;
use crate::domain::validate::MAX_CODE_CHARS;

pub const TENANT_HEADER: &str = "x-tenant-id";
pub const ACTOR_HEADER: &str = "x-actor-id";
pub const ROLES_HEADER: &str = "x-actor-roles";

/// Whether `value` can be a tenant id, user id or role list: 1 to 128 visible ASCII characters.
pub fn is_code(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_CODE_CHARS
        && value.chars().all(|c| c.is_ascii_graphic())
}

/// The caller's identity, or `UNAUTHENTICATED`/`MISSING_IDENTITY` naming what is missing.
pub fn from_metadata(headers: &HeaderMap) -> Result<Actor, DomainError> {
    let mut missing = Vec::new();
    let mut header = |name: &str| {
        let value = headers
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
    let roles = headers
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
        let err = from_metadata(&HeaderMap::new()).expect_err("no identity");
        let fields: Vec<_> = err
            .field_violations()
            .iter()
            .map(|f| f.field.clone())
            .collect();
        assert_eq!(fields, [TENANT_HEADER, ACTOR_HEADER]);
    }

    #[test]
    fn reads_tenant_actor_and_roles() {
        let mut headers = HeaderMap::new();
        headers.insert(TENANT_HEADER, "acme".parse().expect("ascii"));
        headers.insert(ACTOR_HEADER, "alice".parse().expect("ascii"));
        headers.insert(ROLES_HEADER, "admin".parse().expect("ascii"));
        let actor = from_metadata(&headers).expect("identity");
        assert_eq!(actor.tenant_id, "acme");
        assert!(actor.roles.admin && !actor.roles.service);
    }
}
