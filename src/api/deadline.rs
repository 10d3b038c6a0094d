//! The caller's deadline (`grpc-timeout`, gRPC over HTTP/2) becomes the deadline of the call's
//! database work (`service::deadline`), a little before the caller's own, so the answer
//! `DEADLINE_EXCEEDED` (with ErrorInfo) is ours and is sent only for calls that committed
//! nothing: the transaction is not committed past the deadline and rolls back as the call is
//! dropped. A call that sent its commit before the deadline is not dropped: its commit may
//! take effect, so its own answer is awaited ([`finish_committing`]). A call that commits in parts (a streamed import, a recycle sweep) records each part
//! it committed, and its answer names them instead (`service::deadline::owned_up`, applied where
//! every error becomes a status).

use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::Instant;
use tower::{Layer, Service};

use crate::domain::DomainError;
use crate::service::deadline;

/// How much earlier than the caller's deadline we give up, so our answer reaches them in time:
/// a twentieth of the time they gave, between 2 and 50 ms.
fn margin(timeout: Duration) -> Duration {
    (timeout / 20).clamp(Duration::from_millis(2), Duration::from_millis(50))
}

/// `grpc-timeout`: up to 8 digits and a unit (hours, minutes, seconds, milli-, micro-,
/// nanoseconds). A malformed value is ignored, as gRPC servers do.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The tower layer that bounds every call by its caller's deadline.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadlineLayer;

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadlined<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadlined { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Deadlined<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for Deadlined<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let deadline = grpc_timeout(request.headers())
            .map(|timeout| Instant::now() + timeout.saturating_sub(margin(timeout)));
        let call = self.inner.call(request);
        let Some(deadline) = deadline else {
            return Box::pin(call);
        };
        Box::pin(deadline::within(Some(deadline), async move {
            let mut call = std::pin::pin!(call);
            match tokio::time::timeout_at(deadline, call.as_mut()).await {
                Ok(answered) => answered,
                Err(_) if deadline::commit_in_flight() => finish_committing(call).await,
                Err(_) => Ok(tonic::Status::from(DomainError::DeadlineExceeded).into_http()),
            }
        }))
    }
}

/// How long a call that sent its commit is waited for past its deadline. A commit normally
/// answers in milliseconds; one that does not within this has lost its database.
const COMMIT_GRACE: Duration = Duration::from_secs(5);

/// The answer of a call whose deadline passed after it sent a commit: its own, however late, so
/// a change that committed is never denied by a `DEADLINE_EXCEEDED` saying nothing changed (the
/// caller that gave up meanwhile retries with the same `request_id` and gets it). Past the grace
/// the outcome is unknown: `UNAVAILABLE`, which callers retry with the same `request_id`.
async fn finish_committing<F, R, E>(call: std::pin::Pin<&mut F>) -> Result<http::Response<R>, E>
where
    F: std::future::Future<Output = Result<http::Response<R>, E>>,
    R: Default,
{
    match tokio::time::timeout(COMMIT_GRACE, call).await {
        Ok(answered) => answered,
        Err(_) => Ok(tonic::Status::from(DomainError::DatabaseUnavailable).into_http()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_of(value: &str) -> Option<Duration> {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().expect("ascii"));
        grpc_timeout(&headers)
    }

    /// What the call of [`answer_of_a_slow_call`] does at 5 ms.
    #[derive(Clone, Copy)]
    enum At5Ms {
        Nothing,
        /// Sends a commit that answers at 300 ms.
        SendsCommit,
        /// Commits, then goes on with other work until 300 ms.
        Commits,
    }

    /// The layer's answer to a call of 100 ms whose work takes 300 ms in all.
    async fn answer_of_a_slow_call(at_5_ms: At5Ms) -> http::Response<String> {
        let inner = tower::service_fn(move |_: http::Request<()>| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if !matches!(at_5_ms, At5Ms::Nothing) {
                deadline::check_before_commit().expect("time left to commit");
            }
            if matches!(at_5_ms, At5Ms::Commits) {
                deadline::commit_answered(true);
            }
            tokio::time::sleep(Duration::from_millis(295)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new("done".to_owned()))
        });
        let mut request = http::Request::new(());
        let timeout = "100m".parse().expect("ascii");
        request.headers_mut().insert("grpc-timeout", timeout);
        let answered = DeadlineLayer.layer(inner).call(request).await;
        answered.expect("infallible")
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_whose_commit_is_under_way_gives_its_own_answer_however_late() {
        let committing = answer_of_a_slow_call(At5Ms::SendsCommit).await;
        assert_eq!(committing.body(), "done");
        assert_eq!(committing.headers().get("grpc-status"), None);
        let cut = answer_of_a_slow_call(At5Ms::Nothing).await;
        assert_eq!(cut.headers()["grpc-status"], "4", "DEADLINE_EXCEEDED");
        assert!(message_of(&cut).contains("nothing was changed"));
        // Committed and then out of time: the answer says the change stays done.
        let after = answer_of_a_slow_call(At5Ms::Commits).await;
        assert_eq!(after.headers()["grpc-status"], "4", "DEADLINE_EXCEEDED");
        assert!(message_of(&after).contains("was committed"), "{after:?}");
    }

    /// `grpc-message`, its spaces as sent percent-encoded (the messages here are ASCII).
    fn message_of(answer: &http::Response<String>) -> String {
        let sent = answer.headers()["grpc-message"].to_str().expect("ascii");
        sent.replace("%20", " ")
    }

    #[test]
    fn reads_every_unit_and_ignores_malformed_values() {
        assert_eq!(timeout_of("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(timeout_of("2S"), Some(Duration::from_secs(2)));
        assert_eq!(timeout_of("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(timeout_of("250u"), Some(Duration::from_micros(250)));
        for bad in ["", "m", "123456789S", "12x", "-5S", "五S"] {
            assert_eq!(timeout_of(bad), None, "{bad:?}");
        }
    }
}
