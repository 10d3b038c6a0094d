//! Who is calling, settled once per call before any service runs, in one tower layer around
//! every gRPC service (health and reflection stay open).
//!
//! Two modes. Trusted metadata (no key configured): the mesh in front of us sets
//! `x-tenant-id`, `x-actor-id` and `x-actor-roles`, and they are taken as sent. JWT (a key
//! configured): every call carries `authorization: Bearer <JWT>`, verified here; its claims
//! `tenant_id`, `sub` and `roles` win, identity metadata that disagrees with them is refused,
//! and the metadata is then set from the claims. Either way `identity::actor` reads the
//! metadata afterwards, so services never see an unverified caller and need no change.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tower::{Layer, Service};

use super::identity::{ACTOR_HEADER, ROLES_HEADER, TENANT_HEADER};
use crate::domain::DomainError;
use crate::domain::access::TenantRoles;
use crate::domain::error::FieldViolation;
use crate::domain::validate::MAX_CODE_CHARS;
use crate::telemetry;

const AUTHORIZATION: &str = "authorization";
/// RFC 7518 §3.2: an HS256 key is at least as long as the hash.
const MIN_HS256_SECRET_BYTES: usize = 32;
/// Calls anyone may make: probes and tooling.
const OPEN_PREFIXES: [&str; 2] = ["/grpc.health.v1.Health/", "/grpc.reflection."];

/// How callers are identified.
#[derive(Debug, Clone, Default)]
pub enum Authentication {
    /// Identity metadata set by a trusted mesh, taken as sent.
    #[default]
    TrustedMetadata,
    /// Verified `authorization: Bearer` JWTs.
    Jwt(Arc<JwtVerifier>),
}

/// Where the key that signs callers' tokens comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A shared secret for HS256, used as its bytes.
    Hs256Secret(String),
    /// An RSA public key (PEM) for RS256.
    Rs256PublicKeyFile(PathBuf),
    /// A JSON Web Key Set; a token's `kid` picks the key, its `alg` must be the key's.
    JwksFile(PathBuf),
}

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

impl Authentication {
    /// JWT mode with the key from `source`; `issuer` and `audience`, when given, must be the
    /// tokens' `iss` and (one of) their `aud`.
    pub fn jwt(
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
        Ok(Self::Jwt(Arc::new(JwtVerifier { keys, mode })))
    }

    /// Settles the caller of a call from its metadata, or says why it cannot be trusted.
    fn establish(&self, headers: &mut HeaderMap) -> Result<(), DomainError> {
        if let Self::Jwt(verifier) = self {
            let token = bearer_token(headers)?;
            let claims = verifier.verify(token)?;
            claims.bind(headers)?;
        }
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        telemetry::record_caller(
            text(TENANT_HEADER).unwrap_or_default(),
            text(ACTOR_HEADER).unwrap_or_default(),
        );
        Ok(())
    }
}

/// For the startup log: which mode runs.
impl fmt::Display for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrustedMetadata => f.write_str("trusted metadata (x-tenant-id, x-actor-id)"),
            Self::Jwt(verifier) => f.write_str(&verifier.mode),
        }
    }
}

pub struct JwtVerifier {
    keys: Vec<VerifyingKey>,
    /// How this verifier was configured, for the startup log.
    mode: String,
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

/// The claims naming the caller. `exp`, `nbf`, `iss` and `aud` are checked by `Validation`.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
}

impl Claims {
    /// Checks the identity metadata agrees with the claims, then sets it from them.
    fn bind(self, headers: &mut HeaderMap) -> Result<(), DomainError> {
        let tenant = code_claim("tenant_id", &self.tenant_id)?;
        let actor = code_claim("sub", &self.sub)?;
        let roles = self.roles.join(",");
        if self.roles.iter().any(|r| r.contains(',')) || roles.chars().count() > MAX_CODE_CHARS {
            return Err(invalid("its roles claim is not a short list of role names"));
        }
        let granted = TenantRoles::parse(&roles);
        let roles = header_value("roles", &roles)?;
        agree(headers, TENANT_HEADER, "tenant_id", |sent| {
            sent == self.tenant_id
        })?;
        agree(headers, ACTOR_HEADER, "sub", |sent| sent == self.sub)?;
        agree(headers, ROLES_HEADER, "roles", |sent| {
            TenantRoles::parse(sent) == granted
        })?;
        headers.insert(TENANT_HEADER, tenant);
        headers.insert(ACTOR_HEADER, actor);
        headers.insert(ROLES_HEADER, roles);
        Ok(())
    }
}

