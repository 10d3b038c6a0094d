//! JWT mode: a server with a key takes the caller from a verified `authorization: Bearer`
//! token, and refuses calls whose token is missing, broken, or contradicted by metadata.
//! Each test sets up through a trusted-metadata server and calls a JWT replica of it.

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use leadpool::config::{AuthSettings, KeySource, Settings};
use leadpool::proto;
use leadpool::proto::lead_service_client::LeadServiceClient;
use serde_json::{Value, json};
use tonic::Request;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::fixtures::{self, TENANT};
use crate::harness::{Replica, TestApp, assert_error, test_settings};

const SECRET: &str = "a-test-secret-of-at-least-32-bytes!";
const ISSUER: &str = "https://id.example.test";
const AUDIENCE: &str = "leadpool";

fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/api/keys")
        .join(name)
}

fn jwt_settings(key: &KeySource) -> Settings {
    Settings {
        auth: AuthSettings::Jwt {
            key: key.clone(),
            issuer: Some(ISSUER.into()),
            audience: Some(AUDIENCE.into()),
        },
        ..test_settings()
    }
}

/// A trusted-metadata server with a team and a lead, and a JWT replica of it.
struct Setup {
    app: TestApp,
    jwt: Replica,
    lead_id: String,
}

async fn setup(key: KeySource) -> Setup {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let jwt = app.spawn_replica(jwt_settings(&key)).await;
    Setup {
        app,
        jwt,
        lead_id: lead.id,
    }
}

impl Setup {
    fn leads(&self) -> LeadServiceClient<Channel> {
        LeadServiceClient::new(self.jwt.channel.clone())
    }

