//! gRPC server metrics as dashboards expect them (the go-grpc-prometheus names):
//! `grpc_server_started_total`, `grpc_server_handled_total` and `grpc_server_handling_seconds`,
//! by `grpc_type` (`unary`, `client_stream`, `server_stream`, `bidi_stream`), `grpc_service`,
//! `grpc_method` and `grpc_code`. Measured around every call the server routes, so a new service
//! is measured without a line of its own, until the call's status is known: the headers of a
//! trailers-only answer, else the trailers at the end of the body (a stream ends there), or
//! `CANCELLED` when the body is dropped before its end (the caller went away).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use prost::Message;
use tonic::Code;
use tower::{Layer, Service};

use super::{Histograms, LATENCY_BUCKETS, register};
use crate::telemetry;

/// Labels of one call as it starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CallLabels {
    pub grpc_type: &'static str,
    /// `leadpool.v1.LeadService`
    pub grpc_service: String,
    /// `ClaimLead`
    pub grpc_method: String,
}

/// Labels of one call's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub grpc_type: &'static str,
    pub grpc_service: String,
    pub grpc_method: String,
    /// The status code as the gRPC spec names it: `OK`, `NOT_FOUND`, …
    pub grpc_code: &'static str,
}

/// The server's gRPC metrics, and the kind of every method it serves.
#[derive(Debug)]
pub struct GrpcMetrics {
    started: Family<CallLabels, Counter>,
    handled: Family<OutcomeLabels, Counter>,
    handling: Histograms<OutcomeLabels>,
    /// `/leadpool.v1.LeadService/ImportLeadsStream` → `client_stream`, from the descriptors.
    kinds: HashMap<String, &'static str>,
}

impl GrpcMetrics {
    /// Registers the metrics without the service's prefix, under the names dashboards know.
    pub fn register(root: &mut Registry) -> Self {
        let started = "Calls started, by type, service and method";
        let handled = "Calls finished, by type, service, method and status code";
        let handling =
            "Seconds from a call's start to its status, by type, service, method and code";
        Self {
            started: register(root, "grpc_server_started", started, Family::default()),
            handled: register(root, "grpc_server_handled", handled, Family::default()),
            handling: register(
                root,
                "grpc_server_handling_seconds",
                handling,
                Histograms::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            ),
            kinds: method_kinds(),
        }
    }

    /// The labels of a call to `path`: paths nothing serves share one label, so a caller
    /// cannot grow the metrics by inventing paths.
    fn call(&self, path: &str) -> CallLabels {
        let known = self.kinds.get(path);
        let (service, method) = match (known, path.trim_start_matches('/').split_once('/')) {
            (Some(_), Some((service, method))) => (service, method),
            _ => ("unknown", "unknown"),
        };
        CallLabels {
            grpc_type: known.copied().unwrap_or("unary"),
            grpc_service: service.to_owned(),
            grpc_method: method.to_owned(),
        }
    }
}

/// Every method of the services the server carries (ours, health, reflection), by path.
fn method_kinds() -> HashMap<String, &'static str> {
    let sets = [
        crate::proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let files = sets
        .into_iter()
        .filter_map(|set| prost_types::FileDescriptorSet::decode(set).ok())
        .flat_map(|set| set.file);
    let mut kinds = HashMap::new();
    for file in files {
        for service in &file.service {
            let name = format!("{}.{}", file.package(), service.name());
            for method in &service.method {
                let kind = match (method.client_streaming(), method.server_streaming()) {
                    (false, false) => "unary",
                    (true, false) => "client_stream",
                    (false, true) => "server_stream",
                    (true, true) => "bidi_stream",
                };
                kinds.insert(format!("/{name}/{}", method.name()), kind);
            }
        }
    }
    kinds
}

/// One call being measured; records its outcome once.
struct Outcome {
    metrics: Arc<super::Metrics>,
    call: CallLabels,
    started: Instant,
}

