//! The batch function against a real MariaDB: docs/api.md's "Batch" section. Force-runs run
//! in-process against a fake Slack, or are handed to a fake Lambda API (the real SDK
//! client, its request checked), and the binary answers API Gateway events.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use batch::{Batch, Dispatcher, Schedules};
use http::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::AppState;
use shared::domain::batch::{self as runs, Enqueued, SLACK_SYNC, Trigger};
use slack_sync::SlackSettings;
use testkit::http::{TestResponse, get, request};
use testkit::slack::{self, FakeSlack};
use testkit::{LambdaProcess, TestDb};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const ADMIN: &str = "1";
const MEMBER: &str = "2";

// Fields drop in order: the router (and its pool) before the database.
struct App {
    router: Router,
    state: AppState,
    slack: FakeSlack,
    db: TestDb,
}

fn slack_settings(slack: &FakeSlack) -> SlackSettings {
    let mut settings = SlackSettings::new(slack.base_url(), Some(SecretString::from(slack::TOKEN)));
    settings.base_delay = Duration::from_millis(10);
    settings
}

async fn app_with(schedule: Option<&str>, dispatcher: Option<Dispatcher>) -> App {
    let db = TestDb::migrated().await;
    let state = db.state().await;
    let slack = FakeSlack::start().await;
    let dispatcher =
        dispatcher.unwrap_or_else(|| Dispatcher::InProcess(Arc::new(slack_settings(&slack))));
    let batch = Batch {
        schedules: Schedules::new("Asia/Seoul", schedule).expect("a valid schedule"),
        dispatcher,
    };
    let router = shared::platform::http::with_shared_layers(
        batch::router_with(state.clone(), batch),
        testkit::jwt::tokens(),
    );
    let app = App {
        router,
        state,
        slack,
        db,
    };
    app.db
        .insert_user(ADMIN, &format!("user{ADMIN}"), true)
        .await;
    app.db
        .insert_user(MEMBER, &format!("user{MEMBER}"), false)
        .await;
    app
}

async fn app() -> App {
    app_with(None, None).await
}

impl App {
    async fn force(&self, query: &str, caller: Option<&str>) -> TestResponse {
        let mut req = request(Method::POST, &format!("/api/v1/batch/force-run?{query}"));
        if let Some(sso) = caller {
            req = req.as_user(sso);
        }
        req.send(&self.router).await
    }

    async fn admin_get(&self, uri: &str) -> TestResponse {
        get(uri).as_user(ADMIN).send(&self.router).await
    }

    /// `GET /api/v1/batch/runs/{id}`'s body, as the admin.
    async fn run(&self, id: impl std::fmt::Display) -> Value {
        self.admin_get(&format!("/api/v1/batch/runs/{id}"))
            .await
            .json()
    }

    /// The slack-sync job as `GET /api/v1/batch/schedule` shows it.
    async fn slack_sync_job(&self) -> Value {
        let schedule = get("/api/v1/batch/schedule").send(&self.router).await;
        schedule.json()["jobs"][0].clone()
    }

    /// Polls run `id` until it has finished (at most 10 s).
    async fn finished_run(&self, id: i64) -> Value {
        for _ in 0..200 {
            let run = self.run(id).await;
            if run["finished_at"].is_string() {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {id} did not finish");
    }

    async fn enqueue(&self) -> Enqueued {
        let pool = self.state.db.pool().await.expect("pool");
        runs::enqueue(pool, SLACK_SYNC, Trigger::Manual, Some(ADMIN))
            .await
            .expect("enqueue")
    }

    async fn finish(&self, id: i64) {
        let mut conn = self.db.connect().await;
        runs::finish(&mut conn, id, Some(&runs::RunStats::default()), None)
            .await
            .expect("finish");
    }
}

fn parse_time(text: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(text.as_str().expect("a time"), &Rfc3339).expect("RFC 3339")
}

#[tokio::test]
async fn the_job_is_listed_with_a_null_schedule_when_none_is_configured() {
    let app = app().await;
    let response = get("/api/v1/batch/schedule").send(&app.router).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json(),
        json!({"jobs": [{
            "name": "slack-sync", "tags": ["slack"], "schedule": null, "timezone": "Asia/Seoul",
            "next_run": null, "last_run": null, "last_status": null,
        }]})
    );
    let tagged = get("/api/v1/batch/schedule?tag=slack")
        .send(&app.router)
        .await;
    assert_eq!(tagged.json()["jobs"][0]["name"], "slack-sync");
    let none = get("/api/v1/batch/schedule?tag=github")
        .send(&app.router)
        .await;
    assert_eq!(
        (none.status, none.json()),
        (StatusCode::OK, json!({"jobs": []}))
    );
    let bad = get("/api/v1/batch/schedule?tag=").send(&app.router).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["detail"][0]["loc"], json!(["query", "tag"]));
}

