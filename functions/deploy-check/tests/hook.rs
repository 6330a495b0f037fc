//! The pre-traffic hook through the Lambda Runtime API, against the real function
//! binaries on a migrated database. A local stand-in for AWS serves the two APIs the hook
//! calls, as their references describe them:
//! - Lambda `Invoke` (`POST /2015-03-31/functions/{FunctionName}/invocations`, the
//!   function's answer as the body, `X-Amz-Function-Error` when it failed):
//!   <https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html>. Each version ARN is
//!   mapped to a function binary running under testkit's Runtime API emulator.
//! - CodeDeploy `PutLifecycleEventHookExecutionStatus` (JSON 1.1: `POST /` with
//!   `X-Amz-Target: CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus`, answering
//!   `{"lifecycleEventHookExecutionId": ...}`):
//!   <https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_PutLifecycleEventHookExecutionStatus.html>.
//!   Moto does not implement CodeDeploy's lifecycle hooks, hence this stand-in.
//!
//! The function binaries must be built beside this test (`cargo build --workspace --bins`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use testkit::{LambdaProcess, Outcome, RuntimeApi, TestDb};

const FUNCTIONS: [(&str, &str); 7] = [
    ("CHECK_HEALTH", "health"),
    ("CHECK_USERS", "users"),
    ("CHECK_POSITIONS", "positions"),
    ("CHECK_TEAMS", "teams"),
    ("CHECK_AUDIT", "audit"),
    ("CHECK_BATCH", "batch"),
    ("CHECK_DOCS", "docs"),
];

#[derive(Clone, Default)]
struct FakeAws {
    versions: Arc<HashMap<String, Arc<RuntimeApi>>>,
    hook_answers: Arc<Mutex<Vec<Value>>>,
}

async fn invoke(State(aws): State<FakeAws>, Path(name): Path<String>, body: Bytes) -> Response {
    let Some(runtime) = aws.versions.get(&name) else {
        let error = json!({"Type": "User", "message": format!("Function not found: {name}")});
        return (
            StatusCode::NOT_FOUND,
            [("x-amzn-errortype", "ResourceNotFoundException")],
            axum::Json(error),
        )
            .into_response();
    };
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match runtime.invoke(event).await {
        Outcome::Response(answer) => axum::Json(answer).into_response(),
        // The Invoke API hands back a payload that is not JSON as it was posted.
        Outcome::NotJson(payload) => payload.into_response(),
        Outcome::Error(error) | Outcome::InitError(error) => {
            ([("x-amz-function-error", "Unhandled")], axum::Json(error)).into_response()
        }
    }
}

async fn codedeploy(State(aws): State<FakeAws>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target != "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus" {
        return (StatusCode::BAD_REQUEST, format!("unknown target {target}")).into_response();
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = request["lifecycleEventHookExecutionId"].clone();
    aws.hook_answers.lock().unwrap().push(request);
    (
        [("content-type", "application/x-amz-json-1.1")],
        axum::Json(json!({"lifecycleEventHookExecutionId": id})),
    )
        .into_response()
}

/// The folder holding the workspace's binaries (this test's is in `deps/` below it).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug")
        .to_path_buf()
}

struct Setup {
    _db: TestDb,
    processes: Vec<LambdaProcess>,
    aws: FakeAws,
    hook: RuntimeApi,
    hook_process: LambdaProcess,
}

/// Every API function on one migrated database with a member, behind the AWS stand-in;
/// `replace` maps a check to another binary (a new version that does not do its job).
async fn setup(replace: Option<(&str, &str)>) -> Setup {
    let db = TestDb::migrated().await;
    db.insert_admin_and_member().await;
    let mut versions = HashMap::new();
    let mut processes = Vec::new();
    let mut env = Vec::new();
    for (variable, function) in FUNCTIONS {
        let binary = match replace {
            Some((v, other)) if v == variable => other,
            _ => function,
        };
        let path = bin_dir().join(binary);
        assert!(
            path.is_file(),
            "{} is not built: cargo build --workspace --bins",
            path.display()
        );
        let (runtime, process) = db.start_lambda(path.to_str().unwrap()).await;
        let arn = format!(
            "arn:aws:lambda:ap-northeast-2:000000000000:function:waffledotcom-test-{function}:7"
        );
        versions.insert(arn.clone(), Arc::new(runtime));
        processes.push(process);
        env.push((variable.to_owned(), arn));
    }
    let aws = FakeAws {
        versions: Arc::new(versions),
        ..Default::default()
    };
    let app = Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route("/", post(codedeploy))
        .with_state(aws.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    env.extend([
        ("AWS_ENDPOINT_URL".to_owned(), endpoint),
        ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (hook, hook_process) = LambdaProcess::start(env!("CARGO_BIN_EXE_deploy-check"), &env).await;
    Setup {
        _db: db,
        processes,
        aws,
        hook,
        hook_process,
    }
}

fn lifecycle_event() -> Value {
    json!({"DeploymentId": "d-TESTDEPLOY", "LifecycleEventHookExecutionId": "exec-0001"})
}

#[tokio::test]
async fn new_versions_that_answer_let_the_traffic_shift_start() {
    let setup = setup(None).await;
    let outcome = setup.hook.invoke(lifecycle_event()).await;
    let answer = outcome.response();
    let logs: Vec<String> = setup.processes.iter().map(LambdaProcess::logs).collect();
    assert_eq!(
        answer["status"],
        "Succeeded",
        "{answer}\n{}\n{logs:#?}",
        setup.hook_process.logs()
    );
    assert_eq!(answer["failures"], json!([]));
    let told = setup.aws.hook_answers.lock().unwrap().clone();
    assert_eq!(
        told,
        [
            json!({"deploymentId": "d-TESTDEPLOY", "lifecycleEventHookExecutionId": "exec-0001", "status": "Succeeded"})
        ]
    );
}

#[tokio::test]
async fn a_new_version_that_does_not_serve_its_route_fails_the_deployment() {
    // The "teams" version is a build that serves health's routes only: 404 on /teams.
    let setup = setup(Some(("CHECK_TEAMS", "health"))).await;
    let answer = setup.hook.invoke(lifecycle_event()).await.response();
    assert_eq!(answer["status"], "Failed", "{answer}");
    let failures = answer["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0]
            .as_str()
            .unwrap()
            .contains("waffledotcom-test-teams:7: GET /api/v1/teams? answered 404, not 200"),
        "{failures:?}"
    );
    let told = setup.aws.hook_answers.lock().unwrap().clone();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["status"], "Failed");
}
