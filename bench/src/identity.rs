//! `identity`: where the token is checked, measured through `local --lambdas` with three
//! variants of template.yaml built here in code:
//!
//! - (a) the `authorizer` adapter (bench/authorizer) as the HTTP API's default Lambda
//!   authorizer, no identity source, no caching: on every request;
//! - (b) the same authorizer with `Identity: {Headers: [Authorization],
//!   ReauthorizeEvery: 300}` on the routes that read identity, `Authorizer: NONE` on the
//!   others (it breaks the contract: API Gateway answers 401 to an anonymous
//!   `GET /users/{id}` itself);
//! - (c) the product: template.yaml as it is, each function checking the token itself.
//!
//! The functions are the same binaries in all three (they check the token whatever is in
//! front). Per run and design: the first request after start (every environment cold),
//! then warm `GET /api/v1/users/{id}` with a token and the anonymous list
//! (`GET /api/v1/users`, 1,000 users, `br`) at c=1 and c=32, and the invocations per
//! request from the stand-in's counters (`GET /local/counters` on its internal port).
//! The designs alternate across runs (a b c, b c a, c a b, ...); the table gives medians.

use std::path::Path;

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use serde_json::Value;

use crate::gateway::first_request;
use crate::http::{LocalServer, load_with};
use crate::seed::ADMIN_SSO;
use crate::stats::{Run, median, ms};

const USERS: usize = 1000;
/// Runs of each design (`BENCH_IDENTITY_RUNS` to change).
const RUNS: usize = 5;
const DESIGNS: [Design; 3] = [Design::A, Design::B, Design::C];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Design {
    A,
    B,
    C,
}

impl Design {
    fn label(self) -> &'static str {
        match self {
            Self::A => "(a) authorizer on every route",
            Self::B => "(b) cached authorizer on identity routes",
            Self::C => "(c) the function checks the token",
        }
    }
}

/// The routes that never read identity: `Authorizer: NONE` in design (b).
const ANONYMOUS_ROUTES: [&str; 10] = [
    "Method: GET, Path: /api/v1/users }",
    "Method: GET, Path: /api/v1/health }",
    "Method: GET, Path: /api/v1/health/ready }",
    "Method: GET, Path: /api/v1/positions }",
    "Method: GET, Path: /api/v1/teams }",
    "Method: GET, Path: \"/api/v1/teams/{id}\" }",
    "Method: GET, Path: /api/v1/batch/schedule }",
    "Method: GET, Path: /api/openapi.json }",
    "Method: GET, Path: /api/docs }",
    "Method: GET, Path: \"/api/docs/{file}\" }",
];

/// template.yaml as design `design` has it.
fn variant(template: &str, design: Design) -> anyhow::Result<String> {
    if design == Design::C {
        return Ok(template.to_owned());
    }
    let identity = match design {
        Design::A => "            Identity:\n              ReauthorizeEvery: 0\n",
        _ => {
            "            Identity:\n              Headers: [Authorization]\n              ReauthorizeEvery: 300\n"
        }
    };
    let auth = format!(
        "      Auth:\n        DefaultAuthorizer: WaffleSso\n        Authorizers:\n          WaffleSso:\n            FunctionArn: !GetAtt AuthorizerFunction.Arn\n            AuthorizerPayloadFormatVersion: \"2.0\"\n            EnableSimpleResponses: true\n{identity}"
    );
    let api = "      Description: !Sub waffledotcom ${AppEnv} API\n";
    anyhow::ensure!(
        template.contains(api),
        "template.yaml: no HttpApi description"
    );
    let mut text = template.replacen(api, &format!("{api}{auth}"), 1);
    let function = "Resources:\n  AuthorizerFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: !Sub waffledotcom-${AppEnv}-authorizer\n      CodeUri: target/lambda/authorizer/\n      LoggingConfig:\n        LogFormat: JSON\n";
    anyhow::ensure!(
        text.contains("\nResources:\n"),
        "template.yaml: no Resources"
    );
    text = text.replacen("\nResources:\n", &format!("\n{function}"), 1);
    if design == Design::B {
        for route in ANONYMOUS_ROUTES {
            anyhow::ensure!(text.contains(route), "template.yaml: no route {route}");
            let open = route.replace(" }", ", Auth: { Authorizer: NONE } }");
            text = text.replace(route, &open);
        }
        let default = "Properties: { ApiId: !Ref HttpApi }";
        anyhow::ensure!(text.contains(default), "template.yaml: no $default route");
        text = text.replace(
            default,
            "Properties: { ApiId: !Ref HttpApi, Auth: { Authorizer: NONE } }",
        );
    }
    Ok(text)
}

/// One design's figures in one run.
struct Sample {
    design: Design,
    cold_ms: f64,
    /// By scenario: (name, run, invocations per request).
    warm: Vec<(String, Run, f64)>,
}