#[tokio::test]
async fn next_run_follows_the_dev_and_prod_schedules_in_seoul_time() {
    for (expression, weekday, hour) in [
        // Saturday 12:00 in Seoul is Saturday 03:00 UTC.
        ("cron(0 12 ? * SAT *)", time::Weekday::Saturday, 3),
        // Sunday 00:00 in Seoul is Saturday 15:00 UTC.
        ("cron(0 0 ? * SUN *)", time::Weekday::Saturday, 15),
    ] {
        let app = app_with(Some(expression), None).await;
        let before = OffsetDateTime::now_utc();
        let job = app.slack_sync_job().await;
        assert_eq!(job["schedule"], expression);
        assert_eq!(job["timezone"], "Asia/Seoul");
        let text = job["next_run"].as_str().expect("next_run").to_owned();
        assert!(text.ends_with('Z'), "UTC: {text}");
        let next = parse_time(&job["next_run"]);
        assert_eq!(
            (next.weekday(), next.hour(), next.minute(), next.second()),
            (weekday, hour, 0, 0),
            "{text}"
        );
        assert!(
            next > before && next - before <= time::Duration::days(7),
            "{text}"
        );
    }
}

#[tokio::test]
async fn last_run_and_status_come_from_the_newest_run() {
    let app = app().await;
    let first = app.enqueue().await.run_id();
    app.finish(first).await;
    let second = app.enqueue().await.run_id();
    let job = app.slack_sync_job().await;
    assert_eq!(job["last_status"], "queued");
    let run = app.run(second).await;
    assert_eq!(
        job["last_run"], run["queued_at"],
        "not started yet: when it was queued"
    );
    let mut conn = app.db.connect().await;
    assert!(runs::start(&mut conn, second).await.expect("start"));
    app.finish(second).await;
    let job = app.slack_sync_job().await;
    assert_eq!(job["last_status"], "succeeded");
    let run = app.run(second).await;
    assert_eq!(job["last_run"], run["started_at"]);
}

