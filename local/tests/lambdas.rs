//! Every contract route, and the error contract, through both shapes: the merged
//! server and `local --lambdas` (the API Gateway stand-in in front of each function's
//! own binary, built beside `local` by `cargo build --bins`).
//!
//! Also: an identity a client sets itself (headers, a body shaped like a proxy event,
//! API Gateway's own context headers) never acts as anyone.

mod common;

use std::time::Duration;

use common::{Mode, Server};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::TestDb;
use testkit::jwt::{self, Algorithm, Key};

const SITE: &str = "https://wafflestudio.com";

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let answer = Answer {
            status,
            headers,
            body,
        };
        // The contract: every response carries x-request-id; every error has `detail`.
        assert!(
            !answer.header("x-request-id").is_empty(),
            "{method} {path}: {status} without x-request-id"
        );
        if status >= 400 {
            assert!(
                answer.body["detail"].is_string() || answer.body["detail"].is_array(),
                "{method} {path}: {status} {} is not the contract's error",
                answer.body
            );
        }
        answer
    }
}

fn bearer(sso: &str) -> String {
    common::bearer(sso)
}

/// Asserts `status`, showing the answer otherwise.
#[track_caller]
fn expect(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
}

async fn smoke(mode: Mode) {
    let db = TestDb::new().await;
    let slack = testkit::slack::FakeSlack::start().await;
    slack.add(
        testkit::slack::member("U100"),
        testkit::slack::profile("Slack", "Kim", "slack.kim@example.com"),
    );
    let slack_url = slack.base_url();
    let server = Server::spawn_in(
        mode,
        &db.url,
        &[
            ("CORS_ALLOW_ORIGINS", SITE),
            ("SLACK_API_BASE_URL", &slack_url),
        ],
    )
    .await;
    let c = Client {
        base: format!("http://{}", server.addr),
        http: reqwest::Client::new(),
    };
    let alice = bearer("1001");
    let admin = bearer("1002");
    let get = Method::GET;

    // Health and docs.
    for path in ["/api/v1/health", "/api/v1/health/", "/api/v1/health/ready"] {
        let a = c.call(get.clone(), path, None, None, &[]).await;
        expect(&a, 200, path);
        assert_eq!(a.body["status"], "OK");
    }
    let a = c
        .call(get.clone(), "/api/openapi.json", None, None, &[])
        .await;
    expect(&a, 200, "openapi");
    assert!(a.body["paths"]["/api/v1/users/{id}"].is_object());
    let a = c.call(get.clone(), "/api/docs", None, None, &[]).await;
    expect(&a, 200, "docs page");

    // Users.
    let user = json!({"username": "alice", "first_name": "Alice", "last_name": "Kim"});
    let a = c
        .call(Method::POST, "/api/v1/users", Some(&alice), Some(user), &[])
        .await;
    expect(&a, 201, "register");
    let alice_id = a.body["id"].as_i64().expect("an id");
    let boss = json!({"username": "boss", "first_name": "Boss", "last_name": "Park"});
    let a = c
        .call(Method::POST, "/api/v1/users", Some(&admin), Some(boss), &[])
        .await;
    expect(&a, 201, "register the admin");
    db.sql("UPDATE `user` SET is_admin = 1 WHERE sso_id = '1002'")
        .await;
    let a = c
        .call(get.clone(), "/api/v1/users/me", Some(&alice), None, &[])
        .await;
    expect(&a, 200, "me");
    assert_eq!(a.body["sso_id"], "1001");
    let a = c
        .call(get.clone(), "/api/v1/users?limit=1", None, None, &[])
        .await;
    expect(&a, 200, "list");
    assert_eq!(a.body.as_array().map(Vec::len), Some(1));
    assert_eq!(a.header("x-total-count"), "2");
    // Absolute, with the scheme and port actually served: plain HTTP on this port
    // (through --lambdas, from API Gateway's x-forwarded-proto and -port).
    let next = format!("<http://{}/api/v1/users?limit=1&cursor=", server.addr);
    assert!(a.header("link").starts_with(&next), "{:?}", a.headers);
    assert!(
        a.header("link").ends_with("rel=\"next\""),
        "{:?}",
        a.headers
    );
    let a = c
        .call(
            get.clone(),
            &format!("/api/v1/users/{alice_id}"),
            None,
            None,
            &[],
        )
        .await;
    expect(&a, 200, "get");
    assert!(
        a.body.get("sso_id").is_none(),
        "a stranger sees the summary"
    );
    let a = c
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{alice_id}"),
            Some(&alice),
            Some(json!({"introduction": "안녕 🧇"})),
            &[],
        )
        .await;
    expect(&a, 200, "patch");
    assert_eq!(a.body["introduction"], "안녕 🧇");

    // Positions.
    let a = c
        .call(
            Method::POST,
            "/api/v1/positions",
            Some(&admin),
            Some(json!({"name": "DevOps"})),
            &[],
        )
        .await;
    expect(&a, 201, "create a position");
    let position = a.body["id"].as_i64().expect("an id");
    let a = c
        .call(get.clone(), "/api/v1/positions", None, None, &[])
        .await;
    expect(&a, 200, "positions");
    let path = format!("/api/v1/positions/{position}");
    let a = c
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"name": "SRE"})),
            &[],
        )
        .await;
    expect(&a, 200, "rename");
    let a = c.call(Method::DELETE, &path, Some(&admin), None, &[]).await;
    expect(&a, 204, "delete a position");

    // Teams.
    let a = c
        .call(
            Method::POST,
            "/api/v1/teams",
            Some(&admin),
            Some(json!({"name": "Waffle", "introduction": "x"})),
            &[],
        )
        .await;
    expect(&a, 201, "create a team");
    let team = format!("/api/v1/teams/{}", a.body["id"]);
    let member = format!("{team}/members/{alice_id}");
    expect(
        &c.call(get.clone(), "/api/v1/teams", None, None, &[]).await,
        200,
        "teams",
    );
    let a = c
        .call(
            Method::PATCH,
            &team,
            Some(&admin),
            Some(json!({"introduction": "y"})),
            &[],
        )
        .await;
    expect(&a, 200, "patch a team");
    expect(
        &c.call(Method::PUT, &member, Some(&admin), None, &[]).await,
        204,
        "add",
    );
    let a = c.call(get.clone(), &team, None, None, &[]).await;
    expect(&a, 200, "a team");
    assert_eq!(a.body["members"][0]["id"], alice_id);
    expect(
        &c.call(Method::DELETE, &member, Some(&admin), None, &[])
            .await,
        204,
        "remove",
    );
    expect(
        &c.call(Method::DELETE, &team, Some(&admin), None, &[]).await,
        204,
        "delete",
    );

    // Audit log.
    let a = c
        .call(get.clone(), "/api/v1/audit-logs", Some(&admin), None, &[])
        .await;
    expect(&a, 200, "audit");
    assert!(
        a.body["items"].as_array().is_some_and(|i| i.len() >= 5),
        "{}",
        a.body
    );

    // Batch: a force-run reaches slack-sync (deployed shape: through the Invoke API).
    let a = c
        .call(get.clone(), "/api/v1/batch/schedule", None, None, &[])
        .await;
    expect(&a, 200, "schedule");
    let a = c
        .call(
            Method::POST,
            "/api/v1/batch/force-run?name=slack-sync",
            Some(&admin),
            None,
            &[],
        )
        .await;
    expect(&a, 202, "force-run");
    let run = a.body["results"][0]["run_id"].as_i64().expect("a run id");
    let api = server.api();
    let finished = api.finished_run("1002", run, Duration::from_secs(60)).await;
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert!(slack.count("users.list") >= 1, "the sync called Slack");
    let a = c
        .call(get.clone(), "/api/v1/batch/runs", Some(&admin), None, &[])
        .await;
    expect(&a, 200, "runs");
    assert_eq!(a.body["items"][0]["id"], run);

    // Delete last: the user goes.
    let path = format!("/api/v1/users/{alice_id}");
    expect(
        &c.call(Method::DELETE, &path, Some(&admin), None, &[]).await,
        204,
        "delete user",
    );
    expect(
        &c.call(get.clone(), &path, None, None, &[]).await,
        404,
        "deleted",
    );

    // The error contract.
    let a = c
        .call(get.clone(), "/api/v1/nothing-here", None, None, &[])
        .await;
    expect(&a, 404, "unknown route");
    let a = c.call(get.clone(), "/elsewhere", None, None, &[]).await;
    expect(&a, 404, "outside the API");
    let a = c
        .call(Method::PUT, "/api/v1/users", Some(&admin), None, &[])
        .await;
    expect(&a, 405, "wrong method");
    assert!(
        a.header("allow").contains("GET") && a.header("allow").contains("POST"),
        "{:?}",
        a.headers
    );
    let a = c
        .call(Method::DELETE, "/api/v1/health", None, None, &[])
        .await;
    expect(&a, 405, "wrong method on health");
    let expired = format!(
        "Bearer {}",
        jwt::mint("1002", jwt::ISSUER, -600, Algorithm::RS512)
    );
    let foreign = format!(
        "Bearer {}",
        jwt::mint_claims(
            jwt::claims("1002", jwt::ISSUER, 3600),
            Algorithm::RS512,
            Key::Foreign
        )
    );
    for bad in [expired.as_str(), foreign.as_str(), "Basic YTpi"] {
        for path in [
            "/api/v1/users/me",
            "/api/v1/health",
            "/api/v1/health/",
            "/api/v1/nothing-here",
        ] {
            let a = c.call(get.clone(), path, Some(bad), None, &[]).await;
            expect(&a, 403, &format!("{path} with a refused token"));
        }
        // A known path under another method: the refusal comes first, as on the
        // merged server (deployed, `$default` carries it: docs::default_route).
        let a = c
            .call(Method::PUT, "/api/v1/users", Some(bad), None, &[])
            .await;
        expect(&a, 403, "a wrong method with a refused token");
    }
    let a = c
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(json!([1])),
            &[],
        )
        .await;
    expect(&a, 422, "invalid body");

    // CORS: a preflight, and the exposed headers of a cross-origin answer.
    let a = c
        .call(
            Method::OPTIONS,
            "/api/v1/users",
            None,
            None,
            &[("origin", SITE), ("access-control-request-method", "POST")],
        )
        .await;
    assert!(
        a.status == 200 || a.status == 204,
        "preflight: {}",
        a.status
    );
    assert_eq!(a.header("access-control-allow-origin"), SITE);
    let a = c
        .call(
            get.clone(),
            "/api/v1/positions",
            None,
            None,
            &[("origin", SITE)],
        )
        .await;
    assert_eq!(a.header("access-control-allow-origin"), SITE);
    assert!(
        a.header("access-control-expose-headers")
            .to_ascii_lowercase()
            .contains("x-request-id")
    );

    forged_identities_act_as_nobody(&c).await;
    if mode == Mode::Lambdas {
        // The run went through the Invoke API to slack-sync's own process.
        let log = server.log();
        assert!(
            platform_records(&log, "slack-sync", "platform.start")
                .next()
                .is_some(),
            "{log}"
        );
        assert!(
            platform_records(&log, "batch", "platform.report")
                .next()
                .is_some(),
            "{log}"
        );
    }
}