/// A tenant or user id claim: as `identity::actor` accepts them from metadata.
fn code_claim(claim: &str, value: &str) -> Result<HeaderValue, DomainError> {
    if value.is_empty() || value.chars().count() > MAX_CODE_CHARS {
        return Err(invalid(format!(
            "its {claim} claim must be 1 to {MAX_CODE_CHARS} visible ASCII characters"
        )));
    }
    header_value(claim, value)
}

fn header_value(claim: &str, value: &str) -> Result<HeaderValue, DomainError> {
    match HeaderValue::from_str(value) {
        Ok(v) if value.chars().all(|c| c.is_ascii_graphic()) => Ok(v),
        _ => Err(invalid(format!(
            "its {claim} claim must be visible ASCII characters"
        ))),
    }
}

/// Identity metadata sent beside a token must say what the token says.
fn agree(
    headers: &HeaderMap,
    name: &str,
    claim: &str,
    same: impl Fn(&str) -> bool,
) -> Result<(), DomainError> {
    let Some(sent) = headers.get(name) else {
        return Ok(());
    };
    match sent.to_str().map(str::trim) {
        Ok("") => Ok(()),
        Ok(sent) if same(sent) => Ok(()),
        _ => Err(invalid(format!(
            "{name} metadata disagrees with its {claim} claim"
        ))),
    }
}

/// The token of `authorization: Bearer <token>`; no `authorization` at all is no identity.
fn bearer_token(headers: &HeaderMap) -> Result<&str, DomainError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(DomainError::MissingIdentity(vec![FieldViolation::new(
            AUTHORIZATION,
            "must be `Bearer <JWT>`: this service accepts signed tokens only",
        )]));
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| invalid("the authorization metadata is not `Bearer <JWT>`"))
}

fn validation(algorithm: Algorithm, issuer: Option<&str>, audience: Option<&str>) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.validate_nbf = true;
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

/// The tower layer that settles every call's caller before the services see it.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    authentication: Authentication,
}

impl AuthLayer {
    pub fn new(authentication: Authentication) -> Self {
        Self { authentication }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            authentication: self.authentication.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Authenticate<S> {
    inner: S,
    authentication: Authentication,
}

impl<S, B, R> Service<http::Request<B>> for Authenticate<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if OPEN_PREFIXES.iter().any(|open| path.starts_with(open)) {
            return Either::Left(self.inner.call(request));
        }
        match self.authentication.establish(request.headers_mut()) {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(err) => Either::Right(ready(Ok(tonic::Status::from(err).into_http()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        }
    }

    #[test]
    fn claims_replace_identity_metadata_that_agrees() {
        let mut sent = headers(&[(TENANT_HEADER, "acme"), (ROLES_HEADER, "Admin, sales")]);
        claims("acme", "alice", &["admin"])
            .bind(&mut sent)
            .expect("agrees");
        assert_eq!(sent[TENANT_HEADER], "acme");
        assert_eq!(sent[ACTOR_HEADER], "alice");
        assert_eq!(sent[ROLES_HEADER], "admin");
    }

    #[test]
    fn metadata_granting_other_roles_is_refused() {
        let mut sent = headers(&[(ROLES_HEADER, "admin")]);
        let err = claims("acme", "alice", &[])
            .bind(&mut sent)
            .expect_err("more roles");
        assert_eq!(err.reason(), "INVALID_TOKEN");
    }

    #[test]
    fn non_ascii_or_oversized_ids_are_refused() {
        for (tenant, sub) in [("acme", "王伟"), ("", "alice"), ("acme", &"x".repeat(129))] {
            let err = claims(tenant, sub, &[])
                .bind(&mut HeaderMap::new())
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
    }

    #[test]
    fn short_hs256_secrets_are_refused_at_startup() {
        let short = KeySource::Hs256Secret("too-short".into());
        assert!(matches!(
            Authentication::jwt(&short, None, None),
            Err(AuthConfigError::ShortSecret)
        ));
    }
}
