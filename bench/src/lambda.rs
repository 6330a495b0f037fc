//! Every function's release `bootstrap` through the Lambda Runtime API emulator: cold
//! start (process start to first answer, first database connection included), warm
//! latency of its most common invocation, and peak memory (VmHWM) after that load.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use testkit::http::{apigw_event, authorizer_event};
use testkit::{LambdaProcess, RuntimeApi};

use crate::seed::ADMIN_SSO;
use crate::stats::{self, Run, Summary};

/// Cold starts measured per function.
const COLD_STARTS: usize = 7;
/// Warm invocations per round.
const WARM: usize = 1000;

/// What one function is benchmarked with.
pub struct Function {
    pub name: &'static str,
    /// The invocation measured (its most common one).
    pub request: &'static str,
    env: Vec<(String, String)>,
    event: Box<dyn Fn(usize) -> Value>,
    /// Whether its warm latency is measured (API functions and the authorizer; the
    /// others run once per deploy, schedule or push).
    warm: bool,
}

/// What was measured of one function.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    pub name: &'static str,
    pub request: &'static str,
    pub cold_ms: f64,
    pub warm: Option<Summary>,
    pub peak_mb: f64,
}

/// Outside services the functions talk to during the benchmark.
pub struct Fakes {
    pub slack: testkit::slack::FakeSlack,
    pub github: testkit::github::FakeGitHub,
    /// moto's ECR, which `image-tag-updater` asks before committing, holding the tags
    /// `bench-<round>`, pushed in round order.
    pub moto: testkit::Moto,
    pub digests: Vec<String>,
}

const GITHUB_REPO: &str = "wafflestudio/waffle-world";
const GITHUB_TOKEN: &str = "ghp_bench_token_made_up";
/// moto's default account: the function's own registry.
const ECR_HOST: &str = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com";
const ECR_SAMPLE: &str = include_str!("../../testkit/fixtures/ecr-image-action-push.json");

impl Fakes {
    pub async fn start() -> Self {
        let slack = testkit::slack::FakeSlack::start().await;
        for i in 0..10 {
            slack.add(
                testkit::slack::member(&format!("UBENCH{i:03}")),
                testkit::slack::profile("벤치", &format!("{i}"), &format!("bench{i}@example.com")),
            );
        }
        let manifest = format!("spec:\n  image: {ECR_HOST}/snutt-dev/snutt-ev:old\n");
        let github = testkit::github::FakeGitHub::start(
            GITHUB_REPO,
            "main",
            GITHUB_TOKEN,
            &[(
                "apps/snutt-dev/snutt-ev/deployment.yaml",
                manifest.as_bytes(),
            )],
        )
        .await;
        let moto = testkit::Moto::start().await.expect("moto");
        let mut digests = Vec::with_capacity(COLD_STARTS);
        for round in 0..COLD_STARTS {
            digests.push(
                moto.push_image("snutt-dev/snutt-ev", &format!("bench-{round}"))
                    .await,
            );
        }
        Self {
            slack,
            github,
            moto,
            digests,
        }
    }
}

