//! Every call needs an identity, and nothing crosses tenants.

use leadpool::proto;
use tonic::Request;

use crate::caller::Services;
use crate::fixtures::{self, TENANT};
use crate::harness::{Caller, TestApp, assert_error};

#[tokio::test]
async fn calls_without_identity_are_unauthenticated() {
    let app = TestApp::spawn().await;
    let before = app.fingerprint().await;

    let create = app
        .pools()
        .create_pool(Request::new(proto::CreatePoolRequest {
            name: "East".into(),
            ..Default::default()
        }))
        .await;
    assert_error(create, "MISSING_IDENTITY");

    // A tenant without an actor is still no identity.
    let mut only_tenant = Request::new(proto::ListLeadsRequest::default());
    only_tenant
        .metadata_mut()
        .insert("x-tenant-id", TENANT.parse().unwrap());
    let list = app.leads().list_leads(only_tenant).await;
    assert_error(list, "MISSING_IDENTITY");

    let blank = app.as_caller(Caller::new(" ", "alice", ""));
    let claim = blank.try_claim("").await;
    assert_error(claim, "MISSING_IDENTITY");
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn another_tenants_ids_are_not_found() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    let before = app.fingerprint().await;
    let stranger = app.as_caller(Caller::new("globex", "alice", "admin,service"));

    let pool = stranger.try_get_pool(&team.pool.id).await;
    let md = assert_error(pool, "POOL_NOT_FOUND");
    assert_eq!(md["pool_id"], team.pool.id);

    let get = stranger.try_get_lead(&lead.id).await;
    assert_error(get, "LEAD_NOT_FOUND");

    let claim = stranger.try_claim(&lead.id).await;
    assert_error(claim, "LEAD_NOT_FOUND");

    let release = stranger.try_release(&lead.id, "NO_BUDGET").await;
    assert_error(release, "LEAD_NOT_FOUND");

    let add_member = stranger
        .try_add_member(proto::AddMemberRequest {
            pool_id: team.pool.id.clone(),
            user_id: "mallory".into(),
            ..Default::default()
        })
        .await;
    assert_error(add_member, "POOL_NOT_FOUND");

    let create = stranger
        .try_create_in(&team.pool.id, fixtures::new_lead("Spy"))
        .await;
    assert_error(create, "POOL_NOT_FOUND");

    let members = stranger
        .try_list_members(fixtures::scoped(&team.pool.id))
        .await;
    assert_error(members, "POOL_NOT_FOUND");

    let history = stranger.try_lead_history(fixtures::scoped(&lead.id)).await;
    assert_error(history, "LEAD_NOT_FOUND");

    let list = stranger
        .list_leads(proto::ListLeadsRequest::default())
        .await;
    assert!(list.leads.is_empty(), "another tenant sees no leads");
    let pools = stranger
        .list_pools(proto::ListPoolsRequest::default())
        .await;
    assert!(pools.pools.is_empty(), "another tenant sees no pools");
    assert_eq!(app.fingerprint().await, before);
}

#[tokio::test]
async fn a_role_header_sent_twice_grants_nothing_and_is_refused() {
    let (app, team) = fixtures::app_with_team(None).await;
    // As a mesh that appends instead of replacing would pass it on: the caller's `admin` after
    // the mesh's `service`.
    let mut request = fixtures::user("alice").req(proto::ArchivePoolRequest {
        pool_id: team.pool.id.clone(),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("x-actor-roles", "service".parse().unwrap());
    request
        .metadata_mut()
        .append("x-actor-roles", "admin".parse().unwrap());
    let mut pools = app.pools();
    let fields = app.invalid_fields(pools.archive_pool(request)).await;
    assert_eq!(fields, ["x-actor-roles"]);
}
