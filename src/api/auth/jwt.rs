//! JWT mode: `authorization: Bearer <JWT>` verified with a configured key (HS256 secret, RS256
//! PEM or a JWKS); the claims `tenant_id`, `sub` and `roles` name the caller.

use std::fmt;
use std::path::{Path, PathBuf};

use http::HeaderMap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::identity::{ACTOR_HEADER, ROLES_HEADER, TENANT_HEADER};
use crate::config::KeySource;
use crate::domain::DomainError;
use crate::domain::access::{Actor, TenantRoles};
use crate::domain::error::FieldViolation;
use crate::domain::validate::{MAX_CODE_CHARS, is_identity};

const AUTHORIZATION: &str = "authorization";
/// RFC 7518 §3.2: an HS256 key is at least as long as the hash.
const MIN_HS256_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not an RSA public key in PEM: {source}", .path.display())]
    Pem {
        path: PathBuf,
        source: jsonwebtoken::errors::Error,
    },
    #[error("{} is not a JSON Web Key Set: {source}", .path.display())]
    Jwks {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: key {kid:?} cannot verify signatures: {problem}", .path.display())]
    UnusableJwk {
        path: PathBuf,
        kid: Option<String>,
        problem: String,
    },
    #[error("{} holds no signing key", .path.display())]
    NoSigningKey { path: PathBuf },
    #[error("the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes")]
    ShortSecret,
}

pub struct JwtVerifier {
    keys: Vec<VerifyingKey>,
    /// How this verifier was configured, for the startup log.
    mode: String,
}

impl fmt::Display for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mode)
    }
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

struct VerifyingKey {
    kid: Option<String>,
    key: DecodingKey,
    /// Its algorithm, the expected issuer and audience, and the required claims.
    validation: Validation,
}

impl JwtVerifier {
    /// A verifier with the key from `source`; `issuer` and `audience`, when given, must be the
    /// tokens' `iss` and (one of) their `aud`.
    pub fn new(
        source: &KeySource,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Self, AuthConfigError> {
        let keys = match source {
            KeySource::Hs256Secret(secret) if secret.len() < MIN_HS256_SECRET_BYTES => {
                return Err(AuthConfigError::ShortSecret);
            }
            KeySource::Hs256Secret(secret) => vec![(
                None,
                DecodingKey::from_secret(secret.as_bytes()),
                Algorithm::HS256,
            )],
            KeySource::Rs256PublicKeyFile(path) => {
                let pem = read(path)?;
                let key =
                    DecodingKey::from_rsa_pem(&pem).map_err(|source| AuthConfigError::Pem {
                        path: path.clone(),
                        source,
                    })?;
                vec![(None, key, Algorithm::RS256)]
            }
            KeySource::JwksFile(path) => jwks(path)?,
        };
        let keys = keys
            .into_iter()
            .map(|(kid, key, algorithm)| VerifyingKey {
                kid,
                key,
                validation: validation(algorithm, issuer, audience),
            })
            .collect();
        let mode = format!(
            "JWT ({}; issuer {}; audience {})",
            match source {
                KeySource::Hs256Secret(_) => "HS256 secret".to_owned(),
                KeySource::Rs256PublicKeyFile(path) => format!("RS256 key {}", path.display()),
                KeySource::JwksFile(path) => format!("JWKS {}", path.display()),
            },
            issuer.unwrap_or("not checked"),
            audience.unwrap_or("not checked"),
        );
        Ok(Self { keys, mode })
    }

    /// The caller named by the call's bearer token.
    pub fn caller(&self, headers: &HeaderMap) -> Result<Actor, DomainError> {
        self.verify(bearer_token(headers)?)?.actor(headers)
    }

    fn verify(&self, token: &str) -> Result<Claims, DomainError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("it is not a well-formed JWT"))?;
        let key = self.key(header.kid.as_deref())?;
        jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation)
            .map(|data| data.claims)
            .map_err(|err| invalid(refusal(err.kind())))
    }

    /// The key named by the token's `kid`; a single key needs no name, and a key without a
    /// name (a secret, a PEM file) takes any.
    fn key(&self, kid: Option<&str>) -> Result<&VerifyingKey, DomainError> {
        let named = || {
            self.keys
                .iter()
                .find(|key| kid.is_some() && key.kid.as_deref() == kid)
        };
        let single = || match self.keys.as_slice() {
            [only] if only.kid.is_none() || kid.is_none() => Some(only),
            _ => None,
        };
        named()
            .or_else(single)
            .ok_or_else(|| invalid("its kid names no key this service trusts"))
    }
}

