//! Duplicate detection on normalised phone and e-mail among a tenant's live leads.

use futures::future::join_all;
use leadpool::proto;
use tonic::Code;

use crate::fixtures::{self, service, user};
use crate::harness::{TestApp, assert_error};

async fn create(
    app: &TestApp,
    pool_id: &str,
    phone: &str,
    email: &str,
    allow_duplicate: bool,
) -> Result<proto::Lead, tonic::Status> {
    app.leads()
        .create_lead(service().req(proto::CreateLeadRequest {
            pool_id: pool_id.into(),
            lead: Some(proto::NewLead {
                name: "Wang Wei".into(),
                phone: phone.into(),
                email: email.into(),
                ..Default::default()
            }),
            allow_duplicate,
            ..Default::default()
        }))
        .await
        .map(|r| r.into_inner().lead.expect("lead"))
}

#[tokio::test]
async fn same_phone_written_differently_is_a_duplicate() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let west = fixtures::pool(&app, "West", None).await;
    let first = create(&app, &team.pool.id, "+86 138-0000-1234", "", false)
        .await
        .expect("first");
    let before = app.fingerprint().await;
    let md = assert_error(
        create(&app, &team.pool.id, "13800001234", "", false).await,
        Code::AlreadyExists,
        "DUPLICATE_LEAD",
    );
    assert_eq!(md["existing_lead_id"], first.id);
    // Duplicates are per tenant, across its pools.
    let md = assert_error(
        create(&app, &west.id, "0086 138 0000 1234", "", false).await,
        Code::AlreadyExists,
        "DUPLICATE_LEAD",
    );
    assert_eq!(md["existing_lead_id"], first.id);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn same_email_in_another_case_is_a_duplicate() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let first = create(&app, &team.pool.id, "", "jane@example.com", false)
        .await
        .expect("first");
    let md = assert_error(
        create(&app, &team.pool.id, "", "  JANE@Example.com ", false).await,
        Code::AlreadyExists,
        "DUPLICATE_LEAD",
    );
    assert_eq!(md["existing_lead_id"], first.id);
}

#[tokio::test]
async fn allow_duplicate_records_what_it_duplicates() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let first = create(&app, &team.pool.id, "13800001234", "", false)
        .await
        .expect("first");
    let second = create(&app, &team.pool.id, "+86 13800001234", "", true)
        .await
        .expect("allowed duplicate");
    assert_eq!(second.duplicate_of, first.id);
    assert_eq!(first.duplicate_of, "");
}

#[tokio::test]
async fn only_live_leads_count_and_reopening_a_duplicate_is_refused() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let first = create(&app, &team.pool.id, "13800001234", "", false)
        .await
        .expect("first");
    app.leads()
        .discard_lead(user("mia").req(proto::DiscardLeadRequest {
            lead_id: first.id.clone(),
            reason: "WRONG_NUMBER".into(),
            ..Default::default()
        }))
        .await
        .expect("discard");
    let second = create(&app, &team.pool.id, "138 0000 1234", "", false)
        .await
        .expect("a discarded lead does not block");
    let before = app.fingerprint().await;
    let reopen = app
        .leads()
        .reopen_lead(user("mia").req(proto::ReopenLeadRequest {
            lead_id: first.id.clone(),
            ..Default::default()
        }))
        .await;
    let md = assert_error(reopen, Code::AlreadyExists, "DUPLICATE_LEAD");
    assert_eq!(md["existing_lead_id"], second.id);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn concurrent_creates_of_one_contact_admit_exactly_one() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let tasks = (0..12).map(|i| {
        let mut client = app.leads();
        let pool_id = team.pool.id.clone();
        tokio::spawn(async move {
            client
                .create_lead(
                    service().req(proto::CreateLeadRequest {
                        pool_id,
                        lead: Some(proto::NewLead {
                            name: format!("Racer {i}"),
                            phone: if i % 2 == 0 {
                                "+86 138 0000 1234"
                            } else {
                                "13800001234"
                            }
                            .into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                )
                .await
        })
    });
    let results: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one lead per contact");
    let winner = winners[0].get_ref().lead.as_ref().expect("lead").id.clone();
    for result in results.into_iter().filter(|r| r.is_err()) {
        let md = assert_error(result, Code::AlreadyExists, "DUPLICATE_LEAD");
        assert_eq!(md["existing_lead_id"], winner);
    }
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(live, 1);
}