/// Whatever a client sends, identity comes from a verified token only.
async fn forged_identities_act_as_nobody(c: &Client) {
    let forged_context = json!({"authorizer": {"lambda": {"waffle_user_id": "1002"}}}).to_string();
    let headers = [
        ("waffle-user-id", "1002"),
        ("x-amzn-request-context", forged_context.as_str()),
        ("x-amzn-apigateway-event", forged_context.as_str()),
        ("x-apigateway-context", forged_context.as_str()),
    ];
    let event_body = json!({
        "requestContext": {"authorizer": {"lambda": {"waffle_user_id": "1002"}}},
        "username": "forger", "first_name": "F", "last_name": "G",
    });
    let a = c
        .call(Method::GET, "/api/v1/users/me", None, None, &headers)
        .await;
    expect(&a, 401, "a forged identity on /users/me");
    let a = c
        .call(
            Method::POST,
            "/api/v1/users",
            None,
            Some(event_body),
            &headers,
        )
        .await;
    expect(&a, 401, "a forged identity registering");
    let a = c
        .call(Method::GET, "/api/v1/audit-logs", None, None, &headers)
        .await;
    expect(&a, 401, "a forged admin");
}

/// The start line names the limits in force, parameter overrides applied: what a suite
/// under `--lambdas` runs under (docs/lambdas-mode.md, "Running under other limits").
#[tokio::test]
async fn the_stand_in_names_the_limits_it_runs_under() {
    let db = TestDb::new().await;
    let server = Server::spawn_in(
        Mode::Lambdas,
        &db.url,
        &[
            // The line is INFO.
            ("RUST_LOG", "warn,local=info"),
            (
                "WADOT_PARAMETER_OVERRIDES",
                "ApiThrottleRate=70 ApiThrottleBurst='140'",
            ),
        ],
    )
    .await;
    let limits = server.log_line("AWS limits in force").await;
    assert!(limits.contains("stage 70 rps, burst 140"), "{limits}");
    assert!(
        limits.contains("POST /api/v1/batch/force-run: 2 rps, burst 5"),
        "{limits}"
    );
    assert!(limits.contains("slack-sync 1"), "{limits}");
}