/// Why a token that parsed as a JWT was refused.
fn refusal(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "it has expired".into(),
        ErrorKind::ImmatureSignature => "it is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "its audience (aud) is not this service".into(),
        ErrorKind::InvalidIssuer => "its issuer (iss) is not the trusted one".into(),
        ErrorKind::InvalidSignature => "its signature does not verify".into(),
        ErrorKind::InvalidAlgorithm => "it is signed with an algorithm its key does not use".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("it has no {claim} claim"),
        ErrorKind::Json(_) => "its claims are malformed".into(),
        _ => "it is not a well-formed JWT".into(),
    }
}

fn invalid(problem: impl Into<String>) -> DomainError {
    DomainError::InvalidToken(problem.into())
}

/// The claims naming the caller. `exp`, `iss` and `aud` are checked by `Validation`; so is
/// `nbf`, but only when it reads it as a whole number of seconds, so it is read here too.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    /// A NumericDate: any JSON number (RFC 7519 allows fractions); anything else is malformed.
    #[serde(default)]
    nbf: Option<f64>,
}

impl Claims {
    /// The caller the claims name, once the identity metadata sent beside agrees with them.
    fn actor(self, headers: &HeaderMap) -> Result<Actor, DomainError> {
        code_claim("tenant_id", &self.tenant_id)?;
        code_claim("sub", &self.sub)?;
        if let Some(nbf) = self.nbf {
            let latest = jsonwebtoken::get_current_timestamp() + LEEWAY_SECONDS;
            if nbf > latest as f64 {
                return Err(invalid(refusal(&ErrorKind::ImmatureSignature)));
            }
        }
        let granted = TenantRoles::named(self.roles.iter().map(String::as_str));
        agree(headers, TENANT_HEADER, "tenant_id", |sent| {
            sent == self.tenant_id
        })?;
        agree(headers, ACTOR_HEADER, "sub", |sent| sent == self.sub)?;
        agree(headers, ROLES_HEADER, "roles", |sent| {
            TenantRoles::parse(sent) == granted
        })?;
        Ok(Actor {
            tenant_id: self.tenant_id,
            user_id: self.sub,
            roles: granted,
        })
    }
}

/// A tenant or user id claim: as identity metadata accepts them.
fn code_claim(claim: &str, value: &str) -> Result<(), DomainError> {
    if is_identity(value) {
        Ok(())
    } else {
        Err(invalid(format!(
            "its {claim} claim must be 1 to {MAX_CODE_CHARS} visible ASCII characters"
        )))
    }
}

/// Identity metadata sent beside a token must say what the token says.
fn agree(
    headers: &HeaderMap,
    name: &str,
    claim: &str,
    same: impl Fn(&str) -> bool,
) -> Result<(), DomainError> {
    // Every value, if the header came more than once: any of them could be the one read.
    let agrees = |sent: &http::HeaderValue| match sent.to_str().map(str::trim) {
        Ok("") => true,
        Ok(sent) => same(sent),
        Err(_) => false,
    };
    if headers.get_all(name).iter().all(agrees) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{name} metadata disagrees with its {claim} claim"
        )))
    }
}

/// The token of `authorization: Bearer <token>`; no `authorization` at all is no identity. Of
/// two entries neither is picked (as of a duplicated identity header in trusted mode): which
/// one counts would depend on their order, and a gateway may have checked the other.
fn bearer_token(headers: &HeaderMap) -> Result<&str, DomainError> {
    let mut sent = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = sent.next() else {
        return Err(DomainError::MissingIdentity(vec![FieldViolation::new(
            AUTHORIZATION,
            "must be `Bearer <JWT>`: this service accepts signed tokens only",
        )]));
    };
    if sent.next().is_some() {
        return Err(invalid(
            "the authorization metadata is sent more than once; send one `Bearer <JWT>`",
        ));
    }
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| invalid("the authorization metadata is not `Bearer <JWT>`"))
}

/// How far `exp` and `nbf` may be off, for clocks that differ a little.
const LEEWAY_SECONDS: u64 = 60;

