//! RPC latency by service, method and status code, measured around every call the server
//! routes, so a new service is measured without a line of its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;
use tonic::Code;
use tower::{Layer, Service};

use super::{Metrics, RpcLabels};
use crate::telemetry;

#[derive(Debug, Clone)]
pub struct RpcMetricsLayer {
    metrics: Arc<Metrics>,
}

impl RpcMetricsLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
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
    metrics: Arc<Metrics>,
}

impl<S, B, R> Service<http::Request<B>> for RpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Measured<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        Measured {
            inner: self.inner.call(request),
            path,
            started: Instant::now(),
            metrics: self.metrics.clone(),
        }
    }
}

pin_project! {
    /// The response future of one call, observed when the response headers are ready (for a
    /// stream, that is when it opens).
    pub struct Measured<F> {
        #[pin]
        inner: F,
        path: String,
        started: Instant,
        metrics: Arc<Metrics>,
    }
}

impl<F, R, E> Future for Measured<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        // A transport error has no gRPC status; hyper resets the stream.
        let code = match &result {
            Ok(response) => telemetry::grpc_code(response.headers()),
            Err(_) => Code::Unknown,
        };
        this.metrics
            .rpc_duration
            .get_or_create(&labels(this.path, code))
            .observe(this.started.elapsed().as_secs_f64());
        Poll::Ready(result)
    }
}

/// Paths nothing serves are answered `UNIMPLEMENTED`; they share one label, so a caller
/// cannot grow the metrics by inventing paths.
fn labels(path: &str, code: Code) -> RpcLabels {
    let (service, method) = match path.trim_start_matches('/').split_once('/') {
        Some((service, method)) if code != Code::Unimplemented => (service, method),
        _ => ("unknown", "unknown"),
    };
    RpcLabels {
        service: service.to_owned(),
        method: method.to_owned(),
        code: code_name(code),
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

    #[test]
    fn labels_split_the_path_into_service_and_method() {
        let labels = labels("/leadpool.v1.LeadService/ClaimLead", Code::NotFound);
        assert_eq!(labels.service, "leadpool.v1.LeadService");
        assert_eq!(labels.method, "ClaimLead");
        assert_eq!(labels.code, "NOT_FOUND");
    }

    #[test]
    fn unserved_paths_share_one_label() {
        let invented = labels("/evil.Service/Method123", Code::Unimplemented);
        let garbage = labels("/no-slash", Code::Ok);
        assert_eq!(
            (invented.service.as_str(), invented.method.as_str()),
            ("unknown", "unknown")
        );
        assert_eq!(garbage.service, "unknown");
    }
}
