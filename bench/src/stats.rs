//! Latency samples → throughput and percentiles; medians over rounds.

use std::time::Duration;

/// ROUNDS measured rounds follow one warm-up round.
pub const ROUNDS: usize = 3;

/// One measured round: throughput and latency percentiles.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub rps: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl Run {
    pub fn from_samples(mut latencies: Vec<Duration>, elapsed: Duration) -> Self {
        latencies.sort();
        Self {
            rps: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
        }
    }
}

/// The medians of several rounds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Summary {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Summary {
    pub fn of(runs: &[Run]) -> Self {
        Self {
            rps: median(runs.iter().map(|r| r.rps).collect()),
            p50_ms: median(runs.iter().map(|r| ms(r.p50)).collect()),
            p99_ms: median(runs.iter().map(|r| ms(r.p99)).collect()),
        }
    }
}

/// A warm-up round, then ROUNDS measured ones.
pub async fn rounds<F, Fut>(mut scenario: F) -> anyhow::Result<Summary>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Run>>,
{
    scenario().await?;
    let mut runs = Vec::new();
    for _ in 0..ROUNDS {
        runs.push(scenario().await?);
    }
    Ok(Summary::of(&runs))
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// On-CPU time of every thread of process `pid` so far (the first field of each task's
/// `/proc/<pid>/task/<tid>/schedstat`, in nanoseconds; Linux only). Threads that have
/// exited no longer count, so read it around work done by long-lived threads.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let mut total = 0_u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let stat = std::fs::read_to_string(task?.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(Duration::from_nanos(total))
}