fn validation(algorithm: Algorithm, issuer: Option<&str>, audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECONDS;
    let mut required = vec!["exp", "sub"];
    if let Some(issuer) = issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    match audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

fn read(path: &Path) -> Result<Vec<u8>, AuthConfigError> {
    std::fs::read(path).map_err(|source| AuthConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The signing keys of a JWKS file, with the algorithm each verifies; encryption keys are
/// skipped.
fn jwks(path: &Path) -> Result<Vec<(Option<String>, DecodingKey, Algorithm)>, AuthConfigError> {
    let set: JwkSet =
        serde_json::from_slice(&read(path)?).map_err(|source| AuthConfigError::Jwks {
            path: path.to_owned(),
            source,
        })?;
    let keys = set
        .keys
        .iter()
        .filter(|jwk| jwk.common.public_key_use != Some(PublicKeyUse::Encryption))
        .map(|jwk| {
            let unusable = |problem: String| AuthConfigError::UnusableJwk {
                path: path.to_owned(),
                kid: jwk.common.key_id.clone(),
                problem,
            };
            let algorithm = jwk_algorithm(jwk).map_err(unusable)?;
            let key = DecodingKey::from_jwk(jwk).map_err(|err| unusable(err.to_string()))?;
            Ok((jwk.common.key_id.clone(), key, algorithm))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(AuthConfigError::NoSigningKey {
            path: path.to_owned(),
        });
    }
    Ok(keys)
}

/// The key's `alg`, or the usual one for its type when it names none.
fn jwk_algorithm(jwk: &Jwk) -> Result<Algorithm, String> {
    if let Some(alg) = jwk.common.key_algorithm {
        return alg
            .to_string()
            .parse()
            .map_err(|_| format!("{alg} is not a signature algorithm"));
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Ok(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Ok(Algorithm::ES256),
            EllipticCurve::P384 => Ok(Algorithm::ES384),
            _ => Err("its curve is not P-256 or P-384".into()),
        },
        AlgorithmParameters::OctetKeyPair(_) => Ok(Algorithm::EdDSA),
        AlgorithmParameters::OctetKey(_) => {
            Err("shared secrets go in LEADPOOL_JWT_HS256_SECRET, not a key set".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    HeaderValue::from_str(value).expect("ascii"),
                )
            })
            .collect()
    }

    fn claims(tenant: &str, sub: &str, roles: &[&str]) -> Claims {
        Claims {
            tenant_id: tenant.into(),
            sub: sub.into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            nbf: None,
        }
    }

    #[test]
    fn any_list_of_role_names_is_read_and_only_known_ones_grant() {
        let provider = ["Lead Manager", "管理者", " Admin ", &"x".repeat(200), ""];
        let actor = claims("acme", "alice", &provider)
            .actor(&HeaderMap::new())
            .expect("a list of strings");
        assert!(actor.roles.admin && !actor.roles.service);
    }

    #[test]
    fn every_value_of_a_header_sent_twice_must_agree() {
        let mut sent = headers(&[(TENANT_HEADER, "acme")]);
        sent.append(TENANT_HEADER, HeaderValue::from_static("globex"));
        let err = claims("acme", "alice", &[])
            .actor(&sent)
            .expect_err("one value disagrees");
        assert_eq!(err.reason(), "INVALID_TOKEN");
    }

    #[test]
    fn claims_name_the_caller_when_metadata_agrees() {
        let sent = headers(&[(TENANT_HEADER, "acme"), (ROLES_HEADER, "Admin, sales")]);
        let actor = claims("acme", "alice", &["admin"])
            .actor(&sent)
            .expect("agrees");
        assert_eq!(actor.tenant_id, "acme");
        assert_eq!(actor.user_id, "alice");
        assert!(actor.roles.admin && !actor.roles.service);
    }

    #[test]
    fn metadata_granting_other_roles_is_refused() {
        let sent = headers(&[(ROLES_HEADER, "admin")]);
        let err = claims("acme", "alice", &[])
            .actor(&sent)
            .expect_err("more roles");
        assert_eq!(err.reason(), "INVALID_TOKEN");
    }

    #[test]
    fn non_ascii_or_oversized_ids_are_refused() {
        for (tenant, sub) in [("acme", "王伟"), ("", "alice"), ("acme", &"x".repeat(129))] {
            let err = claims(tenant, sub, &[])
                .actor(&HeaderMap::new())
                .expect_err("unusable id");
            assert_eq!(err.reason(), "INVALID_TOKEN", "{tenant:?} {sub:?}");
        }
    }

    #[test]
    fn only_bearer_authorization_carries_a_token() {
        let bearer = headers(&[(AUTHORIZATION, "bearer abc.def.ghi")]);
        assert_eq!(bearer_token(&bearer).expect("bearer"), "abc.def.ghi");
        let basic = headers(&[(AUTHORIZATION, "Basic YWxhZGRpbg==")]);
        let refused = bearer_token(&basic).expect_err("basic");
        assert_eq!(refused.reason(), "INVALID_TOKEN");
        let missing = bearer_token(&HeaderMap::new()).expect_err("missing");
        assert_eq!(missing.reason(), "MISSING_IDENTITY");
        let mut twice = bearer.clone();
        twice.append(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer abc.def.ghi"),
        );
        let refused = bearer_token(&twice).expect_err("two entries");
        assert_eq!(refused.reason(), "INVALID_TOKEN");
    }

    #[test]
    fn short_hs256_secrets_are_refused_at_startup() {
        let short = KeySource::Hs256Secret("too-short".into());
        assert!(matches!(
            JwtVerifier::new(&short, None, None),
            Err(AuthConfigError::ShortSecret)
        ));
    }
}
