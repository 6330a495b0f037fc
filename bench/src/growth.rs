//! `bench growth`: the `users` function as the directory grows (issue 25, item 4).
//!
//! For 1,000, 10,000 and 50,000 members (seeded like the other suites: positions, a
//! team, SNS accounts), the `users` release binary under the Lambda Runtime API
//! emulator — the deployed shape: one process is one execution environment, so its peak
//! RSS is what counts against `MemorySize`, and its answer is the payload Lambda returns
//! (base64 for compressed bodies), which the 6 MB limit applies to. Per size:
//!
//! - the whole list (`GET /users`, no limit) in identity, gzip and br, a cache hit (the
//!   same answer again) and a miss (the directory version moved before each invocation,
//!   outside the timing), with its status (422 `answer_too_large` when Lambda could not
//!   return it) and its bytes on the wire;
//! - `GET /users/{id}` and an admin's `PATCH /users/{id}`;
//! - the process's peak RSS, and the database's size on disk.
//!
//! Scenarios alternate within each round (a warm-up round, then 3); figures are the
//! medians of the rounds' p50s. Writes docs/perf/bench/growth.md.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use base64::Engine;
use serde_json::{Value, json};
use sqlx::Connection;
use testkit::http::apigw_event;
use testkit::{LambdaProcess, RuntimeApi};

use crate::seed::ADMIN_SSO;
use crate::stats::{median, ms, percentile};

const SIZES: [i64; 3] = [1_000, 10_000, 50_000];
/// What a list answer may take in the cache (functions/users/src/cache.rs: BUDGET, an
/// answer charged its body and half again).
const CACHE_BUDGET: usize = 8 * 1024 * 1024;
/// Lambda's synchronous response limit, as the function counts it (6 MiB less the frame).
const RESPONSE_LIMIT: usize = 6 * 1024 * 1024 - 16 * 1024;
const MEMORY_SIZE_MB: f64 = 256.0;

#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    ListHit(Coding),
    ListMiss(Coding),
    GetById,
    Patch,
}

#[derive(Clone, Copy, PartialEq)]
enum Coding {
    Identity,
    Gzip,
    Br,
}

impl Coding {
    fn header(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Br => Some("br"),
        }
    }
    fn name(self) -> &'static str {
        self.header().unwrap_or("identity")
    }
}

impl Scenario {
    fn name(self) -> String {
        match self {
            Scenario::ListHit(c) => format!("list, hit, {}", c.name()),
            Scenario::ListMiss(c) => format!("list, miss, {}", c.name()),
            Scenario::GetById => "GET /users/{id}".into(),
            Scenario::Patch => "PATCH /users/{id} (admin)".into(),
        }
    }
}

const SCENARIOS: [Scenario; 7] = [
    Scenario::ListHit(Coding::Identity),
    Scenario::ListHit(Coding::Gzip),
    Scenario::ListHit(Coding::Br),
    Scenario::ListMiss(Coding::Identity),
    Scenario::ListMiss(Coding::Br),
    Scenario::GetById,
    Scenario::Patch,
];

/// One size's figures.
struct Size {
    members: i64,
    seed_s: f64,
    db_mb: f64,
    /// The identity JSON of the whole list (from the br answer, decompressed).
    json_bytes: usize,
    /// Per scenario: status, bytes of the payload's body (base64 when compressed),
    /// decoded bytes, median p50 (ms).
    rows: Vec<(Scenario, u64, usize, usize, f64)>,
    peak_rss_mb: f64,
}

pub async fn run(bin: &Path, server_url: &str) -> anyhow::Result<String> {
    let mut sizes = Vec::new();
    // BENCH_GROWTH_SIZES=10000,50000 measures only those.
    let sizes_env = std::env::var("BENCH_GROWTH_SIZES").ok();
    let chosen: Vec<i64> = sizes_env
        .as_deref()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| SIZES.to_vec());
    for members in chosen {
        let started = Instant::now();
        let name = format!("bench_growth_{members}");
        let url = crate::seed::seed(server_url, &name, members).await?;
        let seed_s = started.elapsed().as_secs_f64();
        sizes.push(measure(bin, &url, &name, members, seed_s).await?);
    }
    Ok(markdown(&sizes))
}

