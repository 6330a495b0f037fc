//! What the reliability tests share: the real `local` binary on a loopback port, an
//! HTTP client over real TCP, and SSO tokens signed with the test key.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::MySqlConnection;
use testkit::TestDb;
use testkit::jwt::{self, Algorithm};
use testkit::slack::{FakeSlack, member, profile};
use tokio::process::{Child, Command};

/// How the server runs: merged (`local`), or as deployed (`local --lambdas`: the API
/// Gateway stand-in and each function's binary, which must be built beside `local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Merged,
    Lambdas,
}

impl Mode {
    /// `WADOT_LOCAL_MODE=lambdas` runs a suite against `--lambdas`; merged otherwise.
    pub fn from_env() -> Self {
        match std::env::var("WADOT_LOCAL_MODE").as_deref() {
            Ok("lambdas") => Self::Lambdas,
            _ => Self::Merged,
        }
    }
}

/// The template parameters a reliability suite overrides under `--lambdas`
/// (`WADOT_PARAMETER_OVERRIDES`, in `sam deploy --parameter-overrides` syntax): the
/// stage's and the expensive routes' throttles, raised far above any test's rate. The
/// suites that test answers, writes and recovery under concurrency (not the throttles)
/// run under every other limit of the template as deployed: no reserved concurrency on
/// the API functions, slack-sync and migrate reserved at 1, the account's 1,000, the
/// payload and timeout limits. The throttles themselves are tested with the template's
/// own figures in lambdas.rs and budget.rs.
pub const UNTHROTTLED: (&str, &str) = (
    "WADOT_PARAMETER_OVERRIDES",
    "ApiThrottleRate=100000 ApiThrottleBurst=100000 \
     ExpensiveRouteThrottleRate=100000 ExpensiveRouteThrottleBurst=100000",
);

/// The local server as a child process; killed when dropped.
pub struct Server {
    pub addr: String,
    pub log: std::path::PathBuf,
    child: Child,
}

impl Server {
    /// Starts `local` on `database_url` (migrating it to head) with the test key, and
    /// `env` on top. Slack is a closed loopback port unless `env` says otherwise, so no
    /// test ever reaches the real one.
    pub async fn spawn(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn_in(Mode::from_env(), database_url, env).await
    }

