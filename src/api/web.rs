//! gRPC-Web on the gRPC listener, for browser-based tools: tonic-web translates it to gRPC, and
//! CORS lets the pages of the configured origins (and only those) call from a browser.

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use http::Method;
use http::header::{HeaderName, HeaderValue};
use http_body::Frame;
use http_body_util::{BodyExt, BodyStream, StreamBody};
use tonic::Status;
use tonic::body::Body;
use tower::{Layer, Service};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// What a browser page may read of a response: the status travels in these (trailers in the
/// body for gRPC-Web, headers for a trailers-only answer), with ErrorInfo in the details.
const EXPOSED: [HeaderName; 3] = [
    HeaderName::from_static("grpc-status"),
    HeaderName::from_static("grpc-message"),
    HeaderName::from_static("grpc-status-details-bin"),
];

/// CORS for gRPC-Web: POST only, the request's own headers allowed (identity metadata, a
/// bearer token, `grpc-timeout`, `x-grpc-web`), no cookies. An empty allow-list answers
/// preflights without granting any origin, so browsers refuse cross-origin calls.
pub fn cors(origins: &[HeaderValue]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::POST])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(EXPOSED)
        .max_age(PREFLIGHT_MAX_AGE)
}

/// Reads an HTTP/1.1 request's body whole before the call starts. A call refused before it
/// reads its message (no identity, an unknown method) would otherwise be answered while the
/// caller is still sending, and HTTP/1.1 then closes the connection under the caller's write
/// (Node reports `EPIPE`), losing the refusal. HTTP/2 streams need none of this; bodies over
/// the message limit are passed on unread, to be refused as `MESSAGE_TOO_LARGE`.
#[derive(Debug, Clone, Copy)]
pub struct ReadWholeLayer {
    limit: usize,
}

impl ReadWholeLayer {
    /// Bodies up to `max_message_bytes` and their gRPC-Web framing (base64 text included).
    pub fn new(max_message_bytes: usize) -> Self {
        Self {
            limit: max_message_bytes.saturating_mul(2),
        }
    }
}

impl<S> Layer<S> for ReadWholeLayer {
    type Service = ReadWhole<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReadWhole {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReadWhole<S> {
    inner: S,
    limit: usize,
}

impl<S, R> Service<http::Request<Body>> for ReadWhole<S>
where
    S: Service<http::Request<Body>, Response = R> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = R;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<R, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.version() >= http::Version::HTTP_2 {
            return Box::pin(self.inner.call(request));
        }
        // The clone that was not polled ready stays here; the ready one serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limit = self.limit;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = read_whole(body, limit).await;
            inner.call(http::Request::from_parts(parts, body)).await
        })
    }
}

/// The body read to its end, or, past `limit` bytes or at an error, what was read followed by
/// the rest as it comes.
async fn read_whole(mut body: Body, limit: usize) -> Body {
    let mut read: Vec<Result<Frame<Bytes>, Status>> = Vec::new();
    let mut size = 0;
    while let Some(frame) = body.frame().await {
        let stop = match &frame {
            Ok(frame) => {
                size += frame.data_ref().map_or(0, Bytes::len);
                size > limit
            }
            Err(_) => true,
        };
        read.push(frame);
        if stop {
            let rest = BodyStream::new(body);
            return Body::new(StreamBody::new(stream::iter(read).chain(rest)));
        }
    }
    Body::new(StreamBody::new(stream::iter(read)))
}