async fn measure(
    bin: &Path,
    url: &str,
    name: &str,
    members: i64,
    seed_s: f64,
) -> anyhow::Result<Size> {
    let mut db = sqlx::MySqlConnection::connect(url).await?;
    // InnoDB's figures (an estimate it keeps; ANALYZE TABLE first makes them current).
    sqlx::raw_sql(
        "ANALYZE TABLE `user`, position_user_association, sns_account, team_user_association",
    )
    .execute(&mut db)
    .await?;
    let db_bytes: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(data_length + index_length), 0) AS SIGNED) \
         FROM information_schema.tables WHERE table_schema = ?",
    )
    .bind(name)
    .fetch_one(&mut db)
    .await?;
    let db_mb = db_bytes as f64 / 1e6;

    let runtime = RuntimeApi::start().await;
    let process = LambdaProcess::spawn(
        bin.join("users"),
        &runtime,
        &[("DATABASE_URL", url), ("RUST_LOG", "info")],
    );
    // A list costs ~members/20 µs; keep each scenario's round near a second.
    let list_count = (200_000 / members as usize).clamp(3, 200);
    let mut p50s: Vec<Vec<f64>> = vec![Vec::new(); SCENARIOS.len()];
    let mut last: Vec<(u64, usize, usize)> = vec![(0, 0, 0); SCENARIOS.len()];
    let mut json_bytes = 0;
    for round in 0..4 {
        for (index, scenario) in SCENARIOS.iter().enumerate() {
            let count = match scenario {
                Scenario::ListHit(_) | Scenario::ListMiss(_) => list_count,
                _ => 200,
            };
            let mut latencies = Vec::with_capacity(count);
            // One unmeasured invocation: a hit needs the answer cached (a PATCH moved
            // the version since).
            let invoke = |i: usize| event(*scenario, i, members);
            let payload = call(&runtime, &process, invoke(0)).await?;
            for i in 1..=count {
                if matches!(scenario, Scenario::ListMiss(_)) {
                    sqlx::query("UPDATE directory_version SET version = version + 1 WHERE id = 1")
                        .execute(&mut db)
                        .await?;
                }
                let event = invoke(i);
                let started = Instant::now();
                let payload = call(&runtime, &process, event).await?;
                latencies.push(started.elapsed());
                let status = payload["statusCode"].as_u64().unwrap_or(0);
                // 422: the answer is over Lambda's 6 MB; 503: the function's own answer
                // deadline (shared::platform::http::ANSWER_DEADLINE) ran out. Both are
                // what this suite looks for; anything else is a failure.
                anyhow::ensure!(
                    status == 200 || status == 422 || status == 503,
                    "{} at {members}: {}",
                    scenario.name(),
                    truncate(&payload)
                );
            }
            let (status, wire, decoded, body) = sizes(&payload);
            if *scenario == Scenario::ListHit(Coding::Br) && status == 200 {
                json_bytes = brotli_len(&body)?;
            }
            last[index] = (status, wire, decoded);
            latencies.sort();
            if round > 0 {
                p50s[index].push(ms(percentile(&latencies, 0.5)));
            }
        }
    }
    let pid = process.id().context("users exited")?;
    let peak_rss_mb = crate::lambda::peak_rss_kb(pid)? as f64 / 1024.0;
    drop(process);
    let rows = SCENARIOS
        .iter()
        .zip(p50s)
        .zip(last)
        .map(|((s, p), (status, wire, decoded))| (*s, status, wire, decoded, median(p)))
        .collect();
    eprintln!("growth: {members} members measured");
    Ok(Size {
        members,
        seed_s,
        db_mb,
        json_bytes,
        rows,
        peak_rss_mb,
    })
}

/// The function's answer, or an error carrying the end of its log.
async fn call(
    runtime: &RuntimeApi,
    process: &LambdaProcess,
    event: Value,
) -> anyhow::Result<Value> {
    match runtime
        .invoke_within(event, std::time::Duration::from_secs(120))
        .await
    {
        testkit::Outcome::Response(payload) => Ok(payload),
        other => {
            let logs = process.logs();
            let tail: String = logs
                .chars()
                .skip(logs.chars().count().saturating_sub(3000))
                .collect();
            anyhow::bail!("users answered {other:?}\n{tail}")
        }
    }
}

fn event(scenario: Scenario, i: usize, members: i64) -> Value {
    let id = 1 + (i * 7919) % members as usize;
    let mut event = match scenario {
        Scenario::ListHit(_) | Scenario::ListMiss(_) => {
            apigw_event("GET", "/api/v1/users", None, None)
        }
        Scenario::GetById => apigw_event("GET", &format!("/api/v1/users/{id}"), None, None),
        Scenario::Patch => {
            // Alternating values: every PATCH is a real write (and an audit entry).
            let body = json!({"introduction": format!("growth benchmark {}", i % 2)});
            apigw_event(
                "PATCH",
                &format!("/api/v1/users/{}", 2 + id % 50),
                Some(&body),
                Some(ADMIN_SSO),
            )
        }
    };
    if let Some(headers) = event["headers"].as_object_mut() {
        headers.remove("accept-encoding");
        if let Scenario::ListHit(c) | Scenario::ListMiss(c) = scenario
            && let Some(coding) = c.header()
        {
            headers.insert("accept-encoding".into(), coding.into());
        }
    }
    event
}