impl Outcome {
    fn record(self, code: Code) {
        let CallLabels {
            grpc_type,
            grpc_service,
            grpc_method,
        } = self.call;
        let labels = OutcomeLabels {
            grpc_type,
            grpc_service,
            grpc_method,
            grpc_code: code_name(code),
        };
        let grpc = &self.metrics.grpc;
        grpc.handled.get_or_create(&labels).inc();
        grpc.handling
            .get_or_create(&labels)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[derive(Debug, Clone)]
pub struct RpcMetricsLayer {
    metrics: Arc<super::Metrics>,
}

impl RpcMetricsLayer {
    pub fn new(metrics: Arc<super::Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    inner: S,
    metrics: Arc<super::Metrics>,
}

impl<S, B, R> Service<http::Request<B>> for RpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<Measured<R>>;
    type Error = S::Error;
    type Future = Pending<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let call = self.metrics.grpc.call(request.uri().path());
        self.metrics.grpc.started.get_or_create(&call).inc();
        let outcome = Outcome {
            metrics: self.metrics.clone(),
            call,
            started: Instant::now(),
        };
        Pending {
            inner: self.inner.call(request),
            outcome: Some(outcome),
        }
    }
}

pin_project! {
    /// The response future of one call: a trailers-only answer (every error of a unary call)
    /// carries its status in the headers; otherwise the body carries the measurement on.
    pub struct Pending<F> {
        #[pin]
        inner: F,
        outcome: Option<Outcome>,
    }
}

impl<F, R, E> Future for Pending<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = Result<http::Response<Measured<R>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        let outcome = this.outcome.take();
        Poll::Ready(match result {
            Ok(response) => {
                let outcome = match status_of(response.headers()) {
                    Some(code) => {
                        record(outcome, code);
                        None
                    }
                    None => outcome,
                };
                Ok(response.map(|body| Measured {
                    inner: body,
                    outcome,
                }))
            }
            // A transport error has no gRPC status; hyper resets the stream.
            Err(err) => {
                record(outcome, Code::Unknown);
                Err(err)
            }
        })
    }
}

/// Records the call's outcome unless it was recorded already.
fn record(outcome: Option<Outcome>, code: Code) {
    if let Some(outcome) = outcome {
        outcome.record(code);
    }
}

/// `grpc-status` of a header or trailer map, if it has one.
fn status_of(headers: &http::HeaderMap) -> Option<Code> {
    headers
        .contains_key("grpc-status")
        .then(|| telemetry::grpc_code(headers))
}

pin_project! {
    /// A response body that records its call's outcome when its trailers pass (or when it is
    /// dropped before them: `CANCELLED`).
    pub struct Measured<B> {
        #[pin]
        inner: B,
        outcome: Option<Outcome>,
    }

    impl<B> PinnedDrop for Measured<B> {
        fn drop(this: Pin<&mut Self>) {
            record(this.project().outcome.take(), Code::Cancelled);
        }
    }
}

impl<B: Body> Body for Measured<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        let status = match &frame {
            Some(Ok(frame)) => frame.trailers_ref().and_then(status_of),
            Some(Err(_)) => Some(Code::Unknown),
            // The end without trailers: nothing said otherwise.
            None => Some(Code::Ok),
        };
        if let Some(code) = status {
            record(this.outcome.take(), code);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The status code as the gRPC spec and `shared/api.md` write it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> GrpcMetrics {
        GrpcMetrics::register(&mut Registry::default())
    }

    #[test]
    fn calls_are_labelled_by_service_method_and_kind() {
        let grpc = metrics();
        let claim = grpc.call("/leadpool.v1.LeadService/ClaimLead");
        assert_eq!(
            (
                claim.grpc_type,
                claim.grpc_service.as_str(),
                claim.grpc_method.as_str()
            ),
            ("unary", "leadpool.v1.LeadService", "ClaimLead")
        );
        let kinds = [
            (
                "/leadpool.v1.LeadService/ImportLeadsStream",
                "client_stream",
            ),
            ("/leadpool.v1.EventService/WatchEvents", "server_stream"),
            ("/grpc.health.v1.Health/Watch", "server_stream"),
            (
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                "bidi_stream",
            ),
        ];
        for (path, kind) in kinds {
            assert_eq!(grpc.call(path).grpc_type, kind, "{path}");
        }
    }

    #[test]
    fn unserved_paths_share_one_label() {
        let grpc = metrics();
        for path in ["/evil.Service/Method123", "/no-slash"] {
            let call = grpc.call(path);
            assert_eq!(
                (call.grpc_service.as_str(), call.grpc_method.as_str()),
                ("unknown", "unknown")
            );
        }
    }
}
