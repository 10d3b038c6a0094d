//! Duplicate detection on normalised phone and e-mail among a tenant's live leads.

use futures::future::join_all;
use leadpool::proto;

use crate::caller::Services;
use crate::fixtures;
use crate::harness::{TestApp, assert_error};

async fn create(
    app: &TestApp,
    pool_id: &str,
    phone: &str,
    email: &str,
    allow_duplicate: bool,
) -> Result<proto::Lead, tonic::Status> {
    app.as_service()
        .try_create_lead(proto::CreateLeadRequest {
            pool_id: pool_id.into(),
            lead: Some(proto::NewLead {
                name: "Wang Wei".into(),
                phone: phone.into(),
                email: email.into(),
                ..Default::default()
            }),
            allow_duplicate,
            ..Default::default()
        })
        .await
}

/// The manager discards the lead, so it stops being live.
async fn discard(app: &TestApp, lead_id: &str) {
    app.as_member("mia").discard(lead_id, "WRONG_NUMBER").await;
}

/// A contact as first written (phone, e-mail), and the same contact written again, differently.
type SameContact = (
    (&'static str, &'static str),
    &'static [(&'static str, &'static str)],
);

const SAME_CONTACTS: [SameContact; 2] = [
    (
        ("+86 138-0000-1234", ""),
        &[
            ("13800001234", ""),
            ("0086 138 0000 1234", ""),
            // Full-width, as a Chinese input method types them.
            ("１３８ ００００ １２３４", ""),
        ],
    ),
    (("", "jane@example.com"), &[("", "  JANE@Example.com ")]),
];

#[tokio::test]
async fn the_same_phone_or_email_written_differently_is_a_duplicate_in_any_pool() {
    for ((phone, email), again) in SAME_CONTACTS {
        let app = TestApp::spawn().await;
        let team = fixtures::team(&app, None).await;
        let west = fixtures::pool(&app, "West", None).await;
        let first = create(&app, &team.pool.id, phone, email, false)
            .await
            .expect("first");
        // Duplicates are per tenant, across its pools.
        for ((phone, email), pool) in again.iter().zip([&team.pool, &west]) {
            let create = create(&app, &pool.id, phone, email, false);
            let md = app.assert_refused(create, "DUPLICATE_LEAD").await;
            assert_eq!(md["existing_lead_id"], first.id);
        }
    }
}

