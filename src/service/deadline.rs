//! The caller's deadline (`grpc-timeout`) bounds the database work of a call: waiting for a
//! connection, every statement (`statement_timeout`), and the commit, which is not sent once
//! the deadline is near (and, once sent, is waited for: [`commit_in_flight`]), so a call that
//! answers `DEADLINE_EXCEEDED` committed nothing; or,
//! for the calls that commit in parts (a streamed import, a recycle sweep), only the parts it
//! records with [`committed`], which its answer then names ([`owned_up`]).
//!
//! The edge sets the deadline for the call's task ([`within`]); use cases reach the database
//! through [`Context::acquire`](super::Context::acquire) and [`Context::begin`](super::Context::begin),
//! which read it. Calls without a deadline (and the scheduler) are bounded by the pool's
//! acquire timeout and the session's `statement_timeout` only.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::DomainError;
use crate::domain::Result;
use crate::domain::committed::Committed;

tokio::task_local! {
    static DEADLINE: Instant;
    /// What a call that commits in parts has committed so far.
    static COMMITTED: RefCell<Option<Committed>>;
    /// This call's commits: whether one is under way, and whether one took effect.
    static COMMITS: Cell<Commits>;
}

#[derive(Debug, Clone, Copy, Default)]
struct Commits {
    in_flight: bool,
    done: bool,
}

/// The time a commit is given: one is not started with less than this left, so it finishes
/// before the caller gives up (the edge waits for a commit under way, and one that ends after
/// the caller's own deadline reaches nobody: a chunk of 400 imported rows under load took over
/// 10 ms, and the audit's callers then saw only their own timeout).
pub const COMMIT_RESERVE: Duration = Duration::from_millis(25);

/// Runs `call` with `deadline` as the deadline of its database work.
pub async fn within<F: Future>(deadline: Option<Instant>, call: F) -> F::Output {
    match deadline {
        Some(deadline) => {
            let call = COMMITS.scope(Cell::new(Commits::default()), call);
            let call = COMMITTED.scope(RefCell::new(None), call);
            DEADLINE.scope(deadline, call).await
        }
        None => call.await,
    }
}

/// Records what this call has committed so far (replacing the last record), so that a deadline
/// passing later says so. A call without a deadline has no record to keep (no scope).
pub fn committed(so_far: Committed) {
    let _ = COMMITTED.try_with(|committed| committed.replace(Some(so_far)));
}

/// `err`, unless it is a `DEADLINE_EXCEEDED` of a call that recorded committed parts: then the
/// error that names them, since they stay done.
pub fn owned_up(err: DomainError) -> DomainError {
    let DomainError::DeadlineExceeded = err else {
        return err;
    };
    match COMMITTED.try_with(|committed| committed.borrow().clone()) {
        Ok(Some(so_far)) => DomainError::DeadlineExceededAfter(so_far),
        _ if commits().done => DomainError::DeadlineExceededAfter(Committed::Change),
        _ => DomainError::DeadlineExceeded,
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

/// Refuses to start a commit the deadline would cut off; else records that one is under way
/// until [`commit_answered`].
pub fn check_before_commit() -> Result<()> {
    match remaining() {
        Some(left) if left < COMMIT_RESERVE => Err(DomainError::DeadlineExceeded),
        _ => {
            update_commits(|c| c.in_flight = true);
            Ok(())
        }
    }
}

/// Records a commit's answer: no longer under way, and whether it took effect.
pub fn commit_answered(took_effect: bool) {
    update_commits(|c| {
        c.in_flight = false;
        c.done |= took_effect;
    });
}

/// Whether a commit of this call is under way. One cut off on our side may still take effect
/// on the server, so while it is the deadline does not answer for the call: the edge waits for
/// the call's own answer.
pub fn commit_in_flight() -> bool {
    commits().in_flight
}

fn commits() -> Commits {
    COMMITS.try_with(Cell::get).unwrap_or_default()
}

/// A call without a deadline has no record to keep (no scope).
fn update_commits(change: impl FnOnce(&mut Commits)) {
    let _ = COMMITS.try_with(|cell| {
        let mut commits = cell.get();
        change(&mut commits);
        cell.set(commits);
    });
}