#[tokio::test]
async fn force_run_is_for_admins_only() {
    let app = app().await;
    let anonymous = app.force("name=slack-sync", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let member = app.force("name=slack-sync", Some(MEMBER)).await;
    assert_eq!(member.status, StatusCode::FORBIDDEN);
    let stranger = app.force("name=slack-sync", Some("999")).await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);
    assert_eq!(member.json(), json!({"detail": "only admins may do this"}));
    // Permission comes first, whatever the query.
    assert_eq!(
        app.force("", Some(MEMBER)).await.status,
        StatusCode::FORBIDDEN
    );
    for uri in ["/api/v1/batch/runs", "/api/v1/batch/runs/1"] {
        assert_eq!(
            get(uri).send(&app.router).await.status,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
        assert_eq!(
            get(uri).as_user(MEMBER).send(&app.router).await.status,
            StatusCode::FORBIDDEN,
            "{uri}"
        );
    }
    let mut conn = app.db.connect().await;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM batch_run")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(count, 0, "nothing queued");
}

#[tokio::test]
async fn force_run_takes_exactly_one_of_name_and_tag() {
    let app = app().await;
    for query in ["", "name=slack-sync&tag=slack", "limit=3"] {
        let response = app.force(query, Some(ADMIN)).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(
            response.json()["detail"][0],
            json!({"loc": ["query"], "msg": "Send exactly one of name and tag", "type": "value_error"}),
            "{query}"
        );
    }
    let empty = app.force("name=", Some(ADMIN)).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.json()["detail"][0]["loc"], json!(["query", "name"]));
    let unknown = app.force("name=github-sync", Some(ADMIN)).await;
    assert_eq!(
        (unknown.status, unknown.json()),
        (
            StatusCode::NOT_FOUND,
            json!({"detail": "job github-sync not found"})
        )
    );
    let unknown_tag = app.force("tag=github", Some(ADMIN)).await;
    assert_eq!(unknown_tag.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.force("name=Slack-Sync", Some(ADMIN)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_forced_run_syncs_in_the_background_and_a_second_one_finds_it_running() {
    let app = app().await;
    app.slack.add_alike(5);
    // Keeps the run busy for a second, long enough to force again meanwhile.
    app.slack.rate_limit_next("users.list", 1);
    let response = app.force("name=slack-sync", Some(ADMIN)).await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.json());
    let body = response.json();
    let run_id = body["results"][0]["run_id"].as_i64().expect("run_id");
    assert_eq!(
        body,
        json!({"results": [{"name": "slack-sync", "tags": ["slack"], "run_id": run_id, "status": "queued"}]})
    );
    let again = app.force("tag=slack", Some(ADMIN)).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(
        again.json(),
        json!({"results": [{"name": "slack-sync", "tags": ["slack"], "run_id": run_id, "status": "already_running"}]})
    );

    let run = app.finished_run(run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["requested_by"], ADMIN);
    assert_eq!(run["job"], "slack-sync");
    assert_eq!(run["error"], Value::Null);
    assert_eq!(
        run["stats"],
        json!({"created": 5, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0})
    );
    let (queued, started, finished) = (
        parse_time(&run["queued_at"]),
        parse_time(&run["started_at"]),
        parse_time(&run["finished_at"]),
    );
    assert!(queued <= started && started <= finished);
    assert!(
        finished - started >= time::Duration::seconds(1),
        "waited for Retry-After"
    );
    let keys: Vec<&String> = run.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "error",
            "finished_at",
            "id",
            "job",
            "queued_at",
            "requested_by",
            "started_at",
            "stats",
            "status",
            "trigger"
        ]
    );

    // Finished: the next force-run queues a new run.
    let next = app.force("name=slack-sync", Some(ADMIN)).await.json();
    assert_eq!(next["results"][0]["status"], "queued");
    assert_ne!(next["results"][0]["run_id"], run_id);
    let next_run = app
        .finished_run(next["results"][0]["run_id"].as_i64().unwrap())
        .await;
    assert_eq!(next_run["stats"]["unchanged"], 5);
}

