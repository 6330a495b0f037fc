//! `limits`: the deployed shape under the template's limits (issue 23): `local --lambdas`
//! with its AWS quotas (no reserved concurrency on the API functions, the account's
//! 1,000, payload and timeout limits) and the API's database account capped like the
//! smallest tier (`MAX_USER_CONNECTIONS` 45, `DbBudget."60".ApiConnections`), each
//! environment holding one connection during an invocation. `GET /api/v1/users/{id}`
//! with a token and the 1,000-user list in `br`, at c=1 and c=32: requests/s, p50, p99
//! and how many answers were 503; and the first request after start, every environment
//! cold.
//!
//! The stage's throttles are raised (`WADOT_PARAMETER_OVERRIDES`): at the template's
//! 50 a second the benchmark would measure the throttle. Any answer but 200 or 503
//! stops the run.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use sqlx::Connection;

use crate::http::LocalServer;
use crate::report::LimitsRow;
use crate::seed::ADMIN_SSO;
use crate::stats::{ROUNDS, Run, median};

const USERS: usize = 1000;
/// The smallest tier's API account (template.yaml, `DbBudget."60".ApiConnections`).
const API_CONNECTIONS: u32 = 45;
const ACCOUNT: &str = "wadot_bench_api";
const COLD_STARTS: usize = 5;
const OVERRIDES: &str = "ApiThrottleRate=100000 ApiThrottleBurst=100000 \
                         ExpensiveRouteThrottleRate=100000 ExpensiveRouteThrottleBurst=100000";

/// The API's account on the benchmark's database, with the tier's connection limit: its
/// URL, or `None` (with a warning) when the server keeps no accounts (a private server
/// started with `--skip-grant-tables`).
async fn api_account(url: &str) -> anyhow::Result<Option<String>> {
    let mut admin = sqlx::MySqlConnection::connect(url).await?;
    let database: String = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(&mut admin)
        .await?;
    let statements = [
        format!("DROP USER IF EXISTS '{ACCOUNT}'@'%'"),
        format!(
            "CREATE USER '{ACCOUNT}'@'%' IDENTIFIED BY '{ACCOUNT}' \
             WITH MAX_USER_CONNECTIONS {API_CONNECTIONS}"
        ),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{ACCOUNT}'@'%'"),
    ];
    for statement in statements {
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
        {
            eprintln!("limits: no capped account ({error}); the functions log in as the admin");
            return Ok(None);
        }
    }
    // mysql://<user>[:<password>]@<host>/<database>: the same server and database.
    let (_, rest) = url.split_once("://").context("DATABASE_URL: no scheme")?;
    let (_, location) = rest.rsplit_once('@').context("DATABASE_URL: no user")?;
    Ok(Some(format!("mysql://{ACCOUNT}:{ACCOUNT}@{location}")))
}

fn env(migrator: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WAFFLE_JWT_PUBLIC_KEY", testkit::jwt::public_pem()),
        ("WAFFLE_JWT_ISSUER", testkit::jwt::ISSUER.to_owned()),
        ("WADOT_PARAMETER_OVERRIDES", OVERRIDES.to_owned()),
        ("MIGRATOR_DATABASE_URL", migrator.to_owned()),
    ]
}

fn token() -> String {
    let token = testkit::jwt::mint(
        ADMIN_SSO,
        testkit::jwt::ISSUER,
        3600,
        testkit::jwt::Algorithm::RS512,
    );
    format!("Bearer {token}")
}