#[tokio::test]
async fn allow_duplicate_records_what_it_duplicates() {
    let (app, team) = fixtures::app_with_team(None).await;
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
    let (app, team) = fixtures::app_with_team(None).await;
    let first = create(&app, &team.pool.id, "13800001234", "", false)
        .await
        .expect("first");
    discard(&app, &first.id).await;
    let second = create(&app, &team.pool.id, "138 0000 1234", "", false)
        .await
        .expect("a discarded lead does not block");
    let md = app
        .assert_refused(app.as_member("mia").try_reopen(&first.id), "DUPLICATE_LEAD")
        .await;
    assert_eq!(md["existing_lead_id"], second.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_contact_admit_exactly_one() {
    let (app, team) = fixtures::app_with_team(None).await;
    let tasks = (0..12).map(|i| {
        let (service, pool_id) = (app.as_service(), team.pool.id.clone());
        let phone = if i % 2 == 0 {
            "+86 138 0000 1234"
        } else {
            "13800001234"
        };
        let lead = proto::NewLead {
            name: format!("Racer {i}"),
            phone: phone.into(),
            ..Default::default()
        };
        tokio::spawn(async move { service.try_create_in(&pool_id, lead).await })
    });
    let results: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one lead per contact");
    let winner = winners[0].id.clone();
    for result in results.into_iter().filter(|r| r.is_err()) {
        let md = assert_error(result, "DUPLICATE_LEAD");
        assert_eq!(md["existing_lead_id"], winner);
    }
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(live, 1);
}

/// With a `request_id` the whole call is one transaction, which a unique-index collision aborts;
/// the lead it collided with must still be named, and nothing may change.
#[tokio::test]
async fn collisions_inside_idempotent_calls_name_the_existing_lead() {
    let (app, team) = fixtures::app_with_team(None).await;
    let request_id = || uuid::Uuid::now_v7().to_string();
    let new_lead = |name: &str, phone: &str, external_ref: &str| proto::NewLead {
        name: name.into(),
        phone: phone.into(),
        external_ref: external_ref.into(),
        ..Default::default()
    };
    let (service, admin) = (app.as_service(), app.as_admin());
    let create = |lead: proto::NewLead| {
        service.try_create_lead(proto::CreateLeadRequest {
            pool_id: team.pool.id.clone(),
            lead: Some(lead),
            request_id: request_id(),
            ..Default::default()
        })
    };
    let first = create(new_lead("First", "13800001234", "crm-1"))
        .await
        .expect("first");
    let second = create(new_lead("Second", "13900005678", "crm-2"))
        .await
        .expect("second");
    let before = app.fingerprint().await;

    let md = assert_error(
        create(new_lead("Third", "13700000000", "crm-1")).await,
        "EXTERNAL_REF_TAKEN",
    );
    assert_eq!(md["existing_lead_id"], first.id);
    let md = assert_error(
        create(new_lead("Third", "+86 138 0000 1234", "")).await,
        "DUPLICATE_LEAD",
    );
    assert_eq!(md["existing_lead_id"], first.id);

    let update = |lead: proto::Lead, path: &str| {
        let mut client = admin.leads();
        let request = admin.req(proto::UpdateLeadRequest {
            lead: Some(lead),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![path.into()],
            }),
            request_id: request_id(),
        });
        async move { client.update_lead(request).await }
    };
    let same_phone = proto::Lead {
        phone: "138-0000-1234".into(),
        ..second.clone()
    };
    let md = assert_error(update(same_phone, "phone").await, "DUPLICATE_LEAD");
    assert_eq!(md["existing_lead_id"], first.id);
    let same_ref = proto::Lead {
        external_ref: "crm-1".into(),
        ..second.clone()
    };
    let md = assert_error(update(same_ref, "external_ref").await, "EXTERNAL_REF_TAKEN");
    assert_eq!(md["existing_lead_id"], first.id);
    assert_eq!(
        app.fingerprint().await,
        before,
        "no failed call changed anything"
    );

    // A discarded lead whose phone a live lead took meanwhile cannot be reopened.
    let mia = app.as_member("mia");
    discard(&app, &first.id).await;
    let third = create(new_lead("Third", "13800001234", ""))
        .await
        .expect("the phone is free again");
    let md = app
        .assert_refused(
            mia.leads().reopen_lead(mia.req(proto::ReopenLeadRequest {
                lead_id: first.id.clone(),
                request_id: request_id(),
                ..Default::default()
            })),
            "DUPLICATE_LEAD",
        )
        .await;
    assert_eq!(md["existing_lead_id"], third.id);
}

/// A lead let in as a known duplicate is a live lead too: once its original is discarded, a
/// new lead with that phone duplicates it, through CreateLead and ImportLeads alike.
#[tokio::test]
async fn a_known_duplicate_stays_live_after_its_original_closes() {
    let (app, team) = fixtures::app_with_team(None).await;
    let original = create(&app, &team.pool.id, "13800001234", "", false)
        .await
        .expect("original");
    let known = create(&app, &team.pool.id, "+86 138 0000 1234", "", true)
        .await
        .expect("known duplicate");
    let md = assert_error(
        create(&app, &team.pool.id, "13800001234", "", false).await,
        "DUPLICATE_LEAD",
    );
    assert_eq!(
        md["existing_lead_id"], original.id,
        "the original comes first"
    );

    discard(&app, &original.id).await;
    let before = app.fingerprint().await;
    let md = assert_error(
        create(&app, &team.pool.id, "138-0000-1234", "", false).await,
        "DUPLICATE_LEAD",
    );
    assert_eq!(md["existing_lead_id"], known.id);
    let imported = app
        .as_service()
        .import_leads(proto::ImportLeadsRequest {
            pool_id: team.pool.id.clone(),
            leads: vec![proto::NewLead {
                name: "Imported".into(),
                phone: "13800001234".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await;
    assert_eq!(imported.duplicates, 1);
    assert_eq!(imported.results[0].lead_id, known.id);
    assert_eq!(app.fingerprint().await, before, "nothing was created");
}
