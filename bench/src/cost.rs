//! `bench cost`: what `scripts/cost-model.py` prices (docs/cost.md), per route of its
//! traffic mix, through each function's release binary under the Lambda Runtime API
//! (the deployed shape, one process per function, logging at the deployed level, INFO):
//!
//! - the warm p50 of an anonymous and of a signed-in invocation, and the bytes the
//!   process logs per invocation (what CloudWatch Logs ingests besides Lambda's own
//!   records);
//! - the authorizer's, for a request without a token and with one;
//! - the answer's bytes in identity, gzip and br (decoded: what leaves API Gateway) and
//!   its headers;
//! - each function's cold start, and whether it checks the token itself (a signed-in
//!   event whose header holds a bad token and whose authorizer context names a user:
//!   403 means the function verified the header, as design (c) of issue 25 has it).
//!
//! Writes docs/cost/measured.json, the model's input; re-run after the authorizer goes
//! and the model prices the new figures.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use serde_json::{Value, json};
use testkit::http::{apigw_event, authorizer_event};
use testkit::{LambdaProcess, RuntimeApi};

use crate::seed::ADMIN_SSO;
use crate::stats::{median, ms, percentile};

/// Invocations per measured round (3 rounds after a warm-up of WARMUP).
const PER_ROUND: usize = 300;
const WARMUP: usize = 50;
/// Process starts per function for its cold start.
const COLD_STARTS: usize = 5;

/// One route of the model's mix: its function, whether it needs an identity, and the
/// event of its `i`th invocation (`token`: the bearer token, when signed in).
struct Route {
    key: &'static str,
    function: &'static str,
    needs_identity: bool,
    event: fn(usize, Option<&str>) -> Value,
}

fn routes() -> Vec<Route> {
    fn get(path: String, token: Option<&str>) -> Value {
        with_token(
            apigw_event("GET", &path, None, token.map(|_| ADMIN_SSO)),
            token,
        )
    }
    vec![
        Route {
            key: "GET /users",
            function: "users",
            needs_identity: false,
            event: |_, t| get("/api/v1/users".into(), t),
        },
        Route {
            key: "GET /users/{id}",
            function: "users",
            needs_identity: false,
            event: |i, t| get(format!("/api/v1/users/{}", 1 + (i * 7919) % 1000), t),
        },
        Route {
            key: "GET /users/me",
            function: "users",
            needs_identity: true,
            event: |_, t| get("/api/v1/users/me".into(), t),
        },
        Route {
            key: "PATCH /users/{id}",
            function: "users",
            needs_identity: true,
            event: |i, t| {
                let body = json!({"introduction": format!("benchmark edit {}", i % 2)});
                with_token(
                    apigw_event("PATCH", "/api/v1/users/2", Some(&body), Some(ADMIN_SSO)),
                    t,
                )
            },
        },
        Route {
            key: "GET /positions",
            function: "positions",
            needs_identity: false,
            event: |_, t| get("/api/v1/positions".into(), t),
        },
        Route {
            key: "GET /teams",
            function: "teams",
            needs_identity: false,
            event: |_, t| get("/api/v1/teams".into(), t),
        },
        Route {
            key: "GET /health",
            function: "health",
            needs_identity: false,
            event: |_, t| get("/api/v1/health".into(), t),
        },
        Route {
            key: "GET /api/openapi.json",
            function: "docs",
            needs_identity: false,
            event: |_, t| get("/api/openapi.json".into(), t),
        },
    ]
}

/// The event as API Gateway passes it from a browser (which accepts br and gzip), with
/// `Authorization: <token>` or without one.
fn with_token(mut event: Value, token: Option<&str>) -> Value {
    event["headers"]["accept-encoding"] = "gzip, deflate, br".into();
    match token {
        Some(token) => event["headers"]["authorization"] = token.into(),
        None => {
            if let Some(headers) = event["headers"].as_object_mut() {
                headers.remove("authorization");
            }
        }
    }
    event
}

/// The model's input.
#[derive(Debug, serde::Serialize)]
struct Measured {
    measured: String,
    functions: BTreeMap<&'static str, FunctionFigures>,
    authorizer: Invocations,
    routes: BTreeMap<&'static str, RouteFigures>,
}

