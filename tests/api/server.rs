//! Health and reflection, as operators and grpcurl use them.

use std::time::Duration;

use leadpool::proto::pool_service_client::PoolServiceClient;
use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::caller::Services;
use crate::harness::{EmptyDatabase, LIVENESS, TestApp, shutdown_delay_settings};
use leadpool::store::PoolSize;

/// Follows the health of `service` until it reports `status`.
async fn wait_for_health(app: &TestApp, service: &str, status: ServingStatus) {
    let mut watch = HealthClient::new(app.channel())
        .watch(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("watch")
        .into_inner();
    loop {
        let update: HealthCheckResponse = watch.next().await.expect("stream open").expect("status");
        if update.status == status as i32 {
            return;
        }
    }
}

#[tokio::test]
async fn health_turns_serving_once_the_database_answers() {
    let app = TestApp::spawn().await;
    wait_for_health(&app, "leadpool.v1.LeadService", ServingStatus::Serving).await;
    let overall = HealthClient::new(app.channel())
        .check(HealthCheckRequest::default())
        .await
        .expect("check")
        .into_inner();
    assert_eq!(overall.status, ServingStatus::Serving as i32);
}

#[tokio::test]
async fn reflection_lists_our_services() {
    let app = TestApp::spawn().await;
    let mut reflection = ServerReflectionClient::new(app.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses.next().await.expect("one response").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "leadpool.v1.PoolService",
        "leadpool.v1.LeadService",
        "leadpool.v1.EventService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == service), "{service} in {names:?}");
    }
}

#[tokio::test]
async fn reflection_resolves_our_symbols_for_grpcurl() {
    let app = TestApp::spawn().await;
    let mut reflection = ServerReflectionClient::new(app.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "leadpool.v1.LeadService".into(),
        )),
    };
    let response = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner()
        .next()
        .await
        .expect("one response")
        .expect("ok");
    let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn health_turns_not_serving_when_the_database_stops_answering() {
    let app = TestApp::spawn().await;
    wait_for_health(&app, "", ServingStatus::Serving).await;
    // The test shares the server's connection pool: closing it is the database going away.
    app.db.close().await;
    wait_for_health(&app, "", ServingStatus::NotServing).await;
    let call = app
        .pools()
        .list_pools(crate::fixtures::admin().req(leadpool::proto::ListPoolsRequest::default()))
        .await;
    crate::harness::assert_error(call, "DATABASE_UNAVAILABLE");
}

#[tokio::test]
async fn liveness_stays_serving_while_the_database_is_down() {
    let app = TestApp::spawn().await;
    wait_for_health(&app, "", ServingStatus::Serving).await;
    app.db.close().await;
    wait_for_health(&app, "", ServingStatus::NotServing).await;
    let liveness = HealthClient::new(app.channel())
        .check(HealthCheckRequest {
            service: LIVENESS.into(),
        })
        .await
        .expect("check")
        .into_inner();
    assert_eq!(liveness.status, ServingStatus::Serving as i32);
}

#[tokio::test]
async fn shutdown_delay_keeps_accepting_calls_while_not_serving() {
    let mut app = TestApp::spawn_with(shutdown_delay_settings(Duration::from_secs(3))).await;
    wait_for_health(&app, "", ServingStatus::Serving).await;
    app.begin_shutdown();
    wait_for_health(&app, "", ServingStatus::NotServing).await;
    // A caller whose load balancer has not heard yet still gets through, on a new connection.
    let call = PoolServiceClient::new(app.new_connection())
        .list_pools(crate::fixtures::admin().req(leadpool::proto::ListPoolsRequest::default()))
        .await;
    assert!(call.is_ok(), "{call:?}");
    app.stopped().await.expect("server returns after the delay");
}

#[tokio::test]
async fn shutdown_finishes_in_flight_calls_and_stops_serving() {
    let (mut app, team) = crate::fixtures::app_with_team(None).await;
    // A call that holds a row lock keeps a claim in flight while shutdown begins.
    let lead = crate::fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let blocker = app
        .holding(
            "SELECT 1 FROM leads WHERE id = $1::uuid FOR UPDATE",
            &lead.id,
        )
        .await;
    let mut client = app.leads();
    let in_flight = tokio::spawn(async move {
        client
            .claim_lead(
                crate::fixtures::user("alice").req(leadpool::proto::ClaimLeadRequest {
                    lead_id: lead.id,
                    ..Default::default()
                }),
            )
            .await
    });
    // Wait until the claim is really waiting on the lock, then begin the shutdown.
    app.until_a_statement_waits_on_a_lock().await;
    app.begin_shutdown();
    blocker.rollback().await.expect("release the lock");
    let claimed = in_flight
        .await
        .expect("task")
        .expect("in-flight claim completes");
    assert_eq!(claimed.into_inner().lead.expect("lead").owner_id, "alice");
    app.stopped().await.expect("server returns cleanly");
}

/// A process that starts while PostgreSQL has fewer free connection slots than it keeps open
/// (a rolling update over a tight `max_connections`) starts with the ones it gets; with none, it
/// fails with the server's reason, not a pool timeout. A role's connection limit stands in for
/// the server's (superusers are exempt from both).
#[tokio::test(flavor = "multi_thread")]
async fn a_pool_opens_the_connections_the_server_allows_and_names_a_refusal() {
    let database = EmptyDatabase::create().await;
    let role = format!("leadpool_limited_{}", uuid::Uuid::now_v7().simple());
    database
        .as_superuser(&format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT 3"))
        .await;
    let options = database.options.clone().username(&role);
    let wanted = PoolSize { max: 10, min: 10 };

    let pool = leadpool::store::connect(options.clone(), wanted)
        .await
        .expect("starts with the 3 connections the server allows");
    assert_eq!(pool.size(), 3);
    let answer: i32 = sqlx::query_scalar("SELECT 7")
        .fetch_one(&pool)
        .await
        .expect("serves");
    assert_eq!(answer, 7);
    pool.close().await;

    database
        .as_superuser(&format!("ALTER ROLE {role} CONNECTION LIMIT 0"))
        .await;
    let refused = leadpool::store::connect(options, wanted)
        .await
        .expect_err("no connection can open");
    let code = refused.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("53300"), "{refused}");
    assert!(
        refused.to_string().contains("too many connections"),
        "{refused}"
    );
    database.as_superuser(&format!("DROP ROLE {role}")).await;
}
