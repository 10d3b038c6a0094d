//! A use case that lost a race in the database runs again before the caller hears of it.
//!
//! `CONCURRENT_MODIFICATION` means the change was rolled back whole because another transaction
//! got in its way: a serialization failure, a deadlock, a row that changed between the
//! statement's read and its write, or a refusal whose explanation found no rule broken (the
//! lead changed in between). Running the whole use case again, on a fresh transaction, reads
//! the new state and either succeeds or refuses for a reason the caller can act on. Only when
//! the conflict persists does the caller get `ABORTED` (api.md: "after retries").
//!
//! Running again is safe because the run that failed committed nothing: a use case writes in
//! one statement (`idempotency::once` without a transaction) or in one transaction
//! (`idempotency::once_atomic`, or any call with a `request_id` or a deadline).

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use super::deadline;
use crate::domain::{DomainError, Result};

/// Runs of a use case, the first included.
const ATTEMPTS: u32 = 3;

/// The runs of one call: after each, whether to run it again.
#[derive(Debug)]
struct Runs<'a> {
    done: u32,
    /// Counts the runs again, for operators (`leadpool_conflict_retries_total`).
    retried: &'a Counter,
}

impl<'a> Runs<'a> {
    fn new(retried: &'a Counter) -> Self {
        Self { done: 0, retried }
    }

    /// After a run that ended in `outcome`: whether to run again. Only a conflict is run again,
    /// at most [`ATTEMPTS`] runs in all, after a pause a little longer each time so that the
    /// transaction in the way can finish. A pause the caller's deadline cannot afford is not
    /// taken: the conflict is the answer.
    async fn again<Out>(&mut self, outcome: &Result<Out>) -> bool {
        self.done += 1;
        if !matches!(outcome, Err(DomainError::ConcurrentModification)) || self.done >= ATTEMPTS {
            return false;
        }
        let pause = Duration::from_millis(5 * u64::from(self.done));
        if deadline::remaining().is_some_and(|left| left <= pause) {
            return false;
        }
        tracing::debug!(
            runs = self.done,
            "conflict with a concurrent change; running it again"
        );
        self.retried.inc();
        tokio::time::sleep(pause).await;
        true
    }
}

/// Runs `attempt`, and again after each conflict while [`Runs::again`] allows; its last outcome.
/// (A closure returning a future rather than an async closure: the future of a generic async
/// closure cannot be shown `Send` for every lifetime, which tonic's handlers need.)
pub async fn with_retries<Out, Run>(
    retried: &Counter,
    mut attempt: impl FnMut() -> Run,
) -> Result<Out>
where
    Run: Future<Output = Result<Out>>,
{
    let mut runs = Runs::new(retried);
    loop {
        let outcome = attempt().await;
        if !runs.again(&outcome).await {
            return outcome;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `attempt` as a use case is run.
    async fn run<Out>(mut attempt: impl FnMut() -> Result<Out>) -> Result<Out> {
        with_retries(&Counter::default(), || std::future::ready(attempt())).await
    }

    #[tokio::test]
    async fn a_conflict_runs_the_use_case_again_and_its_success_is_the_answer() {
        let mut runs = 0;
        let outcome = run(|| {
            runs += 1;
            if runs < ATTEMPTS {
                Err(DomainError::ConcurrentModification)
            } else {
                Ok(runs)
            }
        })
        .await;
        assert_eq!(outcome.ok(), Some(ATTEMPTS));
    }

    #[tokio::test]
    async fn every_run_again_is_counted() {
        let retried = Counter::default();
        let mut runs = Runs::new(&retried);
        let conflict: Result<()> = Err(DomainError::ConcurrentModification);
        while runs.again(&conflict).await {}
        assert_eq!(retried.get(), u64::from(ATTEMPTS - 1));
    }

    #[tokio::test]
    async fn a_conflict_that_persists_is_the_answer_after_the_last_run() {
        let mut runs = 0;
        let outcome: Result<()> = run(|| {
            runs += 1;
            Err(DomainError::ConcurrentModification)
        })
        .await;
        assert!(matches!(outcome, Err(DomainError::ConcurrentModification)));
        assert_eq!(runs, ATTEMPTS);
    }

    #[tokio::test]
    async fn a_refusal_is_answered_at_once() {
        let mut runs = 0;
        let outcome: Result<()> = run(|| {
            runs += 1;
            Err(DomainError::VersionConflict {
                lead_id: uuid::Uuid::nil(),
                current_version: 2,
            })
        })
        .await;
        assert!(matches!(outcome, Err(DomainError::VersionConflict { .. })));
        assert_eq!(runs, 1);
    }
}
