//! What a load phase records: latencies in an HDR histogram, successes, and failures by gRPC
//! code and `ErrorInfo` reason.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tonic::Status;
use tonic_types::StatusExt;

use crate::Result;
use crate::seed;

/// Microseconds from 1 µs to 60 s at 3 significant digits.
const MAX_MICROS: u64 = 60_000_000;
/// The error domain a clean failure carries.
const ERROR_DOMAIN: &str = "leadpool.v1";

#[derive(Debug, Clone)]
pub struct Tally {
    pub latency: Histogram<u64>,
    pub ok: u64,
    /// `CODE/REASON` → count.
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    pub fn new() -> Result<Self> {
        Ok(Self {
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3)?,
            ok: 0,
            errors: BTreeMap::new(),
        })
    }

    pub fn record<T>(&mut self, elapsed: Duration, result: &Result<T, Status>) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(MAX_MICROS);
        self.latency.saturating_record(micros.clamp(1, MAX_MICROS));
        match result {
            Ok(_) => self.ok += 1,
            Err(status) => *self.errors.entry(error_key(status)).or_default() += 1,
        }
    }

    pub fn merge(&mut self, other: &Tally) -> Result<()> {
        self.latency.add(&other.latency)?;
        self.ok += other.ok;
        for (key, n) in &other.errors {
            *self.errors.entry(key.clone()).or_default() += n;
        }
        Ok(())
    }

    pub fn calls(&self) -> u64 {
        self.latency.len()
    }

    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Latency at `q` (0..=1) in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1_000.0
    }

    /// "none" or "CODE/REASON n, …", for the table.
    pub fn error_mix(&self) -> String {
        if self.errors.is_empty() {
            return "none".into();
        }
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        parts.join(", ")
    }

    pub fn json(&self) -> Value {
        json!({
            "calls": self.calls(),
            "ok": self.ok,
            "errors": self.errors,
            "latency_ms": {
                "p50": self.ms(0.50),
                "p90": self.ms(0.90),
                "p99": self.ms(0.99),
                "max": self.latency.max() as f64 / 1_000.0,
                "mean": self.latency.mean() / 1_000.0,
            },
        })
    }
}

/// `CODE/REASON`, `CODE/-` when the status carries no ErrorInfo, `CODE/foreign-domain` when
/// its ErrorInfo is not ours.
pub fn error_key(status: &Status) -> String {
    let code = format!("{:?}", status.code());
    match status.get_error_details().error_info() {
        Some(info) if info.domain == ERROR_DOMAIN => format!("{code}/{}", info.reason),
        Some(_) => format!("{code}/foreign-domain"),
        None => format!("{code}/-"),
    }
}

/// Whether `status` is a clean refusal: FAILED_PRECONDITION with a message and our ErrorInfo
/// with one of `reasons`.
pub fn is_clean_refusal(status: &Status, reasons: &[&str]) -> bool {
    let info = status.get_error_details().error_info().cloned();
    status.code() == tonic::Code::FailedPrecondition
        && !status.message().is_empty()
        && info.is_some_and(|i| i.domain == ERROR_DOMAIN && reasons.contains(&i.reason.as_str()))
}

/// A timed phase: workers loop until `end`, counting calls into `calls`; a bar shows seconds
/// and calls while it runs.
pub struct Timed {
    pub end: Instant,
    pub calls: Arc<AtomicU64>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Timed {
    pub fn start(duration: Duration, what: &str) -> Self {
        let end = Instant::now() + duration;
        let calls = Arc::new(AtomicU64::new(0));
        let bar = seed::bar(duration.as_secs(), what);
        let counter = calls.clone();
        let ticker = tokio::spawn(async move {
            while Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let left = end.saturating_duration_since(Instant::now()).as_secs();
                bar.set_position(duration.as_secs().saturating_sub(left));
                bar.set_message(format!("{} calls", counter.load(Ordering::Relaxed)));
            }
            bar.finish_and_clear();
        });
        Self { end, calls, ticker }
    }

    pub fn running(&self) -> bool {
        Instant::now() < self.end
    }

    pub fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    pub async fn finish(self) {
        let _ = self.ticker.await;
    }
}
