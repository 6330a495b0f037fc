//! `scripts/bench`: the benchmarks of issues #3 and #8, against release builds.
//!
//! - `users`: 1,000 seeded users; `GET /api/v1/users?limit=1000` through the local
//!   server at concurrency 1 and 32, `GET /api/v1/users/{id}` at concurrency 32, and one
//!   `GET /api/v1/users/{id}` of the `users` binary through the Lambda Runtime API.
//! - `functions`: every function's release binary through the Runtime API: cold start,
//!   warm p50/p99 of its most common invocation, peak memory.
//! - `scaling`: the whole list (`GET /api/v1/users`) at 100, 1,000 and 5,000 users,
//!   against the size of the answer.
//!
//! - `gateway`: `GET /api/v1/users/{id}` with a token through `local --lambdas` (the
//!   API Gateway stand-in and the users binary) and the merged server, c=1 and
//!   c=32, and the first request after `--lambdas` starts (every environment cold).
//!
//! Binaries come from target/release, or `BENCH_BIN` (e.g. target/local-release).
//!
//! - `limits` (not in the default set): through `local --lambdas` under the template's
//!   limits, with the API's database account capped like the smallest tier;
//!   `GET /api/v1/users/{id}` and the 1,000-user list in `br` at c=1 and c=32, with the
//!   503s counted, and the all-cold first request; see `limits.rs`. Alone, it writes
//!   docs/perf/bench/limits.md.
//!
//! - `identity` (not in the default set): where the token is checked, three designs
//!   through `local --lambdas` (authorizer on every route, a cached authorizer on the
//!   identity routes, the function itself); see `identity.rs`. Writes
//!   docs/perf/bench/identity.md.
//!
//! - `cache` (not in the default set): the list cache and compression; see `cache.rs`.
//!   Writes docs/perf/bench/cache.md.
//! - `cost` (not in the default set): what scripts/cost-model.py prices, per route of
//!   its mix; see `cost.rs`. Writes docs/cost/measured.json.
//! - `growth` (not in the default set): the `users` binary at 1,000, 10,000 and 50,000
//!   members; see `growth.rs`. Writes docs/perf/bench/growth.md.
//! - `baseline` (not in the default set; `scripts/bench-baseline <rev>` runs it): this
//!   build's local server against an older build's, alternating rounds; see `baseline.rs`.
//!   Writes docs/perf/bench/baseline.md.
//!
//! `bench [suite...]` (all by default) prints tables of medians and writes them, with the
//! raw figures as JSON, to `docs/perf/bench/` (the plot is drawn from the JSON by
//! `scripts/plot-bench.py`). Not a test: the figures depend on the machine.

mod baseline;
mod cache;
mod cost;
mod gateway;
mod growth;
mod http;
mod identity;
mod lambda;
mod limits;
mod report;
mod seed;
mod stats;

use std::path::PathBuf;

use anyhow::Context;

use crate::http::{LocalServer, load};
use crate::report::{Report, ScalingRow, ScenarioRow};
use crate::stats::rounds;

const USERS: usize = 1000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server_url =
        std::env::var("DATABASE_URL").context("DATABASE_URL (scripts/bench sets it)")?;
    let mut suites: Vec<String> = std::env::args().skip(1).collect();
    if suites.is_empty() {
        suites = vec![
            "users".into(),
            "functions".into(),
            "scaling".into(),
            "gateway".into(),
        ];
    }
    let bin = std::env::var_os("BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/release"));
    let mut report = Report::default();
    let url = seed::seed(&server_url, "bench_users", USERS as i64).await?;
    for suite in &suites {
        match suite.as_str() {
            "users" => report.scenarios = users(&bin, &url).await?,
            "functions" => report.functions = functions(&bin, &url).await?,
            "scaling" => report.scaling = scaling(&bin, &server_url).await?,
            "cache" | "baseline" | "identity" => {
                let (markdown, file) = if suite == "cache" {
                    (cache::run(&bin, &server_url, &url).await?, "cache.md")
                } else if suite == "identity" {
                    (
                        identity::run(&bin, &url, &workspace()).await?,
                        "identity.md",
                    )
                } else {
                    (
                        baseline::run(&bin, &server_url, &url, USERS).await?,
                        "baseline.md",
                    )
                };
                println!("{markdown}");
                let out = output_dir();
                std::fs::create_dir_all(&out)?;
                std::fs::write(out.join(file), markdown)?;
                if suites.len() == 1 {
                    return Ok(());
                }
            }
            "cost" | "growth" => {
                let (text, file) = if suite == "cost" {
                    let label = format!(
                        "scripts/bench cost, {}, {}",
                        bin.display(),
                        today().unwrap_or_default()
                    );
                    (
                        cost::run(&bin, &url, &label).await?,
                        "docs/cost/measured.json",
                    )
                } else {
                    (
                        growth::run(&bin, &server_url).await?,
                        "docs/perf/bench/growth.md",
                    )
                };
                println!("{text}");
                let path = workspace().join(file);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, text)?;
                eprintln!("wrote {file}");
                if suites.len() == 1 {
                    return Ok(());
                }
            }
            "limits" => {
                let figures = limits::run(&bin, &url).await?;
                report.limits = figures.rows;
                report.limits_cold_first_ms = Some(figures.cold_first_ms);
                report.limits_capped = Some(figures.capped);
                report.limits_connect_ms = Some(figures.connect_ms);
                if suites.len() == 1 {
                    let markdown = report.markdown();
                    println!("{markdown}");
                    let out = output_dir();
                    std::fs::create_dir_all(&out)?;
                    std::fs::write(out.join("limits.md"), markdown)?;
                    return Ok(());
                }
            }
            "gateway" => {
                let (rows, cold) = gateway::rows(&bin, &url).await?;
                report.gateway = rows;
                report.gateway_cold_first_ms = Some(cold);
            }
            other => {
                anyhow::bail!(
                    "unknown suite {other}: users, functions, scaling, gateway, limits, cache, cost, growth, baseline or identity"
                )
            }
        }
    }
    let out = output_dir();
    std::fs::create_dir_all(&out)?;
    let markdown = report.markdown();
    println!("{markdown}");
    std::fs::write(out.join("results.md"), &markdown)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    eprintln!("wrote {OUTPUT}/results.md and results.json");
    Ok(())
}

