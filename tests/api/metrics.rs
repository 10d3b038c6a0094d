//! `/metrics`: counters move with the work, every RPC is counted and timed under the
//! conventional gRPC names by type, method and code (a stream until its end), event streams,
//! the connection pool and the build are visible.

use std::time::Duration;

use leadpool::proto;
use leadpool::proto::watch_events_response::Item;

use crate::caller::Services;
use crate::fixtures::{self};
use crate::harness::TestApp;

/// The value of one series of a scrape, e.g. `leadpool_claims_total`.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.parse().expect("a number"))
    })
}

/// `grpc_server_handled_total` of a LeadService method of `kind` that ended with `code`.
fn handled(scrape: &str, kind: &str, method: &str, code: &str) -> Option<f64> {
    let series = format!(
        "grpc_server_handled_total{{grpc_type=\"{kind}\",grpc_service=\"leadpool.v1.LeadService\",grpc_method=\"{method}\",grpc_code=\"{code}\"}}"
    );
    sample(scrape, &series)
}

fn rpc_count(scrape: &str, method: &str, code: &str) -> Option<f64> {
    handled(scrape, "unary", method, code)
}

#[tokio::test]
async fn claims_releases_and_their_rpcs_are_counted() {
    let (app, _, lead) = fixtures::app_with_lead(None).await;
    let before = app.scrape_metrics().await;
    assert_eq!(sample(&before, "leadpool_claims_total"), Some(0.0));
    assert_eq!(sample(&before, "leadpool_releases_total"), Some(0.0));
    assert_eq!(rpc_count(&before, "ClaimLead", "OK"), None);

    app.as_member("alice").claim(&lead.id).await;
    let stolen = app.as_member("bob").try_claim(&lead.id).await;
    assert!(stolen.is_err(), "alice owns it");
    app.as_member("alice").release(&lead.id, "NO_BUDGET").await;

    let after = app.scrape_metrics().await;
    assert_eq!(sample(&after, "leadpool_claims_total"), Some(1.0));
    assert_eq!(sample(&after, "leadpool_releases_total"), Some(1.0));
    assert_eq!(rpc_count(&after, "ClaimLead", "OK"), Some(1.0));
    assert_eq!(
        rpc_count(&after, "ClaimLead", "FAILED_PRECONDITION"),
        Some(1.0)
    );
    assert_eq!(rpc_count(&after, "ReleaseLead", "OK"), Some(1.0));
    let all_claims = "grpc_server_handling_seconds_bucket{le=\"+Inf\",grpc_type=\"unary\",grpc_service=\"leadpool.v1.LeadService\",grpc_method=\"ClaimLead\",grpc_code=\"OK\"}";
    assert_eq!(sample(&after, all_claims), Some(1.0), "{after}");
    let started = "grpc_server_started_total{grpc_type=\"unary\",grpc_service=\"leadpool.v1.LeadService\",grpc_method=\"ClaimLead\"}";
    assert_eq!(sample(&after, started), Some(2.0));
    let version = env!("CARGO_PKG_VERSION");
    let build = format!("leadpool_build_info{{version=\"{version}\"}}");
    assert_eq!(sample(&after, &build), Some(1.0), "{after}");
    let memory = sample(&after, "process_resident_memory_bytes").expect("process metrics");
    assert!(memory > 1_000_000.0, "{memory}");
    assert!(sample(&after, "process_cpu_seconds_total").expect("cpu") > 0.0);
    // The handles the schedulers and the distributor count in are exposed already.
    assert_eq!(sample(&after, "leadpool_recycles_total"), Some(0.0));
    assert_eq!(sample(&after, "leadpool_distributions_total"), Some(0.0));
}

#[tokio::test]
async fn refused_callers_are_timed_under_their_code() {
    let app = TestApp::spawn().await;
    let anonymous = app
        .leads()
        .list_leads(proto::ListLeadsRequest::default())
        .await;
    assert!(anonymous.is_err());
    let scrape = app.scrape_metrics().await;
    assert_eq!(
        rpc_count(&scrape, "ListLeads", "UNAUTHENTICATED"),
        Some(1.0)
    );
}

#[tokio::test]
async fn event_followers_their_lag_and_the_pool_are_visible() {
    let (app, team) = fixtures::app_with_team(None).await;
    fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let mut stream = app
        .as_service()
        .watch(proto::WatchEventsRequest::default())
        .await;
    // Heartbeats may come first, while the lead's event is not yet below the horizon.
    let first_event = async {
        loop {
            let item = stream.message().await.expect("stream ok").expect("an item");
            if let Some(Item::Event(_)) = item.item {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), first_event)
        .await
        .expect("an event in time");
    let following = app.scrape_metrics().await;
    assert_eq!(
        sample(&following, "leadpool_event_stream_followers"),
        Some(1.0)
    );
    let open = "grpc_server_started_total{grpc_type=\"server_stream\",grpc_service=\"leadpool.v1.EventService\",grpc_method=\"WatchEvents\"}";
    assert_eq!(sample(&following, open), Some(1.0), "{following}");
    assert!(
        !following.contains("grpc_method=\"WatchEvents\",grpc_code"),
        "not ended yet"
    );
    let reads = sample(&following, "leadpool_event_stream_lag_seconds_count").expect("lag");
    assert!(reads >= 1.0, "{following}");
    assert_eq!(
        sample(&following, "leadpool_db_pool_max_connections"),
        Some(10.0)
    );
    assert!(sample(&following, "leadpool_db_pool_connections").expect("size") >= 1.0);
    assert!(sample(&following, "leadpool_db_pool_idle_connections").is_some());

    drop(stream);
    let mut followers = Some(1.0);
    for _ in 0..600 {
        followers = sample(
            &app.scrape_metrics().await,
            "leadpool_event_stream_followers",
        );
        if followers == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(followers, Some(0.0), "the follower left");
    // A stream counts when it ends, not when it opens: this one was cut by its caller.
    let ended = app.scrape_metrics().await;
    let watch = "grpc_server_handled_total{grpc_type=\"server_stream\",grpc_service=\"leadpool.v1.EventService\",grpc_method=\"WatchEvents\",grpc_code=\"CANCELLED\"}";
    assert_eq!(sample(&ended, watch), Some(1.0), "{ended}");
}