pub async fn run(bin: &Path, server_url: &str, workspace: &Path) -> anyhow::Result<String> {
    // A database of its own: other suites (and other checkouts on a shared server)
    // reseed `bench_users` from scratch.
    let url = crate::seed::seed(server_url, "bench_identity", USERS as i64).await?;
    let url = url.as_str();
    let template = std::fs::read_to_string(workspace.join("template.yaml"))?;
    let dir = workspace.join("target/bench-identity");
    std::fs::create_dir_all(&dir)?;
    let mut files = Vec::new();
    for design in DESIGNS {
        let path = dir.join(format!("template-{design:?}.yaml").to_lowercase());
        std::fs::write(&path, variant(&template, design)?)?;
        files.push((design, path));
    }
    let token = format!(
        "Bearer {}",
        testkit::jwt::mint(
            ADMIN_SSO,
            testkit::jwt::ISSUER,
            3600,
            testkit::jwt::Algorithm::RS512
        )
    );
    let runs = std::env::var("BENCH_IDENTITY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS);
    let mut samples = Vec::new();
    for run in 0..runs {
        for i in 0..DESIGNS.len() {
            let (design, path) = &files[(run + i) % DESIGNS.len()];
            eprintln!("identity: run {} of {runs}, {}", run + 1, design.label());
            samples.push(measure(bin, url, *design, path, &token).await?);
        }
    }
    Ok(markdown(&samples, bin, runs))
}

async fn measure(
    bin: &Path,
    url: &str,
    design: Design,
    template: &Path,
    token: &str,
) -> anyhow::Result<Sample> {
    let internal = format!("127.0.0.1:{}", testkit::free_port());
    let env = vec![
        ("WAFFLE_JWT_PUBLIC_KEY", testkit::jwt::public_pem()),
        ("WAFFLE_JWT_ISSUER", testkit::jwt::ISSUER.to_owned()),
        ("WADOT_TEMPLATE", template.display().to_string()),
        ("LAMBDA_BIND_ADDR", internal.clone()),
        // The stage's throttle would answer 429 to the load: lift it (the comparison is of
        // invocations, not of the stage's limits, which docs/perf/2026-12-07-limits.md measures).
        (
            "WADOT_PARAMETER_OVERRIDES",
            "ApiThrottleRate=100000 ApiThrottleBurst=100000 \
             ExpensiveRouteThrottleRate=100000 ExpensiveRouteThrottleBurst=100000"
                .to_owned(),
        ),
    ];
    let server = LocalServer::start_with(bin, url, &["--lambdas"], &env).await?;
    let addr = server.addr.clone();
    let cold_ms = first_request(&addr, token).await?;
    let one = |i: usize| format!("/api/v1/users/{}", 1 + (i * 7919) % USERS);
    let list = |_: usize| "/api/v1/users".to_owned();
    let with_token = vec![("authorization".to_owned(), token.to_owned())];
    let br = vec![("accept-encoding".to_owned(), "br".to_owned())];
    let mut warm = Vec::new();
    for (name, headers, path, c, total) in [
        (
            "GET /users/{id} with a token, c=1",
            &with_token,
            &one as &dyn Fn(usize) -> String,
            1,
            1000,
        ),
        (
            "GET /users/{id} with a token, c=32",
            &with_token,
            &one,
            32,
            8000,
        ),
        ("GET /users anonymous (br), c=1", &br, &list, 1, 500),
        ("GET /users anonymous (br), c=32", &br, &list, 32, 4000),
    ] {
        // Warm-up: every environment the load will use is started.
        load_with(&addr, c, c * 20, path, headers, 200).await?;
        let before = counters(&internal).await?;
        let (run, _, _) = load_with(&addr, c, total, path, headers, 200).await?;
        let after = counters(&internal).await?;
        let invoked =
            |key: &str| after[key].as_u64().unwrap_or(0) - before[key].as_u64().unwrap_or(0);
        let per_request = (invoked("integration_invocations") + invoked("authorizer_invocations"))
            as f64
            / total as f64;
        warm.push((name.to_owned(), run, per_request));
    }
    server.stop().await;
    Ok(Sample {
        design,
        cold_ms,
        warm,
    })
}

/// The stand-in's invocation counters.
async fn counters(addr: &str) -> anyhow::Result<Value> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get("/local/counters")
        .header("host", addr)
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    serde_json::from_slice(&body).context("the stand-in's counters")
}

fn markdown(samples: &[Sample], bin: &Path, runs: usize) -> String {
    let profile = bin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = format!(
        "Identity designs through `local --lambdas` ({profile} binaries; median of {runs} runs, designs alternating):\n\n| design | scenario | p50 ms | p99 ms | req/s | invocations per request |\n| --- | --- | ---: | ---: | ---: | ---: |\n"
    );
    for design in DESIGNS {
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.design == design).collect();
        let Some(first) = mine.first() else { continue };
        for (i, (name, _, _)) in first.warm.iter().enumerate() {
            let pick = |f: &dyn Fn(&(String, Run, f64)) -> f64| {
                median(mine.iter().map(|s| f(&s.warm[i])).collect())
            };
            out.push_str(&format!(
                "| {} | {name} | {:.2} | {:.2} | {:.0} | {:.2} |\n",
                design.label(),
                pick(&|w| ms(w.1.p50)),
                pick(&|w| ms(w.1.p99)),
                pick(&|w| w.1.rps),
                pick(&|w| w.2),
            ));
        }
        out.push_str(&format!(
            "| {} | first request after start, all cold | {:.1} | | | |\n",
            design.label(),
            median(mine.iter().map(|s| s.cold_ms).collect())
        ));
    }
    out
}
