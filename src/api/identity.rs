//! Who is calling, in trusted-metadata mode: `x-tenant-id`, `x-actor-id` and `x-actor-roles`
//! as the mesh in front of us sent them. Read once per call by `api::auth`.

use http::HeaderMap;

use crate::domain::DomainError;
use crate::domain::access::{Actor, TenantRoles};
use crate::domain::error::FieldViolation;
use crate::domain::validate::{MAX_CODE_CHARS, is_identity};

pub const TENANT_HEADER: &str = "x-tenant-id";
pub const ACTOR_HEADER: &str = "x-actor-id";
pub const ROLES_HEADER: &str = "x-actor-roles";

/// The caller's identity. A missing or empty header is `UNAUTHENTICATED`/`MISSING_IDENTITY`;
/// one that is set but cannot be an id (too long, spaces, control or non-ASCII characters), or
/// is sent more than once, is `INVALID_ARGUMENT`/`VALIDATION_FAILED` naming it. Values are taken
/// exactly as sent, never trimmed: an id that differs from the one the caller meant is refused,
/// not guessed at; of two values neither is picked (a proxy that appends instead of replacing
/// would otherwise let the caller's own value win).
pub fn from_metadata(headers: &HeaderMap) -> Result<Actor, DomainError> {
    let mut missing = Vec::new();
    let mut malformed: Vec<_> = [TENANT_HEADER, ACTOR_HEADER, ROLES_HEADER]
        .into_iter()
        .filter(|name| headers.get_all(*name).iter().nth(1).is_some())
        .map(|name| FieldViolation::new(name, "is sent more than once; send one value"))
        .collect();
    let mut header = |name: &str| match headers.get(name).map(|v| v.to_str()) {
        None => missing_id(&mut missing, name),
        Some(Ok(blank)) if blank.trim().is_empty() => missing_id(&mut missing, name),
        Some(Ok(value)) if is_identity(value) => value.to_owned(),
        Some(_) => {
            malformed.push(FieldViolation::new(
                name,
                format!("must be 1 to {MAX_CODE_CHARS} visible ASCII characters, without spaces"),
            ));
            String::new()
        }
    };
    let tenant_id = header(TENANT_HEADER);
    let user_id = header(ACTOR_HEADER);
    if !missing.is_empty() {
        return Err(DomainError::MissingIdentity(missing));
    }
    if !malformed.is_empty() {
        return Err(DomainError::ValidationFailed(malformed));
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

fn missing_id(missing: &mut Vec<FieldViolation>, name: &str) -> String {
    missing.push(FieldViolation::new(name, "is required: the caller's id"));
    String::new()
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
    fn ids_that_cannot_be_ids_are_invalid_not_missing() {
        let long = "x".repeat(129);
        for bad in [
            b" acme".as_slice(),
            b"ac me",
            long.as_bytes(),
            "王伟".as_bytes(),
        ] {
            let mut headers = HeaderMap::new();
            let value = http::HeaderValue::from_bytes(bad).expect("a header value");
            headers.insert(TENANT_HEADER, value);
            headers.insert(ACTOR_HEADER, "alice".parse().expect("ascii"));
            let err = from_metadata(&headers).expect_err("not an id");
            assert_eq!(err.reason(), "VALIDATION_FAILED", "{bad:?}");
            assert_eq!(err.field_violations()[0].field, TENANT_HEADER);
        }
    }

    #[test]
    fn a_header_sent_twice_is_refused_whichever_it_is() {
        for twice in [TENANT_HEADER, ACTOR_HEADER, ROLES_HEADER] {
            let mut headers = HeaderMap::new();
            headers.insert(TENANT_HEADER, "acme".parse().expect("ascii"));
            headers.insert(ACTOR_HEADER, "alice".parse().expect("ascii"));
            headers.insert(ROLES_HEADER, "service".parse().expect("ascii"));
            headers.append(twice, "admin".parse().expect("ascii"));
            let err = from_metadata(&headers).expect_err("two values");
            assert_eq!(err.reason(), "VALIDATION_FAILED", "{twice}");
            assert_eq!(err.field_violations()[0].field, twice);
        }
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
