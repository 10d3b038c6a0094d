//! The client-only crate (clients/rust) against the real server: what a Rust caller that does
//! not depend on the server crate writes, refusals read as `leadpool.v1.ErrorReason`.

use leadpool_client::v1::lead_service_client::LeadServiceClient;
use leadpool_client::v1::{ClaimLeadRequest, GetLeadRequest, LeadState};
use leadpool_client::{Identity, Refusal, tonic::Code};

use crate::fixtures::{TENANT, app_with_lead};

#[tokio::test]
async fn a_rust_caller_claims_and_reads_refusals_through_the_client_crate() {
    let (app, _team, lead) = app_with_lead(Some(1)).await;
    let mut leads = LeadServiceClient::new(app.channel());
    let alice = Identity::metadata(TENANT, "alice", &[]);
    let bob = Identity::metadata(TENANT, "bob", &[]);
    let claim = |lead_id: &str| ClaimLeadRequest {
        lead_id: lead_id.to_owned(),
        ..Default::default()
    };

    let claimed = leads
        .claim_lead(alice.request(claim(&lead.id)).unwrap())
        .await;
    let claimed = claimed
        .expect("alice claims")
        .into_inner()
        .lead
        .expect("the lead");
    assert_eq!(claimed.state(), LeadState::Owned);
    assert_eq!(claimed.owner_id, "alice");

    let taken = leads
        .claim_lead(bob.request(claim(&lead.id)).unwrap())
        .await;
    let refusal = Refusal::from_status(&taken.expect_err("alice holds it")).expect("ErrorInfo");
    assert_eq!(refusal.code, Code::FailedPrecondition);
    assert_eq!(
        refusal.reason,
        leadpool_client::v1::ErrorReason::LeadNotInPool
    );
    assert_eq!(refusal.metadata["lead_id"], lead.id);
    assert!(!refusal.is_retryable());

    let anonymous = tonic::Request::new(GetLeadRequest {
        lead_id: lead.id.clone(),
    });
    let refused = leads.get_lead(anonymous).await.expect_err("no identity");
    let refusal = Refusal::from_status(&refused).expect("ErrorInfo");
    assert_eq!(
        refusal.reason,
        leadpool_client::v1::ErrorReason::MissingIdentity
    );
}
