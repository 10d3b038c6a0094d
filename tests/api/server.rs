//! Health and reflection, as operators and grpcurl use them.

use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::harness::TestApp;

#[tokio::test]
async fn health_turns_serving_once_the_database_answers() {
    let app = TestApp::spawn().await;
    let mut health = HealthClient::new(app.channel());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "leadpool.v1.LeadService".into(),
        })
        .await
        .expect("watch")
        .into_inner();
    let serving = ServingStatus::Serving as i32;
    loop {
        let update: HealthCheckResponse = watch.next().await.expect("stream open").expect("status");
        if update.status == serving {
            break;
        }
    }
    let overall = health
        .check(HealthCheckRequest::default())
        .await
        .expect("check")
        .into_inner();
    assert_eq!(overall.status, serving);
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
