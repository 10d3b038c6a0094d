//! Who is calling, settled once per call before any service runs, in one tower layer around
//! every gRPC service (health and reflection stay open). The layer puts the caller, a typed
//! [`Actor`], into the request's extensions; handlers take it from there with [`caller`].
//!
//! Two modes. Trusted metadata (no key configured): the mesh in front of us sets
//! `x-tenant-id`, `x-actor-id` and `x-actor-roles`, and they are taken as sent. JWT (a key
//! configured): every call carries `authorization: Bearer <JWT>`, verified here; its claims
//! `tenant_id`, `sub` and `roles` win, and identity metadata that disagrees with them is refused.

mod jwt;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{Either, Ready, ready};
use http::HeaderMap;
use tonic::Request;
use tower::{Layer, Service};

pub use jwt::AuthConfigError;
use jwt::JwtVerifier;

use super::identity;
use crate::config::AuthSettings;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::telemetry;

/// Calls anyone may make: probes and tooling.
const OPEN_PREFIXES: [&str; 2] = ["/grpc.health.v1.Health/", "/grpc.reflection."];

/// How callers are identified, ready to check calls.
#[derive(Debug, Clone, Default)]
pub enum Authentication {
    /// Identity metadata set by a trusted mesh, taken as sent.
    #[default]
    TrustedMetadata,
    /// Verified `authorization: Bearer` JWTs.
    Jwt(Arc<JwtVerifier>),
}

impl Authentication {
    /// The mode `settings` ask for; JWT mode reads its key now, so a bad key stops startup.
    pub fn new(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        Ok(match settings {
            AuthSettings::TrustedMetadata => Self::TrustedMetadata,
            AuthSettings::Jwt {
                key,
                issuer,
                audience,
            } => Self::Jwt(Arc::new(JwtVerifier::new(
                key,
                issuer.as_deref(),
                audience.as_deref(),
            )?)),
        })
    }

    /// The caller of a call, from its metadata (and token), or why it cannot be trusted.
    fn establish(&self, headers: &HeaderMap) -> Result<Actor, DomainError> {
        let actor = match self {
            Self::TrustedMetadata => identity::from_metadata(headers)?,
            Self::Jwt(verifier) => verifier.caller(headers)?,
        };
        telemetry::record_caller(&actor.tenant_id, &actor.user_id);
        Ok(actor)
    }
}

/// For the startup log: which mode runs.
impl fmt::Display for Authentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TrustedMetadata => f.write_str("trusted metadata (x-tenant-id, x-actor-id)"),
            Self::Jwt(verifier) => fmt::Display::fmt(verifier, f),
        }
    }
}

/// The caller the auth layer settled for this request.
pub fn actor<T>(request: &Request<T>) -> Result<Actor, DomainError> {
    match request.extensions().get::<Actor>() {
        Some(actor) => Ok(actor.clone()),
        // Only a server assembled without the auth layer gets here: our bug, not the caller's.
        None => Err(DomainError::internal(
            "the call reached a service without a caller",
        )),
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
        match self.authentication.establish(request.headers()) {
            Ok(actor) => {
                request.extensions_mut().insert(actor);
                Either::Left(self.inner.call(request))
            }
            Err(err) => Either::Right(ready(Ok(tonic::Status::from(err).into_http()))),
        }
    }
}
