//! The caller's deadline (`grpc-timeout`) bounds the database work of a call: waiting for a
//! connection, every statement (`statement_timeout`), and the commit, which is not sent once
//! the deadline has passed, so a call that answers `DEADLINE_EXCEEDED` committed nothing.
//!
//! The edge sets the deadline for the call's task ([`within`]); use cases reach the database
//! through [`Context::acquire`](super::Context::acquire) and [`Context::begin`](super::Context::begin),
//! which read it. Calls without a deadline (and the scheduler) are bounded by the pool's
//! acquire timeout and the session's `statement_timeout` only.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::DomainError;
use crate::domain::Result;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// The time a commit is given: one is not started with less than this left, so it finishes
/// before the edge gives up on the call.
pub const COMMIT_RESERVE: Duration = Duration::from_millis(10);

/// Runs `call` with `deadline` as the deadline of its database work.
pub async fn within<F: Future>(deadline: Option<Instant>, call: F) -> F::Output {
    match deadline {
        Some(deadline) => DEADLINE.scope(deadline, call).await,
        None => call.await,
    }
}

/// This call's deadline, if it has one. A wait bounded by it ends at the same instant as the
/// edge's own timer (a wait of [`remaining`] would end later by the time taken to start it, and
/// under load the edge's `DEADLINE_EXCEEDED` then won over the wait's own answer).
pub fn instant() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// The time left before this call's deadline, if it has one.
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|deadline| deadline.saturating_duration_since(Instant::now()))
        .ok()
}

/// Refuses to start a commit the deadline would cut off.
pub fn check_before_commit() -> Result<()> {
    match remaining() {
        Some(left) if left < COMMIT_RESERVE => Err(DomainError::DeadlineExceeded),
        _ => Ok(()),
    }
}