    /// Claims the lead through the JWT replica with this authorization (if any) and metadata.
    async fn claim(
        &self,
        authorization: Option<String>,
        metadata: &[(&'static str, &str)],
    ) -> Result<proto::Lead, tonic::Status> {
        let mut request = Request::new(proto::ClaimLeadRequest {
            lead_id: self.lead_id.clone(),
            ..Default::default()
        });
        if let Some(authorization) = authorization {
            let value = authorization.parse().expect("ascii");
            request.metadata_mut().insert("authorization", value);
        }
        // Appended: a name given again (or `authorization` beside the token) is sent twice.
        for (name, value) in metadata {
            request
                .metadata_mut()
                .append(*name, value.parse().expect("ascii"));
        }
        let response = self.leads().claim_lead(request).await?;
        Ok(response.into_inner().lead.expect("lead"))
    }

    /// Asserts the claim fails as `UNAUTHENTICATED` with this reason and a message that
    /// `says` why, and changes nothing.
    async fn refused(
        &self,
        authorization: Option<String>,
        metadata: &[(&'static str, &str)],
        reason: &str,
        says: &str,
    ) {
        let before = self.app.fingerprint().await;
        let result = self.claim(authorization, metadata).await;
        if let Err(status) = &result {
            assert!(status.message().contains(says), "{status:?}");
        }
        assert_error(result, reason);
        assert_eq!(self.app.fingerprint().await, before);
    }
}

/// Claims of a valid token for alice of the test tenant; tests spoil one at a time.
fn alice() -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "tenant_id": TENANT,
        "roles": [],
        "iat": now,
        "exp": now + 600,
    })
}

fn hs256(claims: &Value, secret: &str) -> String {
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign");
    format!("Bearer {token}")
}

fn rs256(claims: &Value, kid: Option<&str>) -> String {
    let pem = std::fs::read(key_file("rs256-private.pem")).expect("test key");
    let key = EncodingKey::from_rsa_pem(&pem).expect("rsa key");
    let header = Header {
        kid: kid.map(str::to_owned),
        ..Header::new(Algorithm::RS256)
    };
    let token = jsonwebtoken::encode(&header, claims, &key).expect("sign");
    format!("Bearer {token}")
}

fn with(claim: &str, value: Value) -> Value {
    let mut claims = alice();
    claims[claim] = value;
    claims
}

#[tokio::test]
async fn hs256_token_names_the_caller() {
    let s = setup(KeySource::Hs256Secret(SECRET.into())).await;
    let lead = s
        .claim(Some(hs256(&alice(), SECRET)), &[])
        .await
        .expect("claim with a token alone");
    assert_eq!(lead.owner_id, "alice");
    fixtures::assert_consistent(&s.app).await;
}

#[tokio::test]
async fn rs256_token_names_the_caller() {
    let s = setup(KeySource::Rs256PublicKeyFile(key_file("rs256-public.pem"))).await;
    let agreeing = [("x-tenant-id", TENANT), ("x-actor-id", "alice")];
    let lead = s
        .claim(Some(rs256(&alice(), None)), &agreeing)
        .await
        .expect("claim with a token and metadata that agrees");
    assert_eq!(lead.owner_id, "alice");
}

#[tokio::test]
async fn jwks_keys_are_picked_by_kid() {
    let s = setup(KeySource::JwksFile(key_file("jwks.json"))).await;
    let unknown_key = rs256(&alice(), Some("retired-2025"));
    s.refused(Some(unknown_key), &[], "INVALID_TOKEN", "kid")
        .await;
    let lead = s
        .claim(Some(rs256(&alice(), Some("test-2026"))), &[])
        .await
        .expect("claim with the set's key");
    assert_eq!(lead.owner_id, "alice");
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let s = setup(KeySource::Hs256Secret(SECRET.into())).await;
    let an_hour_ago = jsonwebtoken::get_current_timestamp() - 3600;
    let expired = with("exp", json!(an_hour_ago));
    let token = Some(hs256(&expired, SECRET));
    s.refused(token, &[], "INVALID_TOKEN", "expired").await;
}

#[tokio::test]
async fn tokens_for_another_audience_or_from_another_issuer_are_refused() {
    let s = setup(KeySource::Hs256Secret(SECRET.into())).await;
    let elsewhere = with("aud", json!("billing"));
    let token = Some(hs256(&elsewhere, SECRET));
    s.refused(token, &[], "INVALID_TOKEN", "audience").await;
    let stranger = with("iss", json!("https://evil.example.test"));
    let token = Some(hs256(&stranger, SECRET));
    s.refused(token, &[], "INVALID_TOKEN", "issuer").await;
    let mut no_audience = alice();
    no_audience.as_object_mut().expect("claims").remove("aud");
    let token = Some(hs256(&no_audience, SECRET));
    s.refused(token, &[], "INVALID_TOKEN", "no aud claim").await;
}

#[tokio::test]
async fn tokens_with_a_bad_signature_are_refused() {
    let s = setup(KeySource::Hs256Secret(SECRET.into())).await;
    let forged = hs256(&alice(), "another-secret-of-at-least-32-bytes");
    s.refused(Some(forged), &[], "INVALID_TOKEN", "signature")
        .await;
}

#[tokio::test]
async fn hs256_tokens_signed_with_the_public_key_do_not_pass_for_rs256() {
    let public_key = key_file("rs256-public.pem");
    let s = setup(KeySource::Rs256PublicKeyFile(public_key.clone())).await;
    let pem = std::fs::read_to_string(public_key).expect("test key");
    let token = Some(hs256(&alice(), &pem));
    s.refused(token, &[], "INVALID_TOKEN", "algorithm").await;
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let s = setup(KeySource::Hs256Secret(SECRET.into())).await;
    let good = hs256(&alice(), SECRET);
    let truncated = good[..good.len() - 10].to_owned();
    for (authorization, says) in [
        ("Bearer not-a-jwt".to_owned(), "well-formed"),
        (truncated, "signature"),
        ("Basic YWxpY2U6c2VjcmV0".to_owned(), "Bearer"),
        ("Bearer ".to_owned(), "Bearer"),
    ] {
        s.refused(Some(authorization), &[], "INVALID_TOKEN", says)
            .await;
    }
    let no_tenant = with("tenant_id", json!(""));
    let token = Some(hs256(&no_tenant, SECRET));
    s.refused(token, &[], "INVALID_TOKEN", "tenant_id").await;
    let roles_as_text = with("roles", json!("admin"));
    let token = Some(hs256(&roles_as_text, SECRET));
    s.refused(token, &[], "INVALID_TOKEN", "claims").await;
    // A `nbf` that is not a number is malformed, not skipped.
    for nbf in [json!("4102444800"), json!("soon"), json!(true)] {
        let token = Some(hs256(&with("nbf", nbf), SECRET));
        s.refused(token, &[], "INVALID_TOKEN", "claims").await;
    }
}

#[tokio::test]
async fn tokens_not_valid_yet_are_refused_whatever_number_names_the_time() {
    let s = setup(KeySource::Hs256Secret(SECRET.into())).await;
    let in_an_hour = jsonwebtoken::get_current_timestamp() + 3600;
    // Beyond what a whole number of seconds holds, or with a fraction: still a time to wait for.
    for nbf in [
        json!(in_an_hour),
        json!(2f64.powi(64)),
        json!(1.5e300),
        json!(in_an_hour as f64 + 0.5),
    ] {
        let token = Some(hs256(&with("nbf", nbf.clone()), SECRET));
        s.refused(token, &[], "INVALID_TOKEN", "not valid yet")
            .await;
    }
}

#[tokio::test]
async fn calls_without_a_token_have_no_identity_even_with_metadata() {
    let s = setup(KeySource::Hs256Secret(SECRET.into())).await;
    let metadata = [("x-tenant-id", TENANT), ("x-actor-id", "alice")];
    s.refused(None, &metadata, "MISSING_IDENTITY", "authorization")
        .await;
}

#[tokio::test]
async fn metadata_that_contradicts_the_token_is_refused() {
    let s = setup(KeySource::Hs256Secret(SECRET.into())).await;
    let token = || Some(hs256(&alice(), SECRET));
    for (name, value) in [
        ("x-tenant-id", "globex"),
        ("x-actor-id", "bob"),
        ("x-actor-roles", "admin"),
    ] {
        s.refused(token(), &[(name, value)], "INVALID_TOKEN", name)
            .await;
    }
}

/// Two `authorization` entries are two identities: neither is picked, in either order, even
/// when both verify (a gateway that checked one of them must not let the other act).
#[tokio::test]
async fn a_call_with_two_authorization_entries_is_refused() {
    let s = setup(KeySource::Hs256Secret(SECRET.into())).await;
    let alice = hs256(&alice(), SECRET);
    let admin = hs256(&with("roles", json!(["admin"])), SECRET);
    let globex = hs256(&with("tenant_id", json!("globex")), SECRET);
    for (first, second) in [
        (&alice, &admin),
        (&admin, &alice),
        (&globex, &alice),
        (&alice, &alice),
    ] {
        let again = [("authorization", second.as_str())];
        s.refused(
            Some(first.clone()),
            &again,
            "INVALID_TOKEN",
            "more than once",
        )
        .await;
    }
    s.claim(Some(alice), &[]).await.expect("one token");
}

#[tokio::test]
async fn health_and_reflection_need_no_token() {
    let s = setup(KeySource::Hs256Secret(SECRET.into())).await;
    HealthClient::new(s.jwt.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health without a token");
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            s.jwt.channel.clone(),
        );
    let list = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([list]))
        .await
        .expect("reflection without a token")
        .into_inner();
    assert!(answers.message().await.expect("an answer").is_some());
}