#[tokio::test]
async fn every_route_and_error_through_the_merged_server() {
    smoke(Mode::Merged).await;
}

#[tokio::test]
async fn every_route_and_error_through_the_lambdas_stand_in() {
    smoke(Mode::Lambdas).await;
}

#[tokio::test]
async fn the_stand_in_logs_like_cloudwatch() {
    let db = TestDb::new().await;
    let server = Server::spawn_in(Mode::Lambdas, &db.url, &[]).await;
    let c = Client {
        base: format!("http://{}", server.addr),
        http: reqwest::Client::new(),
    };
    for _ in 0..2 {
        let a = c
            .call(Method::GET, "/api/v1/health", Some(&bearer("5")), None, &[])
            .await;
        expect(&a, 200, "health");
    }
    // Every function sets `LogFormat: JSON`: Lambda writes platform records as JSON.
    let log = server.log();
    for (function, kind) in [("health", "platform.start"), ("health", "platform.report")] {
        assert!(
            platform_records(&log, function, kind).next().is_some(),
            "no {kind} of {function} in the log:\n{log}"
        );
    }
    // One invocation per request: the function's, no authorizer in front (template.yaml
    // has none; the function checks the token itself).
    assert!(
        platform_records(&log, "authorizer", "platform.start")
            .next()
            .is_none(),
        "{log}"
    );
    // One cold start per function: the second request's report has no init.
    let reports: Vec<&str> = platform_records(&log, "health", "platform.report").collect();
    assert_eq!(reports.len(), 2, "{log}");
    assert!(
        reports.iter().all(|l| l.contains("\"memorySizeMB\":256")),
        "{log}"
    );
    assert_eq!(
        reports
            .iter()
            .filter(|l| l.contains("\"initDurationMs\""))
            .count(),
        1,
        "{log}"
    );
}