/// Where the suites write their output (docs/perf/README.md says how it is used).
const OUTPUT: &str = "docs/perf/bench";

fn output_dir() -> PathBuf {
    workspace().join(OUTPUT)
}

/// Today's date (UTC), as `date` prints it.
fn today() -> Option<String> {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn users(bin: &std::path::Path, url: &str) -> anyhow::Result<Vec<ScenarioRow>> {
    let server = LocalServer::start(bin, url).await?;
    let addr = server.addr.as_str();
    // c=1: 200 requests a round; c=32: 20 per connection (each answer is ~400 KB).
    let list = |c: usize| {
        let total = if c == 1 { 200 } else { 20 * c };
        rounds(move || async move {
            Ok(load(addr, c, total, |_| "/api/v1/users?limit=1000".into())
                .await?
                .0)
        })
    };
    let single = rounds(|| async {
        let path = |i: usize| format!("/api/v1/users/{}", 1 + (i * 7919) % USERS);
        Ok(load(addr, 32, 40_000, path).await?.0)
    });
    let mut rows = vec![
        ScenarioRow::new("GET /users?limit=1000, local server, c=1", list(1).await?),
        ScenarioRow::new("GET /users?limit=1000, local server, c=32", list(32).await?),
        ScenarioRow::new("GET /users/{id}, local server, c=32", single.await?),
    ];
    let fakes = lambda::Fakes::start().await;
    let users_fn = lambda::functions(url, &fakes)
        .into_iter()
        .find(|f| f.name == "users")
        .context("the users function")?;
    server.stop().await;
    let measured = lambda::measure(bin, &users_fn).await?;
    if let Some(warm) = measured.warm {
        rows.push(ScenarioRow::new(
            "GET /users/{id}, users binary via Runtime API, c=1",
            warm,
        ));
    }
    Ok(rows)
}

async fn functions(bin: &std::path::Path, url: &str) -> anyhow::Result<Vec<lambda::Measured>> {
    let fakes = lambda::Fakes::start().await;
    let mut measured = Vec::new();
    for function in lambda::functions(url, &fakes) {
        eprintln!("measuring {}", function.name);
        measured.push(lambda::measure(bin, &function).await?);
    }
    Ok(measured)
}

async fn scaling(bin: &std::path::Path, server_url: &str) -> anyhow::Result<Vec<ScalingRow>> {
    let mut rows = Vec::new();
    for users in [100_usize, 1000, 5000] {
        let url = seed::seed(server_url, &format!("bench_scale_{users}"), users as i64).await?;
        let server = LocalServer::start(bin, &url).await?;
        let addr = server.addr.as_str();
        // About 2 s of requests per round, whatever the size.
        let count = (200_000 / users).clamp(20, 400);
        let (_, size) = load(addr, 1, 1, |_| "/api/v1/users".into()).await?;
        let summary =
            rounds(|| async { Ok(load(addr, 1, count, |_| "/api/v1/users".into()).await?.0) })
                .await?;
        rows.push(ScalingRow::new(users, size, summary));
        server.stop().await;
    }
    Ok(rows)
}
