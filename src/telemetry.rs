//! Logging and tracing: one tracing subscriber, pretty or JSON, filtered by `LEADPOOL_LOG`, and,
//! when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, every span exported over OTLP/gRPC. An RPC span
//! continues the caller's W3C trace (`traceparent` metadata) and carries its trace id, so log
//! lines and traces meet. Spans carry ids (tenant, lead, pool), never contact data.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, Otlp};

#[derive(Debug, thiserror::Error)]
#[error("cannot export traces over OTLP: {0}")]
pub struct TelemetryError(#[from] opentelemetry_otlp::ExporterBuildError);

/// The running telemetry; [`Telemetry::shutdown`] sends the spans still buffered.
#[derive(Debug)]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

/// Starts logging (and trace export, given `otlp`) for the whole process.
pub fn init(
    format: LogFormat,
    filter: &str,
    otlp: Option<&Otlp>,
) -> Result<Telemetry, TelemetryError> {
    let tracer_provider = otlp.map(tracer_provider).transpose()?;
    // A second init (tests start many servers in one process) keeps the first subscriber.
    let _ = subscriber(format, filter, tracer_provider.as_ref(), std::io::stdout).try_init();
    Ok(Telemetry { tracer_provider })
}

impl Telemetry {
    pub fn exports_traces(&self) -> bool {
        self.tracer_provider.is_some()
    }

    /// Exports the spans still buffered; the exporter blocks, so it runs off the runtime.
    pub async fn shutdown(self) {
        if let Some(provider) = self.tracer_provider {
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(err)) = flushed {
                tracing::warn!(error = %err, "exporting the last spans failed");
            }
        }
    }
}

/// Batches spans and exports them to `otlp.endpoint`; `OTEL_EXPORTER_OTLP_HEADERS`,
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_TRACES_SAMPLER` are read
/// by the SDK. Must be called inside the Tokio runtime the exporter's channel runs on.
pub fn tracer_provider(otlp: &Otlp) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&otlp.endpoint)
        .build()?;
    let resource = Resource::builder()
        .with_service_name(otlp.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The subscriber: `filter`ed log lines in `format` to `writer`, and spans to `tracer_provider`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: &str,
    tracer_provider: Option<&SdkTracerProvider>,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt::layer().with_writer(writer);
    let lines = match format {
        LogFormat::Pretty => lines.boxed(),
        LogFormat::Json => lines.json().flatten_event(true).boxed(),
    };
    let traces = tracer_provider
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("leadpool")));
    tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(traces)
}

/// Health probes arrive every few seconds from every kubelet; they are not worth a log line.
const UNLOGGED_PREFIX: &str = "/grpc.health.v1.Health/";

/// The span of one RPC: method, then the caller (recorded by `api::auth` once it is known)
/// and, when traces are exported, the trace id, continuing the caller's `traceparent`.
pub fn rpc_span<B>(request: &http::Request<B>) -> tracing::Span {
    if request.uri().path().starts_with(UNLOGGED_PREFIX) {
        return tracing::Span::none();
    }
    // `/leadpool.v1.LeadService/ClaimLead`: the span is named `leadpool.v1.LeadService/ClaimLead`
    // with OpenTelemetry's RPC attributes (`otel.*` fields become the span's name and kind).
    let path = request.uri().path();
    let name = path.trim_start_matches('/');
    let (service, method) = name.split_once('/').unwrap_or((name, ""));
    let span = tracing::info_span!(
        "rpc",
        method = %path,
        otel.name = %name,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
        tenant = tracing::field::Empty,
        actor = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        parent_span_id = tracing::field::Empty,
    );
    let caller = TraceContextPropagator::new().extract(&Headers(request.headers()));
    let remote = caller.span().span_context().clone();
    // Fails only when no exporter is installed: then there is no trace to continue.
    let _ = span.set_parent(caller);
    let own = span.context().span().span_context().clone();
    // Exported: our span's ids. Not exported: the caller's trace id all the same, so the logs of
    // a call join its caller's trace whenever a `traceparent` arrives.
    let trace_id = [&own, &remote].into_iter().find(|c| c.is_valid());
    if let Some(context) = trace_id {
        span.record("trace_id", tracing::field::display(context.trace_id()));
    }
    if own.is_valid() {
        span.record("span_id", tracing::field::display(own.span_id()));
    }
    if remote.is_valid() {
        span.record("parent_span_id", tracing::field::display(remote.span_id()));
    }
    span
}

/// Puts the caller into the RPC span, once `api::auth` has established who it is.
pub fn record_caller(tenant: &str, actor: &str) {
    let span = tracing::Span::current();
    span.record("tenant", tenant);
    span.record("actor", actor);
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
    let code = grpc_code(response.headers());
    span.record("rpc.grpc.status_code", code as i64);
    let latency_ms = latency.as_secs_f64() * 1_000.0;
    match code {
        tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::DataLoss => {
            tracing::error!(code = ?code, latency_ms, "rpc failed");
        }
        _ => tracing::info!(code = ?code, latency_ms, "rpc"),
    }
}

/// The status of a response. Errors of unary calls come as trailers-only responses, so the
/// code is in the headers; a response without it is a success whose status follows in the
/// trailers.
pub fn grpc_code(headers: &http::HeaderMap) -> tonic::Code {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from)
}

/// Request headers as the W3C propagator reads them.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}
