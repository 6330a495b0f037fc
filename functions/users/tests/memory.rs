//! The list cache at its worst (docs/list-cache.md): distinct filter queries, each with
//! the longest Unicode values the query allows and each matching nobody, sent to the
//! real `users` binary through the Lambda Runtime API. Twice the cache's entry cap: the
//! first round fills it (its budget or its cap, whichever binds first), the second only
//! replaces entries. The process's peak resident memory stays under the function's
//! `MemorySize` in template.yaml, and the second round adds next to nothing to it: what
//! the cache charges and caps is what the process holds.

use futures::StreamExt as _;
use testkit::http::apigw_event;
use testkit::{LambdaProcess, RuntimeApi, TestDb};

const ROUNDS: usize = 2;

/// What the last round may add to the peak. A cache that kept every entry would add a
/// round's worth: 4,096 entries of at least a 1.6 KB key each, over 6 MiB.
const HELD_SLACK_KIB: u64 = 2 * 1024;

/// The function's memory size: `users` has no `MemorySize` of its own, so the
/// template's `Globals` one.
fn memory_size_mib() -> u64 {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
            .expect("template.yaml");
    template
        .lines()
        .find_map(|line| line.trim().strip_prefix("MemorySize:"))
        .and_then(|mib| mib.trim().parse().ok())
        .expect("a MemorySize in template.yaml")
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`: the peak).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// Sends the distinct queries numbered `range`; every one must answer 200.
async fn send(runtime: &RuntimeApi, range: std::ops::Range<usize>) {
    // 한, percent-encoded: 9 bytes of query string per character.
    let korean = |n: usize| "%ED%95%9C".repeat(n);
    let (position, generation) = (korean(50), korean(30));
    // A few queued at once, so the function never waits for the test between two.
    let failed: Vec<(u16, serde_json::Value)> = futures::stream::iter(range)
        .map(|i| {
            let path = format!(
                "/api/v1/users?position={position}&generation={generation}&q={}{i:06}",
                korean(94)
            );
            async move {
                let (status, _, body) = runtime
                    .invoke_http(apigw_event("GET", &path, None, None))
                    .await;
                (status, body)
            }
        })
        .buffer_unordered(4)
        .filter(|(status, _)| futures::future::ready(*status != 200))
        .collect()
        .await;
    assert!(failed.is_empty(), "{:?}", failed.first());
}

#[tokio::test]
async fn distinct_filters_past_the_cache_cap_keep_the_process_under_its_memory_size() {
    let db = TestDb::migrated().await;
    let (runtime, mut process) =
        LambdaProcess::start(env!("CARGO_BIN_EXE_users"), &[("DATABASE_URL", &db.url)]).await;
    let pid = process.id().expect("the process runs");
    let cap = users::LIST_CACHE_ENTRIES;
    let started = std::time::Instant::now();
    send(&runtime, 0..(ROUNDS - 1) * cap).await;
    let full = status_kib(pid, "VmHWM");
    send(&runtime, (ROUNDS - 1) * cap..ROUNDS * cap).await;
    let (rss, peak) = (status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM"));
    let limit = memory_size_mib() * 1024;
    eprintln!(
        "{} distinct queries in {:.1} s: peak {full} KiB after {}, then RSS {rss} KiB, \
         peak {peak} KiB; MemorySize {limit} KiB",
        ROUNDS * cap,
        started.elapsed().as_secs_f64(),
        (ROUNDS - 1) * cap,
    );
    assert!(process.is_running());
    assert!(peak < limit, "peak RSS {peak} KiB over {limit} KiB");
    assert!(
        peak <= full + HELD_SLACK_KIB,
        "the last {cap} queries grew the peak from {full} KiB to {peak} KiB"
    );
}
