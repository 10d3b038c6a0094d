//! Traces over OTLP: the span of an RPC continues the caller's W3C trace (`traceparent`),
//! reaches an OTLP/gRPC collector, and the call's JSON log lines carry its trace id.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use leadpool::config::LogFormat;
use leadpool::config::Otlp;
use leadpool::proto;
use leadpool::telemetry;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::sync::mpsc;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tracing_subscriber::fmt::MakeWriter;

use crate::caller::Services;
use crate::fixtures;
use crate::harness::TestApp;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// An OTLP/gRPC collector that hands over what it receives.
struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _ = self.0.send(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn collector() -> (String, mpsc::UnboundedReceiver<ExportTraceServiceRequest>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let (sender, received) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(sender)))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    (endpoint, received)
}

/// The log lines the subscriber under test writes.
#[derive(Debug, Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lines").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Lines {
    type Writer = Self;

    fn make_writer(&self) -> Self {
        self.clone()
    }
}

impl Lines {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lines").clone()).expect("utf-8")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The span of `ListPools`, as OpenTelemetry's RPC conventions name it.
const SPAN_NAME: &str = "leadpool.v1.PoolService/ListPools";

/// Flushes the exporter until the collector has the RPC's span (it ends as the response body
/// finishes, which may be just after the client has the response).
async fn exported_rpc_span(
    provider: &SdkTracerProvider,
    received: &mut mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    lines: &Lines,
) -> Span {
    for _ in 0..100 {
        let flushing = provider.clone();
        // The exporter blocks on this runtime's channel, so it must flush from another thread.
        let flushed = tokio::task::spawn_blocking(move || flushing.force_flush()).await;
        flushed.expect("flush task").expect("flush");
        while let Ok(export) = received.try_recv() {
            let spans = export
                .resource_spans
                .into_iter()
                .flat_map(|r| r.scope_spans)
                .flat_map(|s| s.spans);
            if let Some(span) = spans.into_iter().find(|s| s.name == SPAN_NAME) {
                return span;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the collector received no rpc span; logged:\n{}",
        lines.text()
    );
}

/// `ListPools` as a traced caller sends it: with W3C trace context naming the caller's span.
async fn list_pools_in_the_callers_trace(app: &TestApp) {
    let mut request = fixtures::admin().req(proto::ListPoolsRequest::default());
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let metadata = request.metadata_mut();
    metadata.insert("traceparent", traceparent.parse().expect("ascii"));
    app.pools().list_pools(request).await.expect("list pools");
}

#[tokio::test]
async fn rpc_spans_continue_the_callers_trace_to_the_collector_and_the_logs() {
    let (endpoint, mut received) = collector().await;
    let otlp = Otlp {
        endpoint,
        service_name: "leadpool-test".into(),
    };
    let provider = telemetry::tracer_provider(&otlp).expect("exporter");
    let lines = Lines::default();
    let filter = "info,opentelemetry=debug";
    let subscriber = telemetry::subscriber(LogFormat::Json, filter, Some(&provider), lines.clone());
    // For this test's thread, which runs the server too (a current-thread runtime).
    let _subscriber = tracing::subscriber::set_default(subscriber);
    let app = TestApp::spawn().await;
    // Other tests' threads may have registered the span callsites while this subscriber was
    // being installed and cached them as uninteresting to it; ask every callsite again.
    tracing::callsite::rebuild_interest_cache();

    list_pools_in_the_callers_trace(&app).await;

    let span = exported_rpc_span(&provider, &mut received, &lines).await;
    assert_eq!(hex(&span.trace_id), CALLER_TRACE);
    assert_eq!(hex(&span.parent_span_id), CALLER_SPAN);
    assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
    let attributes: Vec<(String, String)> = span
        .attributes
        .iter()
        .map(|a| (a.key.clone(), format!("{:?}", a.value)))
        .collect();
    for (key, value) in [
        ("rpc.system", "grpc"),
        ("rpc.service", "leadpool.v1.PoolService"),
        ("rpc.method", "ListPools"),
    ] {
        assert!(
            attributes
                .iter()
                .any(|(k, v)| k == key && v.contains(value)),
            "{key}={value} in {attributes:?}"
        );
    }
    assert!(
        attributes
            .iter()
            .any(|(k, v)| k == "rpc.grpc.status_code" && v.contains("IntValue(0)")),
        "the OK status code in {attributes:?}"
    );
    let logged = lines.text();
    let rpc_line = logged
        .lines()
        .find(|line| line.contains(r#""message":"rpc""#))
        .expect("an rpc log line");
    assert!(
        rpc_line.contains(&format!(r#""trace_id":"{CALLER_TRACE}""#)),
        "{rpc_line}"
    );
    assert!(rpc_line.contains(r#""tenant":"acme""#), "{rpc_line}");
    let own_span = format!(r#""span_id":"{}""#, hex(&span.span_id));
    assert!(rpc_line.contains(&own_span), "{rpc_line}");
    drop(app);
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .expect("shutdown task")
        .expect("shutdown");
}

#[tokio::test]
async fn logs_carry_the_callers_trace_even_when_no_traces_are_exported() {
    let lines = Lines::default();
    let subscriber = telemetry::subscriber(LogFormat::Json, "info", None, lines.clone());
    let _subscriber = tracing::subscriber::set_default(subscriber);
    let app = TestApp::spawn().await;
    tracing::callsite::rebuild_interest_cache();

    list_pools_in_the_callers_trace(&app).await;
    let untraced = fixtures::admin().req(proto::ListPoolsRequest::default());
    app.pools().list_pools(untraced).await.expect("list pools");

    let logged = lines.text();
    let rpc_lines: Vec<&str> = logged
        .lines()
        .filter(|line| line.contains(r#""message":"rpc""#))
        .collect();
    assert_eq!(rpc_lines.len(), 2, "{logged}");
    assert!(
        rpc_lines[0].contains(&format!(r#""trace_id":"{CALLER_TRACE}""#))
            && rpc_lines[0].contains(&format!(r#""parent_span_id":"{CALLER_SPAN}""#)),
        "{}",
        rpc_lines[0]
    );
    assert!(!rpc_lines[1].contains("trace_id"), "{}", rpc_lines[1]);
}