#[derive(Debug, serde::Serialize)]
struct FunctionFigures {
    cold_ms: f64,
    verifies_token: bool,
}

#[derive(Debug, Default, serde::Serialize)]
struct Invocations {
    #[serde(skip_serializing_if = "Option::is_none")]
    anonymous: Option<Figures>,
    signed_in: Option<Figures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cold_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Figures {
    p50_ms: f64,
    log_bytes: f64,
}

#[derive(Debug, serde::Serialize)]
struct RouteFigures {
    function: &'static str,
    #[serde(flatten)]
    invocations: Invocations,
    answer_bytes: BTreeMap<&'static str, usize>,
    header_bytes: usize,
}

/// What API Gateway adds to every answer (`date`, `content-length`, `apigw-requestid`,
/// the status line), in bytes.
const GATEWAY_HEADERS: usize = 120;

pub async fn run(bin: &Path, url: &str, label: &str) -> anyhow::Result<String> {
    let token = crate::lambda::admin_bearer();
    let key = testkit::jwt::public_pem();
    let auth_env = [
        ("WAFFLE_JWT_PUBLIC_KEY", key.as_str()),
        ("WAFFLE_JWT_ISSUER", testkit::jwt::ISSUER),
    ];
    let api_env = [
        ("DATABASE_URL", url),
        ("WAFFLE_JWT_PUBLIC_KEY", key.as_str()),
        ("WAFFLE_JWT_ISSUER", testkit::jwt::ISSUER),
    ];

    // The authorizer: a request without a token, and one with.
    eprintln!("cost: authorizer");
    let authorizer = {
        let (runtime, process) = spawn(bin, "authorizer", &auth_env).await;
        let anonymous = figures(&runtime, &process, |_| authorizer_event(None)).await?;
        let signed_in = figures(&runtime, &process, |_| {
            authorizer_event(Some(token.as_str()))
        })
        .await?;
        Invocations {
            anonymous: Some(anonymous),
            signed_in: Some(signed_in),
            cold_ms: Some(cold_start(bin, "authorizer", &auth_env, &authorizer_event(None)).await?),
        }
    };

    let mut functions = BTreeMap::new();
    let mut measured_routes = BTreeMap::new();
    for route in routes() {
        eprintln!("cost: {}", route.key);
        let (runtime, process) = spawn(bin, route.function, &api_env).await;
        let signed = Some(token.as_str());
        let anonymous = if route.needs_identity {
            None
        } else {
            Some(figures(&runtime, &process, |i| (route.event)(i, None)).await?)
        };
        let signed_in = Some(figures(&runtime, &process, |i| (route.event)(i, signed)).await?);
        let mut answer_bytes = BTreeMap::new();
        let mut header_bytes = 0;
        for coding in ["identity", "gzip", "br"] {
            let mut event = (route.event)(0, route.needs_identity.then_some(token.as_str()));
            match (coding, event["headers"].as_object_mut()) {
                ("identity", Some(headers)) => drop(headers.remove("accept-encoding")),
                (coding, Some(headers)) => {
                    drop(headers.insert("accept-encoding".into(), coding.into()))
                }
                (_, None) => {}
            }
            let payload: Value = runtime.invoke(event).await.response();
            let status = payload["statusCode"].as_u64().unwrap_or(0);
            anyhow::ensure!(status < 300, "{} {coding}: {payload}", route.key);
            answer_bytes.insert(coding, decoded_len(&payload));
            header_bytes = header_len(&payload) + GATEWAY_HEADERS;
        }
        if !functions.contains_key(route.function) {
            let verifies_token = verifies_token(&runtime).await;
            let event = (route.event)(0, None);
            let cold_ms = cold_start(bin, route.function, &api_env, &event).await?;
            functions.insert(
                route.function,
                FunctionFigures {
                    cold_ms,
                    verifies_token,
                },
            );
        }
        drop(process);
        measured_routes.insert(
            route.key,
            RouteFigures {
                function: route.function,
                invocations: Invocations {
                    anonymous,
                    signed_in,
                    cold_ms: None,
                },
                answer_bytes,
                header_bytes,
            },
        );
    }
    let measured = Measured {
        measured: label.to_owned(),
        functions,
        authorizer,
        routes: measured_routes,
    };
    Ok(serde_json::to_string_pretty(&measured)? + "\n")
}

/// The function's release binary under a Runtime API emulator of its own, at INFO.
async fn spawn(bin: &Path, name: &str, env: &[(&str, &str)]) -> (RuntimeApi, LambdaProcess) {
    let runtime = RuntimeApi::start().await;
    let mut env = env.to_vec();
    env.push(("RUST_LOG", "info"));
    let process = LambdaProcess::spawn(bin.join(name), &runtime, &env);
    (runtime, process)
}

/// Warm p50 (median of 3 rounds' p50s after a warm-up) and bytes logged per invocation.
async fn figures(
    runtime: &RuntimeApi,
    process: &LambdaProcess,
    event: impl Fn(usize) -> Value,
) -> anyhow::Result<Figures> {
    for i in 0..WARMUP {
        ok(runtime.invoke(event(i)).await.response())?;
    }
    let logged_before = process.logs().len();
    let mut p50s = Vec::new();
    for _ in 0..3 {
        let mut latencies = Vec::with_capacity(PER_ROUND);
        for i in 0..PER_ROUND {
            let event = event(i);
            let started = Instant::now();
            let answer = runtime.invoke(event).await.response();
            latencies.push(started.elapsed());
            ok(answer)?;
        }
        latencies.sort();
        p50s.push(ms(percentile(&latencies, 0.5)));
    }
    let logged = process.logs().len().saturating_sub(logged_before);
    Ok(Figures {
        p50_ms: median(p50s),
        log_bytes: logged as f64 / (3 * PER_ROUND) as f64,
    })
}

/// An answer is a success: a 2xx HTTP answer, or the authorizer's.
fn ok(answer: Value) -> anyhow::Result<()> {
    let fine = answer["isAuthorized"].is_boolean()
        || answer["statusCode"].as_u64().is_some_and(|s| s < 300);
    anyhow::ensure!(fine, "answered {answer}");
    Ok(())
}

/// Median time from process start to its first answer.
async fn cold_start(
    bin: &Path,
    name: &str,
    env: &[(&str, &str)],
    event: &Value,
) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for _ in 0..COLD_STARTS {
        let runtime = RuntimeApi::start().await;
        let started = Instant::now();
        let mut env = env.to_vec();
        env.push(("RUST_LOG", "info"));
        let process = LambdaProcess::spawn(bin.join(name), &runtime, &env);
        let answer = match runtime
            .invoke_within(event.clone(), Duration::from_secs(30))
            .await
        {
            testkit::Outcome::Response(answer) => answer,
            other => anyhow::bail!("{name} cold: {other:?}\n{}", process.logs()),
        };
        times.push(ms(started.elapsed()));
        ok(answer).with_context(|| format!("{name} cold"))?;
    }
    Ok(median(times))
}

