//! CreateLead, GetLead, ListLeads.

use leadpool::proto;

use crate::caller::Client;
use crate::fixtures::{self, new_lead};
use crate::harness::{assert_error, bad_fields};

#[tokio::test]
async fn service_creates_pool_lead_with_created_event() {
    let (app, team) = fixtures::app_with_team(None).await;
    let mut fields = new_lead("Wang Wei");
    fields.external_ref = "crm-42".into();
    fields.tags = vec!["vip".into(), "expo".into()];
    fields.attributes = [("budget".to_owned(), "1M".to_owned())].into();
    let lead = app.as_service().create_in(&team.pool.id, fields).await;
    assert_eq!(lead.state(), proto::LeadState::InPool);
    assert_eq!(lead.owner_id, "");
    assert_eq!(lead.external_ref, "crm-42");
    assert_eq!(lead.tags, ["vip", "expo"]);
    assert_eq!(lead.attributes["budget"], "1M");
    assert_eq!(lead.version, 1);
    assert!(lead.pool_entered_at.is_some());
    assert_eq!(fixtures::event_kinds(&app, &lead.id).await, ["CREATED"]);

    let read = app.as_member("alice").get_lead(&lead.id).await;
    assert_eq!(read, lead);
}

#[tokio::test]
async fn manager_creates_owned_lead_counted_against_the_owner() {
    let (app, team) = fixtures::app_with_team(Some(1)).await;
    let lead = app
        .as_member("mia")
        .create_owned(&team.pool.id, new_lead("Li Na"), "alice")
        .await;
    assert_eq!(lead.state(), proto::LeadState::Owned);
    assert_eq!(lead.owner_id, "alice");
    assert_eq!(lead.acquired_via(), proto::AcquisitionChannel::Create);

    // alice is now at her cap of 1: a second owned lead is refused, and nothing is written.
    let md = app
        .assert_refused(
            app.as_member("mia")
                .try_create_owned(&team.pool.id, new_lead("Zhao Lei"), "alice"),
            "HELD_LIMIT_REACHED",
        )
        .await;
    assert_eq!((md["limit"].as_str(), md["held"].as_str()), ("1", "1"));
    app.assert_refused(
        app.as_member("mia")
            .try_create_owned(&team.pool.id, new_lead("Zhao Lei"), "zoe"),
        "MEMBER_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn plain_members_cannot_create_leads() {
    let (app, team) = fixtures::app_with_team(None).await;
    app.assert_refused(
        app.as_member("alice")
            .try_create_in(&team.pool.id, new_lead("Wang Wei")),
        "MANAGER_REQUIRED",
    )
    .await;
}

#[tokio::test]
async fn create_lead_names_every_bad_field() {
    let (app, team) = fixtures::app_with_team(None).await;
    let before = app.fingerprint().await;
    let mut fields = new_lead("");
    fields.company = "c".repeat(201);
    fields.tags = (0..21).map(|i| format!("t{i}")).collect();
    fields.attributes = [(String::new(), "v".to_owned())].into();
    let result = app
        .as_service()
        .try_create_lead(proto::CreateLeadRequest {
            pool_id: team.pool.id.clone(),
            lead: Some(fields),
            owner_id: "o".repeat(129),
            request_id: "nope".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        bad_fields(result),
        [
            "lead.name",
            "lead.company",
            "lead.tags",
            "lead.attributes",
            "owner_id",
            "request_id"
        ]
    );
    let missing = app
        .as_service()
        .try_create_lead(proto::CreateLeadRequest {
            pool_id: "x".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(bad_fields(missing), ["pool_id", "lead", "lead.name"]);
    let long_name = app
        .as_service()
        .try_create_in(
            &team.pool.id,
            proto::NewLead {
                name: "名".repeat(201),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(bad_fields(long_name), ["lead.name"]);
    let bad_tags = app
        .as_service()
        .try_create_in(
            &team.pool.id,
            proto::NewLead {
                tags: vec!["重点".into(), " ".into(), "标".repeat(51)],
                attributes: [
                    ("来源".to_owned(), "展会".to_owned()),
                    ("备注".to_owned(), "长".repeat(501)),
                ]
                .into(),
                ..new_lead("王伟")
            },
        )
        .await;
    assert_eq!(
        bad_fields(bad_tags),
        ["lead.tags[1]", "lead.tags[2]", "lead.attributes[备注]"]
    );
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn external_ref_is_unique_per_tenant() {
    let (app, team) = fixtures::app_with_team(None).await;
    let mut fields = new_lead("Wang Wei");
    fields.external_ref = "crm-1".into();
    let service = app.as_service();
    let create = |fields: proto::NewLead| service.try_create_in(&team.pool.id, fields);
    let first = create(fields).await.expect("first");
    let before = app.fingerprint().await;
    let mut other = new_lead("Li Na");
    other.external_ref = "crm-1".into();
    let md = assert_error(create(other).await, "EXTERNAL_REF_TAKEN");
    assert_eq!(md["existing_lead_id"], first.id);
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn get_lead_refuses_outsiders_unknown_and_malformed_ids() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let outsider = app.as_member("zoe").try_get_lead(&lead.id).await;
    assert_error(outsider, "NOT_POOL_MEMBER");
    let unknown = app
        .as_admin()
        .try_get_lead(&uuid::Uuid::now_v7().to_string())
        .await;
    assert_error(unknown, "LEAD_NOT_FOUND");
    let malformed = app.as_admin().try_get_lead("lead-1").await;
    assert_eq!(bad_fields(malformed), ["lead_id"]);
}

/// The names of every lead the request lists, page by page.
async fn list_all(who: &Client, request: proto::ListLeadsRequest) -> Vec<String> {
    let leads = fixtures::list_all_leads(who, request).await;
    leads.into_iter().map(|l| l.name).collect()
}

#[tokio::test]
async fn list_leads_filters_by_pool_owner_and_state_page_by_page() {
    let (app, team) = fixtures::app_with_team(None).await;
    let other = fixtures::pool(&app, "West", None).await;
    let mut ids = Vec::new();
    for name in ["L1", "L2", "L3", "L4", "L5"] {
        app.clock.advance(chrono::Duration::seconds(1));
        ids.push(fixtures::lead(&app, &team.pool.id, name).await.id);
    }
    fixtures::lead(&app, &other.id, "W1").await;
    app.as_member("alice").claim(&ids[1]).await;
    app.as_member("alice").claim(&ids[3]).await;

    let by_pool = proto::ListLeadsRequest {
        pool_id: team.pool.id.clone(),
        page_size: 2,
        ..Default::default()
    };
    assert_eq!(
        list_all(&app.as_member("bob"), by_pool.clone()).await,
        ["L1", "L2", "L3", "L4", "L5"]
    );
    let mine = proto::ListLeadsRequest {
        owner_id: "me".into(),
        ..Default::default()
    };
    assert_eq!(list_all(&app.as_member("alice"), mine).await, ["L2", "L4"]);
    let in_pool = proto::ListLeadsRequest {
        state: proto::LeadState::InPool.into(),
        page_size: 1,
        ..by_pool.clone()
    };
    assert_eq!(
        list_all(&app.as_member("bob"), in_pool).await,
        ["L1", "L3", "L5"]
    );
    let alices = proto::ListLeadsRequest {
        owner_id: "alice".into(),
        ..by_pool
    };
    assert_eq!(list_all(&app.as_member("mia"), alices).await, ["L2", "L4"]);
    // Without a pool filter a member sees the pools they belong to; a service sees everything.
    assert_eq!(
        list_all(&app.as_member("bob"), proto::ListLeadsRequest::default())
            .await
            .len(),
        5
    );
    assert_eq!(
        list_all(&app.as_service(), proto::ListLeadsRequest::default())
            .await
            .len(),
        6
    );
}

#[tokio::test]
async fn list_leads_refuses_bad_input() {
    let (app, team) = fixtures::app_with_team(None).await;
    for name in ["L1", "L2", "L3"] {
        fixtures::lead(&app, &team.pool.id, name).await;
    }
    let negative = app
        .as_member("bob")
        .try_list_leads(proto::ListLeadsRequest {
            page_size: -1,
            pool_id: "bad".into(),
            state: 42,
            ..Default::default()
        })
        .await;
    assert_eq!(bad_fields(negative), ["pool_id", "state", "page_size"]);

    let garbage = app
        .as_member("bob")
        .try_list_leads(proto::ListLeadsRequest {
            page_token: "AAAA".into(),
            ..Default::default()
        })
        .await;
    assert_error(garbage, "BAD_PAGE_TOKEN");

    let token = app
        .as_member("bob")
        .list_leads(proto::ListLeadsRequest {
            pool_id: team.pool.id.clone(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .next_page_token;
    let other_filter = app
        .as_member("bob")
        .try_list_leads(proto::ListLeadsRequest {
            pool_id: team.pool.id.clone(),
            state: proto::LeadState::Owned.into(),
            page_token: token,
            ..Default::default()
        })
        .await;
    assert_error(other_filter, "BAD_PAGE_TOKEN");

    let outsider = app
        .as_member("zoe")
        .try_list_leads(fixtures::scoped(&team.pool.id))
        .await;
    assert_error(outsider, "NOT_POOL_MEMBER");
    let unknown = app
        .as_member("zoe")
        .try_list_leads(fixtures::scoped(&uuid::Uuid::now_v7().to_string()))
        .await;
    assert_error(unknown, "POOL_NOT_FOUND");
}

#[tokio::test]
async fn page_size_defaults_to_50_and_is_clamped_to_500() {
    let (app, team) = fixtures::app_with_team(None).await;
    sqlx::query(
        "INSERT INTO leads (tenant_id, id, pool_id, name, state, pool_entered_at, created_at, updated_at)
         SELECT $1, gen_random_uuid(), $2::uuid, 'bulk ' || g, 'IN_POOL', now(), now(), now()
         FROM generate_series(1, 501) g",
    )
    .bind(fixtures::TENANT)
    .bind(&team.pool.id)
    .execute(&app.db)
    .await
    .expect("seed");
    let (service, pool_id) = (&app.as_service(), &team.pool.id);
    let page = |page_size| async move {
        let request = proto::ListLeadsRequest {
            pool_id: pool_id.clone(),
            page_size,
            ..Default::default()
        };
        service.list_leads(request).await.leads.len()
    };
    assert_eq!(page(0).await, 50);
    assert_eq!(page(10_000).await, 500);
}
