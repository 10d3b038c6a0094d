//! Logging: one tracing subscriber, pretty or JSON, filtered by `LEADPOOL_LOG`.
//! Spans carry ids (tenant, lead, pool), never contact data.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second init (tests start many servers in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Health probes arrive every few seconds from every kubelet; they are not worth a log line.
const UNLOGGED_PREFIX: &str = "/grpc.health.v1.Health/";

/// The span of one RPC: method, tenant and actor (ids only, never contact data).
pub fn rpc_span<B>(request: &http::Request<B>) -> tracing::Span {
    if request.uri().path().starts_with(UNLOGGED_PREFIX) {
        return tracing::Span::none();
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    tracing::info_span!(
        "rpc",
        method = %request.uri().path(),
        tenant = %header("x-tenant-id"),
        actor = %header("x-actor-id"),
    )
}

/// Logs the outcome of one RPC with its gRPC code and latency: server faults as errors,
/// everything else (including the caller's mistakes) as information.
pub fn rpc_response<B>(
    response: &http::Response<B>,
    latency: std::time::Duration,
    span: &tracing::Span,
) {
    if span.is_none() {
        return;
    }
    // Errors of unary calls come as trailers-only responses, so the code is in the headers;
    // a response without it is a success whose status follows in the trailers.
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from);
    let latency_ms = latency.as_secs_f64() * 1_000.0;
    match code {
        tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::DataLoss => {
            tracing::error!(code = ?code, latency_ms, "rpc failed");
        }
        _ => tracing::info!(code = ?code, latency_ms, "rpc"),
    }
}