/// Whether the function refuses a bad token in the header even though the authorizer
/// context names a user: then it checks tokens itself.
async fn verifies_token(runtime: &RuntimeApi) -> bool {
    let event = with_token(
        apigw_event("GET", "/api/v1/users/me", None, Some(ADMIN_SSO)),
        Some("Bearer not-a-token"),
    );
    let answer = runtime.invoke(event).await.response();
    answer["statusCode"] == 403 || answer["statusCode"] == 401
}

/// The body's bytes as the client receives them (API Gateway decodes base64).
fn decoded_len(payload: &Value) -> usize {
    let body = payload["body"].as_str().unwrap_or("");
    if payload["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_or(0, |b| b.len())
    } else {
        body.len()
    }
}

/// `name: value\r\n` of each header the function answered.
fn header_len(payload: &Value) -> usize {
    let single = payload["headers"].as_object().map_or(0, |headers| {
        headers
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len) + 4)
            .sum()
    });
    let multi = payload["multiValueHeaders"]
        .as_object()
        .map_or(0, |headers| {
            headers
                .iter()
                .flat_map(|(k, vs)| {
                    vs.as_array()
                        .into_iter()
                        .flatten()
                        .map(move |v| k.len() + v.as_str().map_or(0, str::len) + 4)
                })
                .sum()
        });
    single + multi
}