/// The stand-in's log lines of `function`'s platform records of type `kind`.
fn platform_records<'a>(
    log: &'a str,
    function: &'a str,
    kind: &'a str,
) -> impl Iterator<Item = &'a str> {
    let prefix = format!("[{function}] ");
    let kind = format!("\"type\":\"{kind}\"");
    log.lines()
        .filter(move |l| l.starts_with(&prefix) && l.contains(&kind))
}

#[tokio::test]
async fn invoke_api_and_eventbridge_door_reach_the_functions_the_template_names() {
    let db = TestDb::new().await;
    let slack = testkit::slack::FakeSlack::start().await;
    let slack_url = slack.base_url();
    let internal = format!("127.0.0.1:{}", testkit::free_port());
    let server = Server::spawn_in(
        Mode::Lambdas,
        &db.url,
        &[
            ("LAMBDA_BIND_ADDR", &internal),
            ("SLACK_API_BASE_URL", &slack_url),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let post = |path: String, body: Value, kind: &'static str| {
        http.post(format!("http://{internal}{path}"))
            .header("x-amz-invocation-type", kind)
            .body(body.to_string())
            .send()
    };
    // RequestResponse: the function's answer as the payload.
    let answer = post(
        "/2015-03-31/functions/waffledotcom-dev-migrate/invocations".into(),
        json!({"command": "status"}),
        "RequestResponse",
    )
    .await
    .expect("an answer");
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().get("x-amz-function-error").is_none());
    let status: Value = answer.json().await.expect("JSON");
    assert!(
        status["current"].is_number() && status["pending"] == json!([]),
        "{status}"
    );
    // An unknown function, as Lambda answers it.
    let answer = post(
        "/2015-03-31/functions/nope/invocations".into(),
        json!({}),
        "Event",
    )
    .await
    .expect("an answer");
    assert_eq!(answer.status(), 404);
    // Not every event matches a rule; an ECR push matches image-tag-updater's.
    let answer = post("/events".into(), json!({"source": "aws.s3"}), "")
        .await
        .expect("an answer");
    let matched: Value = answer.json().await.expect("JSON");
    assert_eq!(matched["matched"], json!([]));
    // The weekly schedule's input reaches slack-sync, which syncs from (fake) Slack.
    let answer = post("/schedules/Weekly".into(), json!({}), "")
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while slack.count("users.list") == 0 {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        platform_records(&server.log(), "slack-sync", "platform.start")
            .next()
            .is_some()
    );
    // The public port serves none of this.
    let public = http
        .post(format!(
            "http://{}/2015-03-31/functions/waffledotcom-dev-migrate/invocations",
            server.addr
        ))
        .body("{}")
        .send()
        .await
        .expect("an answer");
    assert_eq!(public.status(), 404);
}