/// Status, the payload body's length (what Lambda returns), the decoded length, and the
/// decoded bytes.
fn sizes(payload: &Value) -> (u64, usize, usize, Vec<u8>) {
    let status = payload["statusCode"].as_u64().unwrap_or(0);
    let body = payload["body"].as_str().unwrap_or("");
    let decoded = if payload["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    (status, body.len(), decoded.len(), decoded)
}

fn brotli_len(body: &[u8]) -> anyhow::Result<usize> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &body[..], &mut out).context("decompress the br answer")?;
    Ok(out.len())
}

fn truncate(payload: &Value) -> String {
    payload.to_string().chars().take(400).collect()
}

fn markdown(sizes: &[Size]) -> String {
    let mut out = String::from("# The directory as it grows (`scripts/bench growth`)\n\n");
    let _ = writeln!(
        out,
        "The `users` release binary through the Lambda Runtime API emulator, one process per \
         size (BENCH_BIN: {}); medians of 3 rounds' p50s after a warm-up round, the \
         scenarios alternating within each round.\n",
        std::env::var("BENCH_BIN").unwrap_or_else(|_| "target/release".into())
    );
    out.push_str(
        "| members | seed (s) | database (MB) | list JSON (bytes) | bytes per member | cached (≤ 8 MiB × 2/3) | identity fits 6 MB | users peak RSS (MiB) |\n\
         |---:|---:|---:|---:|---:|---|---|---:|\n",
    );
    for s in sizes {
        let per = s.json_bytes as f64 / s.members as f64;
        let cached = s.json_bytes + s.json_bytes / 2 + 600 <= CACHE_BUDGET;
        let fits = s.json_bytes <= RESPONSE_LIMIT;
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {} | {:.0} | {} | {} | {:.1} |",
            s.members,
            s.seed_s,
            s.db_mb,
            s.json_bytes,
            per,
            if cached { "yes" } else { "no" },
            if fits { "yes" } else { "no (422)" },
            s.peak_rss_mb,
        );
    }
    out.push_str(
        "\n| members | scenario | status | on the wire (payload body) | decoded | p50 (ms) |\n\
         |---:|---|---:|---:|---:|---:|\n",
    );
    for s in sizes {
        for (scenario, status, wire, decoded, p50) in &s.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {status} | {wire} | {decoded} | {p50:.2} |",
                s.members,
                scenario.name()
            );
        }
    }
    // Where each limit falls, extrapolating linearly from the two largest sizes.
    if let [.., a, b] = sizes {
        let per = b.json_bytes as f64 / b.members as f64;
        let rss_slope = (b.peak_rss_mb - a.peak_rss_mb) / (b.members - a.members) as f64;
        let rss_limit = b.members as f64 + (MEMORY_SIZE_MB - b.peak_rss_mb) / rss_slope.max(1e-9);
        let miss = |s: &Size| {
            s.rows
                .iter()
                .find(|r| r.0 == Scenario::ListMiss(Coding::Br))
                .map_or(0.0, |r| r.4)
        };
        let miss_slope = (miss(b) - miss(a)) / (b.members - a.members) as f64;
        let br_ratio = b
            .rows
            .iter()
            .find(|r| r.0 == Scenario::ListHit(Coding::Br))
            .map_or(1.0, |r| r.2 as f64 / b.json_bytes.max(1) as f64);
        let _ = writeln!(
            out,
            "\nExtrapolated from {} and {} members ({per:.0} JSON bytes a member):\n\n\
             - the whole list stops being cached at ~{:.0} members (its answer over the cache's 8 MiB budget);\n\
             - identity stops fitting Lambda's 6 MB at ~{:.0} members (422 `answer_too_large`);\n\
             - br (base64 on the wire, {:.3} of the JSON) would reach 6 MB at ~{:.0} members;\n\
             - the process's peak RSS ({:.2} MiB per 1,000 members) would reach MemorySize ({MEMORY_SIZE_MB} MB) at ~{:.0} members;\n\
             - a list miss in br ({:.2} ms per 1,000 members here) would reach the function's 10 s timeout at ~{:.0} members.",
            a.members,
            b.members,
            CACHE_BUDGET as f64 * 2.0 / 3.0 / per,
            RESPONSE_LIMIT as f64 / per,
            br_ratio,
            RESPONSE_LIMIT as f64 / (per * br_ratio),
            rss_slope * 1000.0,
            rss_limit,
            miss_slope * 1000.0,
            10_000.0 / miss_slope.max(1e-9),
        );
    }
    out
}