/// `total` GETs of `path` over `concurrency` keep-alive connections with `headers`;
/// every answer must be 200 or 503. The round's figures and its 503s.
async fn load(
    addr: &str,
    concurrency: usize,
    total: usize,
    path: fn(usize) -> String,
    headers: &[(&'static str, String)],
) -> anyhow::Result<(Run, usize)> {
    let per_worker = total / concurrency;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let addr = addr.to_owned();
        let headers = headers.to_vec();
        workers.spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let mut latencies = Vec::with_capacity(per_worker);
            let mut refused = 0;
            for i in 0..per_worker {
                let path = path(worker * per_worker + i);
                let mut request = hyper::Request::get(path.as_str()).header("host", addr.as_str());
                for (name, value) in &headers {
                    request = request.header(*name, value.as_str());
                }
                let sent = Instant::now();
                let response = sender
                    .send_request(request.body(Empty::<Bytes>::new())?)
                    .await?;
                let status = response.status().as_u16();
                response.into_body().collect().await?;
                latencies.push(sent.elapsed());
                match status {
                    200 => {}
                    503 => refused += 1,
                    other => anyhow::bail!("{path} answered {other}"),
                }
            }
            anyhow::Ok((latencies, refused))
        });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut refused = 0;
    while let Some(result) = workers.join_next().await {
        let (samples, count) = result??;
        latencies.extend(samples);
        refused += count;
    }
    Ok((Run::from_samples(latencies, started.elapsed()), refused))
}

/// A name, the paths, the headers, and the requests of a round at c=1 and at c=32.
type Scenario = (
    &'static str,
    fn(usize) -> String,
    Vec<(&'static str, String)>,
    [usize; 2],
);

/// 500 connections opened and closed one after another (after 50 unmeasured).
async fn connect_cost(url: &str) -> anyhow::Result<(f64, f64)> {
    let options: sqlx::mysql::MySqlConnectOptions = url.parse()?;
    let mut samples = Vec::new();
    for i in 0..550 {
        let started = Instant::now();
        let conn = sqlx::MySqlConnection::connect_with(&options).await?;
        conn.close().await?;
        if i >= 50 {
            samples.push(started.elapsed());
        }
    }
    let run = Run::from_samples(samples, std::time::Duration::from_secs(1));
    Ok((crate::stats::ms(run.p50), crate::stats::ms(run.p99)))
}

fn one_user(i: usize) -> String {
    format!("/api/v1/users/{}", 1 + (i * 7919) % USERS)
}

fn list(_: usize) -> String {
    "/api/v1/users?limit=1000".into()
}

pub struct Figures {
    pub rows: Vec<LimitsRow>,
    /// What an invocation adds by connecting: connect (TCP, login, session setup) and
    /// close, one after another; p50 and p99 in ms.
    pub connect_ms: (f64, f64),
    pub cold_first_ms: f64,
    pub capped: bool,
}

pub async fn run(bin: &Path, url: &str) -> anyhow::Result<Figures> {
    let account = api_account(url).await?;
    let functions_url = account.clone().unwrap_or_else(|| url.to_owned());
    let connect_ms = connect_cost(&functions_url).await?;
    let auth = token();
    let env = env(url);
    let server = LocalServer::start_with(bin, &functions_url, &["--lambdas"], &env).await?;
    let addr = server.addr.as_str();
    let mut rows = Vec::new();
    let scenarios: [Scenario; 2] = [
        (
            "GET /users/{id} with a token",
            one_user,
            vec![("authorization", auth.clone())],
            [2000, 20_000],
        ),
        (
            "GET /users?limit=1000, br",
            list,
            vec![("accept-encoding", "br".to_owned())],
            [200, 640],
        ),
    ];
    for (name, path, headers, totals) in &scenarios {
        for (c, total) in [1_usize, 32].into_iter().zip(totals) {
            // A warm-up round, then ROUNDS measured ones; 503s counted in those.
            load(addr, c, *total, *path, headers).await?;
            let mut runs = Vec::new();
            let mut refused = 0;
            for _ in 0..ROUNDS {
                let (run, count) = load(addr, c, *total, *path, headers).await?;
                runs.push(run);
                refused += count;
            }
            rows.push(LimitsRow::new(
                format!("{name}, c={c}"),
                &runs,
                refused,
                total * ROUNDS,
            ));
        }
    }
    server.stop().await;
    let mut cold = Vec::new();
    for _ in 0..COLD_STARTS {
        let server = LocalServer::start_with(bin, &functions_url, &["--lambdas"], &env).await?;
        cold.push(crate::gateway::first_request(&server.addr, &auth).await?);
        server.stop().await;
    }
    Ok(Figures {
        rows,
        connect_ms,
        cold_first_ms: median(cold),
        capped: account.is_some(),
    })
}
