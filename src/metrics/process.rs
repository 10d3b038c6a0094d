//! The process metrics Prometheus' own clients export (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, `process_start_time_seconds`), read from
//! `/proc/self` on each scrape. Where there is no `/proc` (not Linux) they are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second and page size of Linux on the platforms we ship (x86_64, aarch64).
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_BYTES: i64 = 4096;

#[derive(Debug)]
pub struct ProcessCollector;

/// What one read of `/proc/self` found.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    cpu_seconds: f64,
    resident_bytes: i64,
    open_fds: i64,
    start_time_seconds: f64,
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sample) = read() else {
            return Ok(());
        };
        encode_one(
            &mut encoder,
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            ConstCounter::new(sample.cpu_seconds),
        )?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                sample.resident_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                sample.open_fds,
            ),
        ];
        for (name, help, value) in gauges {
            encode_one(&mut encoder, name, help, ConstGauge::new(value))?;
        }
        encode_one(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            ConstGauge::new(sample.start_time_seconds),
        )
    }
}

/// One metric with no labels, under `name` and `help`.
fn encode_one(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn read() -> Option<Sample> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
    parse(&stat, &boot, i64::try_from(open_fds).ok()?)
}

/// The sample from `/proc/self/stat` (fields after the parenthesised command name, which may
/// hold spaces) and the boot time in `/proc/stat`.
fn parse(stat: &str, proc_stat: &str, open_fds: i64) -> Option<Sample> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // Field 3 (state) is the first after the name; utime is 14, stime 15, starttime 22, rss 24.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    let boot_time = proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    Some(Sample {
        cpu_seconds: (field(14)? + field(15)?) / TICKS_PER_SECOND,
        resident_bytes: field(24)? as i64 * PAGE_BYTES,
        open_fds,
        start_time_seconds: boot_time + field(22)? / TICKS_PER_SECOND,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stat_line_is_read_past_a_command_name_with_spaces() {
        let stat = "4242 (lead pool) S 1 4242 4242 0 -1 4194560 2000 0 0 0 150 50 0 0 20 0 9 0 \
                    12345 1000000000 6000 18446744073709551615";
        let sample = parse(stat, "cpu 1 2 3\nbtime 1700000000\n", 17).expect("parsed");
        assert_eq!(sample.cpu_seconds, 2.0);
        assert_eq!(sample.resident_bytes, 6000 * 4096);
        assert_eq!(sample.open_fds, 17);
        assert_eq!(sample.start_time_seconds, 1_700_000_000.0 + 123.45);
    }

    #[test]
    fn this_process_can_be_read() {
        let sample = read().expect("/proc/self on Linux");
        assert!(sample.resident_bytes > 0 && sample.open_fds > 0);
    }
}