/// An answer under load as deployed: the contract's (2xx; 503 with `detail` and
/// `Retry-After`), or the stage throttle's own 429 (docs/api.md, "As deployed").
#[track_caller]
fn contract_or_throttled(reply: &common::Reply, what: &str) {
    match reply.status {
        200..=299 => {}
        503 => assert!(
            reply.has_detail() && reply.retry_after.is_some(),
            "{what}: 503 without detail or Retry-After: {}",
            reply.body
        ),
        429 => assert_eq!(
            reply.body,
            json!({"message": "Too Many Requests"}),
            "{what}: the stage's 429"
        ),
        other => panic!(
            "{what}: {other} {} is no answer of the contract",
            reply.body
        ),
    }
}

/// Bursts the template's own limits admit (no parameter overrides): 48 reads of users
/// at once, 30 writes of one user, 20 force-runs. The users function has no reserved
/// concurrency, so nothing is refused by Lambda; the force-run route's throttle
/// (`ExpensiveRouteThrottleBurst` 5 at 2 a second) answers the rest 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bursts_under_the_templates_own_limits_get_contract_answers_only() {
    let db = TestDb::new().await;
    let slack = common::slack_with_members(2, "LB").await;
    let slack_url = slack.base_url();
    let server = Server::spawn_in(
        Mode::Lambdas,
        &db.url,
        &[("SLACK_API_BASE_URL", &slack_url)],
    )
    .await;
    let api = server.api();
    let admin = "7001";
    api.register(admin, "admin").await;
    common::make_admin(&db.url, admin).await;
    let member = api.register("7002", "member").await;

    // 48 reads of one user at once.
    let replies = common::at_once(48, |_| {
        let api = api.clone();
        async move { api.get(&format!("/api/v1/users/{member}"), None).await }
    })
    .await;
    for (i, reply) in replies.iter().enumerate() {
        contract_or_throttled(reply, &format!("read {i}"));
        if reply.status == 200 {
            assert_eq!(reply.body["id"], member);
        }
    }
    assert!(replies.iter().any(|r| r.status == 200));

    // 30 writes of one user at once, half by the user, half by an admin.
    let replies = common::at_once(30, |i| {
        let api = api.clone();
        async move {
            let caller = if i % 2 == 0 { "7002" } else { admin };
            let body = json!({"introduction": format!("write {i}")});
            api.patch(&format!("/api/v1/users/{member}"), caller, &body)
                .await
        }
    })
    .await;
    let mut written = Vec::new();
    for (i, reply) in replies.iter().enumerate() {
        contract_or_throttled(reply, &format!("write {i}"));
        if reply.status == 200 {
            written.push(format!("write {i}"));
        }
    }
    assert!(!written.is_empty());
    let mut conn = db.connect().await;
    let stored: Option<String> = sqlx::query_scalar("SELECT introduction FROM `user` WHERE id = ?")
        .bind(member)
        .fetch_one(&mut conn)
        .await
        .expect("the user");
    assert!(
        stored.as_ref().is_some_and(|s| written.contains(s)),
        "{stored:?} is none of the accepted writes"
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE entity = 'user' AND action = 'update'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the audit log");
    assert_eq!(
        audited as usize,
        written.len(),
        "one entry per accepted write"
    );

    // 20 force-runs at once: the route's burst is 5.
    let started = std::time::Instant::now();
    let replies = common::at_once(20, |_| {
        let api = api.clone();
        async move { api.force_slack_sync(admin).await }
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut runs = std::collections::BTreeSet::new();
    for (i, reply) in replies.iter().enumerate() {
        contract_or_throttled(reply, &format!("force-run {i}"));
        if reply.status == 202 {
            runs.insert(reply.run_id());
        }
    }
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    assert!(accepted >= 1, "no force-run got through");
    // The bucket: 5 at once, 2 more a second.
    let admitted = 5.0 + 2.0 * elapsed.ceil();
    assert!(
        accepted as f64 <= admitted,
        "{accepted} force-runs accepted in {elapsed:.1} s, the route admits {admitted}"
    );
    // One run at a time: a force-run admitted after the first run finished may start the
    // next (the throttle spreads the burst over seconds), but no two runs overlap.
    let mut finished = Vec::new();
    for run in &runs {
        let run = api.finished_run(admin, *run, Duration::from_secs(60)).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        finished.push(run);
    }
    finished.sort_by_key(|run| run["started_at"].as_str().unwrap_or_default().to_owned());
    for pair in finished.windows(2) {
        assert!(
            pair[0]["finished_at"].as_str() <= pair[1]["started_at"].as_str(),
            "runs overlap: {} and {}",
            pair[0],
            pair[1]
        );
    }
    assert!(!finished.is_empty(), "no run");
}

/// A directory whose whole list, uncompressed, is more than a Lambda function may
/// return (6 MB, the response as serialized): without a compressed coding the answer
/// is the contract's 422 naming `limit` and `Accept-Encoding`, never a gateway error;
/// compressed, the same list comes whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_list_too_big_for_lambda_is_refused_uncompressed_and_served_compressed() {
    const USERS: usize = 15_000;
    let db = TestDb::new().await;
    let server = Server::spawn_in(Mode::Lambdas, &db.url, &[]).await;
    let mut conn = db.connect().await;
    // Members as the directory holds them: a Slack avatar, an introduction, GitHub.
    let introduction = "웹 프론트엔드와 백엔드를 함께 만듭니다. Rust, TypeScript, 와플스튜디오 18기. \
                        Building the member directory of the club and its tools, one pull request at a time.";
    for chunk in 0..USERS / 1000 {
        let rows: Vec<String> = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| {
                format!(
                    "('{i}', 'member{i:05}', 'Member', 'Kim', \
                     'https://avatars.slack-edge.com/2024-03-01/{i:010}_0123456789abcdef0123_192.jpg', \
                     'member-{i:05}', 'U0{i:09}', '{introduction}', '21', FALSE, TRUE, TRUE, FALSE)"
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO `user` (sso_id, username, first_name, last_name, image_url, github_id, \
             slack_id, introduction, generation, is_rookie, is_member, is_active, is_admin) VALUES {}",
            rows.join(", ")
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("insert users");
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");
    let list = |encoding: &'static str, query: &'static str| {
        http.get(format!("http://{}/api/v1/users{query}", server.addr))
            .header("accept-encoding", encoding)
            .send()
    };

    // Compressed: the whole list.
    let mut sizes = Vec::new();
    for encoding in ["br", "gzip"] {
        let response = list(encoding, "").await.expect("an answer");
        assert_eq!(response.status(), 200, "{encoding}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("content-encoding"), encoding);
        assert_eq!(header("x-total-count"), USERS.to_string());
        let coded = response.bytes().await.expect("a body");
        let mut body = Vec::new();
        match encoding {
            "br" => brotli::BrotliDecompress(&mut coded.as_ref(), &mut body).expect("brotli"),
            _ => {
                use std::io::Read;
                flate2::read::GzDecoder::new(coded.as_ref())
                    .read_to_end(&mut body)
                    .expect("gzip");
            }
        }
        let users: Vec<Value> = serde_json::from_slice(&body).expect("a JSON array");
        assert_eq!(users.len(), USERS, "{encoding}");
        assert_eq!(
            users[USERS - 1]["username"],
            format!("member{:05}", USERS - 1)
        );
        sizes.push((encoding, coded.len(), body.len()));
    }
    eprintln!("(coding, coded bytes, JSON bytes): {sizes:?}");
    // The test is honest only if the list does not fit uncompressed.
    let (_, _, identity_len) = sizes[0];
    assert!(
        identity_len > 6 * 1024 * 1024,
        "the list is only {identity_len} bytes: {sizes:?}"
    );

    // Uncompressed: the contract's 422, with what to do.
    for encoding in ["identity", ""] {
        let response = list(encoding, "").await.expect("an answer");
        assert_eq!(response.status(), 422, "{encoding:?}");
        assert!(response.headers().contains_key("x-request-id"));
        let body: Value = response.json().await.expect("JSON");
        let detail = &body["detail"][0];
        assert_eq!(detail["loc"], json!(["query", "limit"]), "{body}");
        assert_eq!(detail["type"], "answer_too_large", "{body}");
        let msg = detail["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains("Accept-Encoding") && msg.contains("limit") && msg.contains("15000"),
            "{msg}"
        );
    }
    // A page of it fits as it is.
    let response = list("identity", "?limit=1000").await.expect("an answer");
    assert_eq!(response.status(), 200);
    let page: Vec<Value> = response.json().await.expect("a JSON array");
    assert_eq!(page.len(), 1000);
}