/// The functions and their most common invocation.
pub fn functions(database_url: &str, fakes: &Fakes) -> Vec<Function> {
    let db = |extra: &[(&str, &str)]| {
        let mut env = vec![("DATABASE_URL".to_owned(), database_url.to_owned())];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let get = |path: &'static str, sso: Option<&'static str>| -> Box<dyn Fn(usize) -> Value> {
        Box::new(move |_| apigw_event("GET", path, None, sso))
    };
    let token = admin_bearer();
    let public_key = testkit::jwt::public_pem();
    vec![
        Function {
            name: "authorizer",
            request: "RS512 token",
            env: vec![
                ("WAFFLE_JWT_PUBLIC_KEY".into(), public_key),
                ("WAFFLE_JWT_ISSUER".into(), testkit::jwt::ISSUER.into()),
            ],
            event: Box::new(move |_| authorizer_event(Some(&token))),
            warm: true,
        },
        Function {
            name: "health",
            request: "GET /health/ready",
            env: db(&[]),
            event: get("/api/v1/health/ready", None),
            warm: true,
        },
        Function {
            name: "users",
            request: "GET /users/{id}",
            env: db(&[]),
            event: Box::new(|i| {
                apigw_event(
                    "GET",
                    &format!("/api/v1/users/{}", 1 + (i * 7919) % 1000),
                    None,
                    None,
                )
            }),
            warm: true,
        },
        Function {
            name: "positions",
            request: "GET /positions",
            env: db(&[]),
            event: get("/api/v1/positions", None),
            warm: true,
        },
        Function {
            name: "teams",
            request: "GET /teams",
            env: db(&[]),
            event: get("/api/v1/teams", None),
            warm: true,
        },
        Function {
            name: "audit",
            request: "GET /audit-logs (admin)",
            env: db(&[]),
            event: get("/api/v1/audit-logs", Some(ADMIN_SSO)),
            warm: true,
        },
        Function {
            name: "batch",
            request: "GET /batch/schedule",
            env: db(&[
                ("SLACK_SYNC_SCHEDULE", "cron(0 12 ? * SAT *)"),
                ("SLACK_SYNC_FUNCTION_NAME", "wadot-dev-slack-sync"),
            ]),
            event: get("/api/v1/batch/schedule", None),
            warm: true,
        },
        Function {
            name: "docs",
            request: "GET /api/openapi.json",
            env: db(&[]),
            event: get("/api/openapi.json", None),
            warm: true,
        },
        Function {
            name: "migrate",
            request: "{\"command\": \"status\"}",
            env: db(&[]),
            event: Box::new(|_| json!({"command": "status"})),
            warm: false,
        },
        Function {
            name: "slack-sync",
            request: "scheduled sync, 10 members",
            env: db(&[
                ("SLACK_API_BASE_URL", &fakes.slack.base_url()),
                ("SLACK_API_TOKEN", testkit::slack::TOKEN),
            ]),
            event: Box::new(|_| {
                json!({
                    "version": "0", "id": "bench", "detail-type": "Scheduled Event",
                    "source": "aws.scheduler", "account": "123456789012",
                    "time": "2026-11-28T03:00:00Z", "region": "ap-northeast-2",
                    "resources": [], "detail": "{}"
                })
            }),
            warm: false,
        },
        Function {
            name: "image-tag-updater",
            request: "ECR push → one commit",
            env: vec![
                ("GITHUB_API_URL".into(), fakes.github.url().into()),
                ("GITHUB_TOKEN".into(), GITHUB_TOKEN.into()),
                ("GITHUB_REPOSITORY".into(), GITHUB_REPO.into()),
                ("ECR_HOST".into(), ECR_HOST.into()),
            ]
            .into_iter()
            .chain(fakes.moto.env().into_iter().map(|(k, v)| (k.to_owned(), v)))
            .collect(),
            event: {
                let digests = fakes.digests.clone();
                Box::new(move |i| {
                    let mut event: Value = serde_json::from_str(ECR_SAMPLE).unwrap_or_default();
                    event["account"] = json!("123456789012");
                    event["detail"]["repository-name"] = json!("snutt-dev/snutt-ev");
                    event["detail"]["image-tag"] = json!(format!("bench-{i}"));
                    event["detail"]["image-digest"] =
                        json!(digests.get(i).cloned().unwrap_or_default());
                    event
                })
            },
            warm: false,
        },
    ]
}

/// Whether `answer` is the success `function` should give.
fn succeeded(function: &Function, answer: &Value) -> bool {
    match function.name {
        "authorizer" => answer["isAuthorized"] == true,
        "migrate" => answer["pending"].as_array().is_some_and(Vec::is_empty),
        "slack-sync" => answer["status"] == "succeeded",
        "image-tag-updater" => answer["status"] == "updated",
        _ => answer["statusCode"] == 200,
    }
}

pub async fn measure(bin: &Path, function: &Function) -> anyhow::Result<Measured> {
    // The deployed level (template.yaml's AppLogLevel, INFO) unless BENCH_RUST_LOG says
    // otherwise: a request's log line is part of what an invocation costs.
    let level = std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "info".into());
    let env: Vec<(&str, &str)> = function
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("RUST_LOG", level.as_str())])
        .collect();
    let binary = bin.join(function.name);
    let mut cold = Vec::with_capacity(COLD_STARTS);
    let mut warm = Vec::new();
    let mut peak_kb = 0_u64;
    for round in 0..COLD_STARTS {
        let runtime = RuntimeApi::start().await;
        let started = Instant::now();
        let process = LambdaProcess::spawn(&binary, &runtime, &env);
        let answer = invoke(&runtime, function, round).await?;
        cold.push(started.elapsed());
        anyhow::ensure!(
            succeeded(function, &answer),
            "{} cold answer: {answer}\n{}",
            function.name,
            process.logs()
        );
        // Warm rounds: one unmeasured warm-up round, then stats::ROUNDS measured ones,
        // each in a process of its own.
        if function.warm && round <= stats::ROUNDS {
            let run = warm_round(&runtime, function).await?;
            if round > 0 {
                warm.push(run);
            }
        }
        let pid = process.id().context("the function exited")?;
        peak_kb = peak_kb.max(peak_rss_kb(pid)?);
    }
    cold.sort();
    Ok(Measured {
        name: function.name,
        request: function.request,
        cold_ms: stats::ms(stats::percentile(&cold, 0.5)),
        warm: function.warm.then(|| Summary::of(&warm)),
        peak_mb: peak_kb as f64 / 1024.0,
    })
}

async fn invoke(runtime: &RuntimeApi, function: &Function, i: usize) -> anyhow::Result<Value> {
    match runtime
        .invoke_within((function.event)(i), Duration::from_secs(30))
        .await
    {
        testkit::Outcome::Response(answer) => Ok(answer),
        other => anyhow::bail!("{} answered {other:?}", function.name),
    }
}

async fn warm_round(runtime: &RuntimeApi, function: &Function) -> anyhow::Result<Run> {
    let mut latencies = Vec::with_capacity(WARM);
    let started = Instant::now();
    for i in 1..=WARM {
        let event = (function.event)(i);
        let sent = Instant::now();
        let answer = match runtime.invoke(event).await {
            testkit::Outcome::Response(answer) => answer,
            other => anyhow::bail!("{} answered {other:?}", function.name),
        };
        latencies.push(sent.elapsed());
        anyhow::ensure!(succeeded(function, &answer), "{}: {answer}", function.name);
    }
    Ok(Run::from_samples(latencies, started.elapsed()))
}

/// The process's peak resident set (`VmHWM`), in KiB.
pub(crate) fn peak_rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM in /proc/<pid>/status")
}

/// `Authorization` for the admin (`ADMIN_SSO`): a day-long RS512 token of the test key.
pub(crate) fn admin_bearer() -> String {
    format!(
        "Bearer {}",
        testkit::jwt::mint(
            ADMIN_SSO,
            testkit::jwt::ISSUER,
            24 * 3600,
            testkit::jwt::Algorithm::RS512
        )
    )
}
