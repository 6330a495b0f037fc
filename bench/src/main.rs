//! `scripts/bench`: the users benchmark of issue #3, against release builds.
//!
//! Seeds 1,000 users (1–2 positions, 0–3 SNS accounts and a team each), then measures
//! 1. `GET /api/v1/users?limit=1000` through the local server at concurrency 1,
//! 2. `GET /api/v1/users/{id}` through the local server at concurrency 32,
//! 3. one `GET /api/v1/users/{id}` invocation of the `users` binary through the Lambda
//!    Runtime API (the emulator's time from queueing the event to the answer),
//!
//! each several times, and prints a table of medians (also written to
//! `target/bench/users.md`). Not a test: the numbers depend on the machine.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use serde_json::Value;
use tokio::process::Command;

const USERS: i64 = 1000;
const ROUNDS: usize = 3;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server_url =
        std::env::var("DATABASE_URL").context("DATABASE_URL (scripts/bench sets it)")?;
    let url = testkit::db::with_database(&server_url, "bench_users");
    seed(&server_url, &url).await?;
    let bin = release_dir();

    let port = testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Command::new(bin.join("local"))
        .env("DATABASE_URL", &url)
        .env("BIND_ADDR", &addr)
        .env("DB_MAX_CONNECTIONS", "16")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("start target/release/local")?;
    testkit::wait_for_port(port, Duration::from_secs(30)).await?;

    let mut rows = Vec::new();
    let list = rounds(|| load(&addr, 1, 200, |_| "/api/v1/users?limit=1000".to_owned())).await?;
    rows.push(("GET /users?limit=1000, local server, c=1", list));
    let single = rounds(|| {
        load(&addr, 32, 40_000, |i| {
            format!("/api/v1/users/{}", 1 + (i as i64 * 7919) % USERS)
        })
    })
    .await?;
    rows.push(("GET /users/{id}, local server, c=32", single));
    let invocations = rounds(|| runtime_api(&bin, &url, 2000)).await?;
    rows.push((
        "GET /users/{id}, users binary via Runtime API, c=1",
        invocations,
    ));

    let table = render(&rows);
    println!("{table}");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("users.md"), &table)?;
    Ok(())
}

fn release_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release")
}

