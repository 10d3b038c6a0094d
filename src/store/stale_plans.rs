//! Statements a connection prepared before a migration changed a table they read. During a
//! rolling update the new release migrates (expand: a column added) while this one serves; its
//! connections' cached statements that read the changed table are then refused by PostgreSQL
//! ("cached plan must not change result type") every time they run, so the pool must drop those
//! connections. Which connections hold such a statement is not known, so every connection opened
//! before the refusal was seen is dropped when next taken from the pool; new ones prepare anew.
//! Process-wide: a process serves one database.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When a refusal was last seen, in microseconds after `start()`; 0: never.
static SEEN_AT: AtomicU64 = AtomicU64::new(0);

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn micros_since_start(at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start()).as_micros()).unwrap_or(u64::MAX)
}

/// PostgreSQL refused one of this process's cached statements: the table it reads changed.
pub fn seen() {
    start();
    let now = micros_since_start(Instant::now()).max(1);
    SEEN_AT.fetch_max(now, Ordering::Relaxed);
}

/// Whether a connection opened `age` ago may hold a refused statement: it was opened before the
/// last refusal was seen.
pub fn may_be_held(age: Duration) -> bool {
    let opened = Instant::now().checked_sub(age).unwrap_or_else(start);
    opened_before(micros_since_start(opened), SEEN_AT.load(Ordering::Relaxed))
}

/// Whether a connection opened at `opened` preceded the refusal seen at `seen` (0: none seen),
/// both in microseconds after `start()`. The same microsecond counts as before: such a
/// connection may hold the refused statement.
fn opened_before(opened: u64, seen: u64) -> bool {
    seen != 0 && opened <= seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_before_a_refusal_are_dropped_and_later_ones_kept() {
        assert!(!opened_before(5, 0), "no refusal seen");
        assert!(opened_before(5, 10));
        assert!(opened_before(10, 10));
        assert!(!opened_before(11, 10));
        seen();
        assert!(may_be_held(Duration::from_secs(3600)));
    }
}