    /// Like `spawn`, in `mode`.
    pub async fn spawn_in(mode: Mode, database_url: &str, env: &[(&str, &str)]) -> Self {
        let port = testkit::free_port();
        let addr = format!("127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!("wd-local-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("create the server log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_local"));
        command
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", &addr)
            .env("WAFFLE_JWT_PUBLIC_KEY", jwt::public_pem())
            .env("WAFFLE_JWT_ISSUER", jwt::ISSUER)
            .env("SLACK_API_BASE_URL", "http://127.0.0.1:9/api")
            .env("SLACK_API_TOKEN", testkit::slack::TOKEN)
            .env("SLACK_RETRY_BASE_DELAY_MS", "50")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("APP_ENV")
            .env_remove("SLACK_SYNC_FUNCTION_NAME")
            .env_remove("SLACK_SYNC_SCHEDULE")
            .env_remove("DB_MAX_CONNECTIONS")
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        if mode == Mode::Lambdas {
            command
                .arg("--lambdas")
                .env_remove("LAMBDA_BIND_ADDR")
                .env_remove("WADOT_APP_ENV")
                .env(
                    "WADOT_TEMPLATE",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"),
                );
        }
        command.env_remove(UNTHROTTLED.0);
        for (key, value) in env {
            command.env(key, value);
        }
        if mode == Mode::Lambdas {
            // Say which limits this run is under.
            let overrides = env.iter().find(|(k, _)| *k == UNTHROTTLED.0);
            eprintln!(
                "local --lambdas under the template's limits; parameters overridden: {}",
                overrides.map_or("none", |(_, v)| *v)
            );
        }
        let child = command.spawn().expect("start the local server");
        testkit::wait_for_port(port, Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{e}; server log: {}", read(&log)));
        Self { addr, log, child }
    }

    pub fn api(&self) -> Api {
        Api::new(&self.addr)
    }

    /// The process id, to show that recovery happened in the same process.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server's log so far (warnings and errors).
    pub fn log(&self) -> String {
        read(&self.log)
    }

    /// The first line of the log that contains `needle`, waiting up to 5 s for it: the
    /// server may write a line just after it starts answering.
    pub async fn log_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(Instant::now() < deadline, "no line with {needle:?}: {log}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `local` (see [`Server::spawn`]) with `env` on a fresh database, and a client of it.
/// Bound in this order (`let (db, server, api) = ...`), they drop client first and
/// database last.
pub async fn fresh_local(env: &[(&str, &str)]) -> (TestDb, Server, Api) {
    let db = TestDb::new().await;
    let server = Server::spawn(&db.url, env).await;
    let api = server.api();
    (db, server, api)
}

/// Like [`fresh_local`], with `admin` registered (as `admin`) and made an admin.
pub async fn fresh_local_with_admin(admin: &str, env: &[(&str, &str)]) -> (TestDb, Server, Api) {
    let (db, server, api) = fresh_local(env).await;
    api.register(admin, "admin").await;
    make_admin(&db.url, admin).await;
    (db, server, api)
}

/// Runs `task(i)` for every `i` in `0..count` at once, each on a task of its own; their
/// outputs, in order.
pub async fn at_once<T, F>(count: usize, task: impl Fn(usize) -> F) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks = (0..count).map(|i| tokio::spawn(task(i)));
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect()
}

/// A fake Slack with `count` members: Slack ids `U0{tag}0000`, `U0{tag}0001`, ...; member
/// `i` is `Member{i} Kim`, `{tag}{i}@snu.ac.kr` in lower case.
pub async fn slack_with_members(count: usize, tag: &str) -> FakeSlack {
    let slack = FakeSlack::start().await;
    let mailbox = tag.to_lowercase();
    for i in 0..count {
        slack.add(
            member(&format!("U0{tag}{i:04}")),
            profile(
                &format!("Member{i}"),
                "Kim",
                &format!("{mailbox}{i}@snu.ac.kr"),
            ),
        );
    }
    slack
}

/// `Authorization` value for SSO id `sso`, signed with the key the server trusts.
pub fn bearer(sso: &str) -> String {
    format!(
        "Bearer {}",
        jwt::mint(sso, jwt::ISSUER, 3600, Algorithm::RS512)
    )
}

/// One answer, read whole, with how long it took.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
    pub elapsed: Duration,
}

impl Reply {
    /// The id of the run a force-run's answer names first.
    pub fn run_id(&self) -> i64 {
        self.body["results"][0]["run_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("a run id: {}", self.body))
    }

    /// Whether the body is the contract's error shape: a `detail` string or list.
    pub fn has_detail(&self) -> bool {
        self.body["detail"].is_string() || self.body["detail"].is_array()
    }
}

/// An HTTP client of one server, over real TCP.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(addr: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .expect("an HTTP client");
        Self {
            base: format!("http://{addr}"),
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends one request; `Err` only when no HTTP answer came back at all.
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        sso: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply, reqwest::Error> {
        let started = Instant::now();
        let mut request = self.http.request(method, self.url(path));
        if let Some(sso) = sso {
            request = request.header("authorization", bearer(sso));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await?;
        Ok(Reply {
            status,
            retry_after,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            elapsed: started.elapsed(),
        })
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        sso: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let what = format!("{method} {path}");
        self.try_send(method, path, sso, body)
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"))
    }

    pub async fn get(&self, path: &str, sso: Option<&str>) -> Reply {
        self.send(Method::GET, path, sso, None).await
    }

    /// `POST path` with a JSON `body` as `sso`.
    pub async fn post(&self, path: &str, sso: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(sso), Some(body)).await
    }

    /// `PATCH path` with a JSON `body` as `sso`.
    pub async fn patch(&self, path: &str, sso: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(sso), Some(body)).await
    }

    /// Forces a Slack sync as `admin` (`POST /api/v1/batch/force-run?name=slack-sync`).
    pub async fn force_slack_sync(&self, admin: &str) -> Reply {
        let path = "/api/v1/batch/force-run?name=slack-sync";
        self.send(Method::POST, path, Some(admin), None).await
    }

    /// Registers `sso` as `username`; the new user's id.
    pub async fn register(&self, sso: &str, username: &str) -> i64 {
        let reply = self
            .send(
                Method::POST,
                "/api/v1/users",
                Some(sso),
                Some(&json!({"username": username, "first_name": "Waffle", "last_name": "Kim"})),
            )
            .await;
        assert_eq!(reply.status, 201, "register {username}: {}", reply.body);
        reply.body["id"].as_i64().expect("an id")
    }

    /// Waits until run `id` has finished (at most `limit`); its final view.
    pub async fn finished_run(&self, admin: &str, id: i64, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let run = self
                .get(&format!("/api/v1/batch/runs/{id}"), Some(admin))
                .await;
            assert_eq!(run.status, 200, "{}", run.body);
            if matches!(run.body["status"].as_str(), Some("succeeded" | "failed")) {
                return run.body;
            }
            assert!(Instant::now() < deadline, "run {id} still {}", run.body);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A connection of the test's own, to check what the database holds.
pub async fn connect(url: &str) -> MySqlConnection {
    testkit::db::connect(url).await
}

/// Makes the user with SSO id `sso` an admin.
pub async fn make_admin(url: &str, sso: &str) {
    let mut conn = connect(url).await;
    let done = sqlx::query("UPDATE `user` SET is_admin = 1 WHERE sso_id = ?")
        .bind(sso)
        .execute(&mut conn)
        .await
        .expect("make an admin");
    assert_eq!(done.rows_affected(), 1, "no user with sso_id {sso}");
}

/// The test's duration setting: `name` in seconds, else `default`.
pub fn seconds_from_env(name: &str, default: u64) -> Duration {
    let secs = std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(default);
    Duration::from_secs(secs)
}

/// A small deterministic generator (xorshift64*), so a failing run can be replayed
/// from its seed without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