#[tokio::test]
async fn two_concurrent_triggers_queue_one_run() {
    let app = app().await;
    for _ in 0..10 {
        let (a, b) = tokio::join!(app.enqueue(), app.enqueue());
        let (queued, running) = match (a, b) {
            (Enqueued::Queued(q), Enqueued::AlreadyRunning(r))
            | (Enqueued::AlreadyRunning(r), Enqueued::Queued(q)) => (q, r),
            other => panic!("expected one queued and one already running: {other:?}"),
        };
        assert_eq!(queued, running, "the second trigger names the first's run");
        app.finish(queued).await;
    }
    // The same through the API, two admins' requests at once. Slack answers the first
    // run slowly, so it is still active when the second request arrives, however the
    // two are scheduled on a busy machine.
    app.slack
        .stall_next("users.list", std::time::Duration::from_secs(2));
    let (a, b) = tokio::join!(
        app.force("name=slack-sync", Some(ADMIN)),
        app.force("tag=slack", Some(ADMIN))
    );
    let mut statuses = [
        a.json()["results"][0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        b.json()["results"][0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ];
    statuses.sort();
    assert_eq!(statuses, ["already_running", "queued"]);
    assert_eq!(
        a.json()["results"][0]["run_id"],
        b.json()["results"][0]["run_id"]
    );
}

#[tokio::test]
async fn a_run_left_active_too_long_is_abandoned_by_the_next_trigger() {
    let app = app().await;
    let stale = app.enqueue().await.run_id();
    let mut conn = app.db.connect().await;
    sqlx::query(
        "UPDATE batch_run SET status = 'running', queued_at = UTC_TIMESTAMP(6) - INTERVAL 2 HOUR, \
         started_at = UTC_TIMESTAMP(6) - INTERVAL 2 HOUR WHERE id = ?",
    )
    .bind(stale)
    .execute(&mut conn)
    .await
    .expect("age the run");
    let Enqueued::Queued(fresh) = app.enqueue().await else {
        panic!("a new run");
    };
    assert_ne!(fresh, stale);
    let old = app.run(stale).await;
    assert_eq!(old["status"], "failed");
    assert!(
        old["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("abandoned"),
        "{old}"
    );
    // A recent active run is not abandoned.
    assert_eq!(app.enqueue().await, Enqueued::AlreadyRunning(fresh));
}

#[tokio::test]
async fn the_run_history_is_newest_first() {
    let app = app().await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let id = app.enqueue().await.run_id();
        app.finish(id).await;
        ids.push(id);
    }
    let mut conn = app.db.connect().await;
    sqlx::query(
        "INSERT INTO batch_run (job, `trigger`, status, queued_at) \
         VALUES ('retired-job', 'schedule', 'succeeded', UTC_TIMESTAMP(6))",
    )
    .execute(&mut conn)
    .await
    .expect("another job's run");
    let all = app.admin_get("/api/v1/batch/runs").await;
    assert_eq!(all.status, StatusCode::OK);
    let listed: Vec<i64> = all.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed.len(), 5);
    assert!(listed.windows(2).all(|w| w[0] > w[1]), "{listed:?}");
    let ours = app
        .admin_get("/api/v1/batch/runs?name=slack-sync&limit=3")
        .await
        .json();
    let ours: Vec<i64> = ours["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ours, [ids[3], ids[2], ids[1]]);
    let one = app.run(ids[0]).await;
    assert_eq!(one["id"], ids[0]);
    assert_eq!(
        one["stats"],
        json!({"created": 0, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0})
    );
    for (uri, status) in [
        (
            "/api/v1/batch/runs?limit=0",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/batch/runs?limit=1001",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/api/v1/batch/runs?limit=x",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/api/v1/batch/runs?limit=1000", StatusCode::OK),
        ("/api/v1/batch/runs/999999", StatusCode::NOT_FOUND),
        ("/api/v1/batch/runs/0", StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/v1/batch/runs/abc", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        assert_eq!(app.admin_get(uri).await.status, status, "{uri}");
    }
    assert_eq!(
        app.admin_get("/api/v1/batch/runs/abc").await.json()["detail"][0]["loc"],
        json!(["path", "id"])
    );
}

/// An `Invoke` the fake received: function name, `X-Amz-Invocation-Type`, payload.
type Invoke = (String, Option<String>, Value);

/// A stand-in for the Lambda API: records `Invoke` requests and answers as told.
#[derive(Clone, Default)]
struct FakeLambda {
    invokes: Arc<Mutex<Vec<Invoke>>>,
    missing: Arc<Mutex<bool>>,
}

impl FakeLambda {
    async fn start(&self) -> String {
        let state = self.clone();
        let app = Router::new().route(
            "/2015-03-31/functions/{name}/invocations",
            axum::routing::post(
                |axum::extract::State(fake): axum::extract::State<FakeLambda>,
                 axum::extract::Path(name): axum::extract::Path<String>,
                 headers: http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    let kind = headers
                        .get("x-amz-invocation-type")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let payload = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    fake.invokes
                        .lock()
                        .unwrap()
                        .push((name.clone(), kind, payload));
                    if *fake.missing.lock().unwrap() {
                        (
                            StatusCode::NOT_FOUND,
                            [("x-amzn-errortype", "ResourceNotFoundException")],
                            format!(r#"{{"Type":"User","message":"Function not found: {name}"}}"#),
                        )
                    } else {
                        (
                            StatusCode::ACCEPTED,
                            [("x-amzn-requestid", "req-1")],
                            String::new(),
                        )
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.with_state(state)).await;
        });
        format!("http://127.0.0.1:{port}")
    }
}

fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_lambda::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("ap-northeast-2"))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(endpoint)
        .http_client(shared::platform::aws::http_client())
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

#[tokio::test]
async fn deployed_a_force_run_invokes_the_sync_function_asynchronously() {
    let fake = FakeLambda::default();
    let endpoint = fake.start().await;
    let dispatcher = Dispatcher::lambda(lambda_client(&endpoint), "wadot-dev-slack-sync");
    let app = app_with(None, Some(dispatcher)).await;
    let response = app.force("name=slack-sync", Some(ADMIN)).await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.json());
    let run_id = response.json()["results"][0]["run_id"]
        .as_i64()
        .expect("run_id");
    assert_eq!(
        fake.invokes.lock().unwrap().clone(),
        [(
            "wadot-dev-slack-sync".to_owned(),
            Some("Event".to_owned()),
            json!({"run_id": run_id})
        )]
    );
    let run = app.run(run_id).await;
    assert_eq!(run["status"], "queued", "the sync function starts it");

    // The invoke failing: 503, and the run is recorded as failed, freeing the job.
    app.finish(run_id).await;
    *fake.missing.lock().unwrap() = true;
    let response = app.force("name=slack-sync", Some(ADMIN)).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.header("retry-after"), Some("2"));
    let failed = app.admin_get("/api/v1/batch/runs?limit=1").await.json()["items"][0].clone();
    assert_eq!(failed["status"], "failed");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("could not start: invoking wadot-dev-slack-sync failed"),
        "{error}"
    );
    assert!(
        error.contains("ResourceNotFoundException") || error.contains("Function not found"),
        "{error}"
    );
    assert_eq!(
        response.json()["detail"],
        format!(
            "run {} of slack-sync could not be started; it is recorded as failed",
            failed["id"]
        )
    );
    *fake.missing.lock().unwrap() = false;
    assert_eq!(
        app.force("name=slack-sync", Some(ADMIN)).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn the_lambda_binary_serves_the_schedule_and_hands_force_runs_to_lambda() {
    let fake = FakeLambda::default();
    let endpoint = fake.start().await;
    let app = app().await;
    let (runtime, _process) = LambdaProcess::start(
        env!("CARGO_BIN_EXE_batch"),
        &[
            ("DATABASE_URL", &app.db.url),
            ("SLACK_SYNC_SCHEDULE", "cron(0 12 ? * SAT *)"),
            ("SLACK_SYNC_FUNCTION_NAME", "wadot-dev-slack-sync"),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ],
    )
    .await;
    let (status, _, body) = runtime
        .http("GET", "/api/v1/batch/schedule", None, None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["jobs"][0]["schedule"], "cron(0 12 ? * SAT *)");
    assert_eq!(parse_time(&body["jobs"][0]["next_run"]).hour(), 3);

    let force = "/api/v1/batch/force-run?name=slack-sync";
    let (status, _, body) = runtime.http("POST", force, None, Some(ADMIN)).await;
    assert_eq!(status, 202, "{body}");
    let run_id = body["results"][0]["run_id"].as_i64().expect("run_id");
    assert_eq!(
        fake.invokes.lock().unwrap().clone(),
        [(
            "wadot-dev-slack-sync".to_owned(),
            Some("Event".to_owned()),
            json!({"run_id": run_id})
        )]
    );
    runtime.assert_admin_only("POST", force, None, MEMBER).await;
}

#[tokio::test]
async fn a_schedule_that_cannot_be_computed_fails_the_init() {
    let db = TestDb::new().await;
    for (name, value) in [
        ("SLACK_SYNC_SCHEDULE", "rate(7 days)"),
        ("BATCH_TIMEZONE", "America/New_York"),
    ] {
        let (_runtime, mut process) = LambdaProcess::start(
            env!("CARGO_BIN_EXE_batch"),
            &[("DATABASE_URL", &db.url), (name, value)],
        )
        .await;
        let why = format!("{name}={value} must fail the init");
        process
            .assert_init_fails(&why, &format!("{name} is invalid"))
            .await;
    }
}