/// One measured scenario: throughput and latency percentiles.
#[derive(Debug, Clone, Copy)]
struct Run {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

async fn rounds<F, Fut>(mut scenario: F) -> anyhow::Result<Vec<Run>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Run>>,
{
    scenario().await?; // warm-up, not counted
    let mut runs = Vec::new();
    for _ in 0..ROUNDS {
        runs.push(scenario().await?);
    }
    Ok(runs)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn summarise(mut latencies: Vec<Duration>, elapsed: Duration) -> Run {
    latencies.sort();
    Run {
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    }
}

/// `total` GETs over `concurrency` keep-alive connections; every answer must be 200.
async fn load(
    addr: &str,
    concurrency: usize,
    total: usize,
    path: impl Fn(usize) -> String,
) -> anyhow::Result<Run> {
    let per_worker = total / concurrency;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let paths: Vec<String> = (0..per_worker)
            .map(|i| path(worker * per_worker + i))
            .collect();
        let addr = addr.to_owned();
        workers.spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let mut latencies = Vec::with_capacity(paths.len());
            for path in paths {
                let request = hyper::Request::get(path.as_str())
                    .header("host", addr.as_str())
                    .body(Empty::<Bytes>::new())?;
                let sent = Instant::now();
                let response = sender.send_request(request).await?;
                let status = response.status();
                response.into_body().collect().await?;
                latencies.push(sent.elapsed());
                anyhow::ensure!(status == 200, "{path} answered {status}");
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(total);
    while let Some(result) = workers.join_next().await {
        latencies.extend(result??);
    }
    Ok(summarise(latencies, started.elapsed()))
}

/// `count` invocations of the release `users` binary, one at a time.
async fn runtime_api(bin: &std::path::Path, url: &str, count: usize) -> anyhow::Result<Run> {
    let runtime = testkit::RuntimeApi::start().await;
    let _process = testkit::LambdaProcess::spawn(
        bin.join("users"),
        &runtime,
        &[("DATABASE_URL", url), ("RUST_LOG", "warn")],
    );
    let event = |i: usize| {
        testkit::http::apigw_event(
            "GET",
            &format!("/api/v1/users/{}", 1 + (i as i64 * 7919) % USERS),
            None,
            None,
        )
    };
    // The first invocation pays the cold start and the first connection.
    let first = runtime.invoke(event(0)).await.response();
    anyhow::ensure!(
        first["statusCode"] == 200,
        "cold invocation answered {first}"
    );
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for i in 1..=count {
        let event = event(i);
        let sent = Instant::now();
        let answer = runtime.invoke(event).await.response();
        latencies.push(sent.elapsed());
        anyhow::ensure!(answer["statusCode"] == 200, "answered {answer}");
    }
    Ok(summarise(latencies, started.elapsed()))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn render(rows: &[(&str, Vec<Run>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| scenario | requests/s | p50 (ms) | p99 (ms) |");
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    for (name, runs) in rows {
        let rps = median(runs.iter().map(|r| r.rps).collect());
        let p50 = median(runs.iter().map(|r| r.p50.as_secs_f64() * 1e3).collect());
        let p99 = median(runs.iter().map(|r| r.p99.as_secs_f64() * 1e3).collect());
        let _ = writeln!(out, "| {name} | {rps:.0} | {p50:.2} | {p99:.2} |");
    }
    let _ = writeln!(
        out,
        "\nMedians of {ROUNDS} rounds after a warm-up round; {USERS} seeded users."
    );
    out
}

/// A fresh `bench_users` database at head with 1,000 users and their links.
async fn seed(server_url: &str, url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut admin = sqlx::MySqlConnection::connect(server_url).await?;
    sqlx::raw_sql("DROP DATABASE IF EXISTS bench_users; CREATE DATABASE bench_users CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        .execute(&mut admin)
        .await?;
    let mut conn = sqlx::MySqlConnection::connect(url).await?;
    shared::migrations::run(
        &mut conn,
        &shared::migrations::Command::Upgrade {
            target: shared::migrations::Target::Head,
        },
    )
    .await?;
    let mut sql = String::from("INSERT INTO team (name, introduction) VALUES ");
    for t in 0..10 {
        let _ = write!(
            sql,
            "{}('Team {t}', 'A team of the club')",
            if t > 0 { "," } else { "" }
        );
    }
    sqlx::raw_sql(&sql).execute(&mut conn).await?;
    let positions: Vec<i32> = sqlx::query_scalar("SELECT id FROM `position` ORDER BY id")
        .fetch_all(&mut conn)
        .await?;
    let teams: Vec<i32> = sqlx::query_scalar("SELECT id FROM team ORDER BY id")
        .fetch_all(&mut conn)
        .await?;
    let mut users = String::from(
        "INSERT INTO `user` (id, sso_id, username, first_name, last_name, github_id, slack_id, introduction, generation, \
         is_rookie, is_member, is_active, is_admin) VALUES ",
    );
    let (mut links, mut sns, mut members) = (String::new(), String::new(), String::new());
    for id in 1..=USERS {
        let sep = if id > 1 { "," } else { "" };
        let _ = write!(
            users,
            "{sep}({id}, '{}', 'member{id:04}', '와플{id}', '김', 'member-{id}', 'U{id:08}', '안녕하세요, 와플스튜디오 {id}기입니다.', '{}', 0, 1, 1, 0)",
            100_000 + id,
            10 + id % 12
        );
        let p = id as usize % positions.len();
        let _ = write!(
            links,
            "{}({}, {id})",
            if links.is_empty() { "" } else { "," },
            positions[p]
        );
        if id % 2 == 0 {
            let _ = write!(links, ",({}, {id})", positions[(p + 1) % positions.len()]);
        }
        for s in 0..(id % 4) {
            let _ = write!(
                sns,
                "{}({id}, 'sns{s}', 'https://example.com/{id}/{s}')",
                if sns.is_empty() { "" } else { "," }
            );
        }
        let _ = write!(
            members,
            "{}({}, {id})",
            if members.is_empty() { "" } else { "," },
            teams[id as usize % teams.len()]
        );
    }
    sqlx::raw_sql(&users).execute(&mut conn).await?;
    sqlx::raw_sql(&format!(
        "INSERT INTO position_user_association (position_id, user_id) VALUES {links}"
    ))
    .execute(&mut conn)
    .await?;
    sqlx::raw_sql(&format!(
        "INSERT INTO sns_account (user_id, name, url) VALUES {sns}"
    ))
    .execute(&mut conn)
    .await?;
    sqlx::raw_sql(&format!(
        "INSERT INTO team_user_association (team_id, user_id) VALUES {members}"
    ))
    .execute(&mut conn)
    .await?;
    let check: Value = serde_json::json!({"users": USERS});
    eprintln!("seeded {check}");
    Ok(())
}
