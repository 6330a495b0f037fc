//! The `migrate` binary as CloudFormation's `Custom::Migrations` resource, under the
//! Runtime API emulator, with a local HTTP server standing in for the pre-signed S3
//! `ResponseURL` that CloudFormation waits on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use serde_json::{Value, json};
use shared::platform::migrations::{self, Command, Status};
use testkit::{LambdaProcess, Outcome, RuntimeApi, TestDb};

/// One PUT the stand-in for S3 received.
#[derive(Debug, Clone)]
struct Put {
    uri: String,
    headers: HeaderMap,
    body: Value,
}

/// Records every PUT and answers with a fixed status.
struct ResponseUrl {
    base: String,
    puts: Arc<Mutex<Vec<Put>>>,
    server: tokio::task::JoinHandle<()>,
}

impl ResponseUrl {
    async fn start(answer: StatusCode) -> Self {
        let puts = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route(
                "/{*path}",
                put(
                    |State((puts, answer)): State<(Arc<Mutex<Vec<Put>>>, StatusCode)>,
                     OriginalUri(uri): OriginalUri,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        puts.lock().expect("puts").push(Put {
                            uri: uri.to_string(),
                            headers,
                            body,
                        });
                        answer
                    },
                ),
            )
            .with_state((puts.clone(), answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { base, puts, server }
    }

    /// A URL shaped like CloudFormation's: a bucket path and signing parameters.
    fn url(&self, request_id: &str) -> String {
        format!(
            "{}/cloudformation-custom-resource-response-apnortheast2/arn%3Aaws%3Acloudformation/{request_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc123",
            self.base
        )
    }

    fn puts(&self) -> Vec<Put> {
        self.puts.lock().expect("puts").clone()
    }
}

impl Drop for ResponseUrl {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// CloudFormation's `kind` request `request_id`, answered to `url`, with `extra` merged in.
fn request(kind: &str, url: &ResponseUrl, request_id: &str, extra: Value) -> Value {
    let mut event = json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:ap-northeast-2:123456789012:function:waffledotcom-dev-migrate",
        "ResponseURL": url.url(request_id),
        "StackId": "arn:aws:cloudformation:ap-northeast-2:123456789012:stack/waffledotcom-dev/0f0e",
        "RequestId": request_id,
        "LogicalResourceId": "Migrations",
        "ResourceType": "Custom::Migrations",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:ap-northeast-2:123456789012:function:waffledotcom-dev-migrate",
            "ReleaseId": "v1.2.3",
            "DeployedAt": "1780000000"
        }
    });
    if let (Some(event), Some(extra)) = (event.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            event.insert(key.clone(), value.clone());
        }
    }
    event
}

async fn status(db: &TestDb) -> Status {
    let mut conn = db.connect().await;
    migrations::run(&mut conn, &Command::Status)
        .await
        .expect("status")
}

/// The function under the Runtime API emulator with `env`, and the stand-in for S3 it
/// answers to with `answer`.
async fn deployed(
    answer: StatusCode,
    env: &[(&str, &str)],
) -> (ResponseUrl, RuntimeApi, LambdaProcess) {
    let url = ResponseUrl::start(answer).await;
    let (runtime, function) = LambdaProcess::start(env!("CARGO_BIN_EXE_migrate"), env).await;
    (url, runtime, function)
}

/// The one PUT the request got, checked against the request it answers.
fn the_answer(url: &ResponseUrl, request_id: &str, logs: &str) -> Value {
    let puts = url.puts();
    assert_eq!(puts.len(), 1, "exactly one answer: {puts:?}\n{logs}");
    let put = &puts[0];
    assert!(
        put.uri.ends_with(&format!(
            "/{request_id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc123"
        )),
        "the answer goes to the pre-signed URL as given: {}",
        put.uri
    );
    assert!(
        put.headers.get("content-type").is_none(),
        "no Content-Type, which the URL's signature does not cover: {:?}",
        put.headers
    );
    let body = &put.body;
    assert_eq!(body["RequestId"], request_id, "{body}");
    assert_eq!(body["LogicalResourceId"], "Migrations", "{body}");
    assert_eq!(
        body["StackId"],
        "arn:aws:cloudformation:ap-northeast-2:123456789012:stack/waffledotcom-dev/0f0e"
    );
    assert_eq!(body["NoEcho"], false);
    body.clone()
}

/// Sends CloudFormation's `kind` request `request_id` (with no extra fields), which the
/// function answers without failing the invocation, and returns that one answer.
async fn answered(
    runtime: &RuntimeApi,
    url: &ResponseUrl,
    function: &LambdaProcess,
    kind: &str,
    request_id: &str,
) -> Value {
    runtime
        .invoke(request(kind, url, request_id, json!({})))
        .await
        .response();
    the_answer(url, request_id, &function.logs())
}

#[tokio::test]
async fn create_and_update_run_upgrade_head_and_answer_success() {
    let db = TestDb::new().await;
    let (url, runtime, function) = deployed(StatusCode::OK, &[("DATABASE_URL", &db.url)]).await;
    let head = migrations::head().to_string();

    let answer = runtime
        .invoke(request("Create", &url, "create-1", json!({})))
        .await;
    let sent = the_answer(&url, "create-1", &function.logs());
    assert_eq!(
        answer,
        Outcome::Response(sent.clone()),
        "{}",
        function.logs()
    );
    assert_eq!(sent["Status"], "SUCCESS", "{sent}");
    assert_eq!(sent["PhysicalResourceId"], "Migrations-schema");
    assert_eq!(sent["Data"], json!({ "Revision": head }));
    let reason = sent["Reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&head) && reason.contains("v1.2.3"),
        "{reason}"
    );
    assert_eq!(status(&db).await.pending, Vec::<i64>::new());

    // The next deploy: an Update with the resource's id, which stays the same.
    let update = request(
        "Update",
        &url,
        "update-1",
        json!({
            "PhysicalResourceId": "Migrations-schema",
            "OldResourceProperties": {"ReleaseId": "v1.2.2", "DeployedAt": "1770000000"}
        }),
    );
    runtime.invoke(update).await.response();
    let sent = url.puts().pop().expect("an answer").body;
    assert_eq!(sent["Status"], "SUCCESS", "{sent}");
    assert_eq!(sent["PhysicalResourceId"], "Migrations-schema");
    assert_eq!(sent["RequestId"], "update-1");
}

#[tokio::test]
async fn a_failing_migration_answers_failed_and_a_rollback_or_delete_answers_success() {
    let db = TestDb::migrated().await;
    // The newest revision failed halfway in an earlier run: every upgrade refuses.
    db.sql(&format!(
        "UPDATE schema_migrations SET success = 0 WHERE version = {}",
        migrations::head()
    ))
    .await;
    let before = status(&db).await;
    assert_eq!(before.dirty, Some(migrations::head()));

    let (url, runtime, mut function) = deployed(
        StatusCode::OK,
        &[
            ("DATABASE_URL", &db.url),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/29/[$LATEST]abc"),
        ],
    )
    .await;
    let old = json!({"ReleaseId": "v1.2.2", "DeployedAt": "1770000000"});

    let answer = runtime
        .invoke(request(
            "Update",
            &url,
            "update-dirty",
            json!({"PhysicalResourceId": "Migrations-schema", "OldResourceProperties": old}),
        ))
        .await;
    let sent = the_answer(&url, "update-dirty", &function.logs());
    assert_eq!(
        answer,
        Outcome::Response(sent.clone()),
        "answered, so the invocation is not retried"
    );
    assert_eq!(sent["Status"], "FAILED", "{sent}");
    assert_eq!(sent["PhysicalResourceId"], "Migrations-schema");
    let reason = sent["Reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("failed halfway") && reason.contains("log stream 2026/11/29/[$LATEST]abc"),
        "{reason}"
    );
    assert_eq!(status(&db).await, before, "nothing was changed");
    assert!(function.is_running());

    // CloudFormation rolls back: an Update back to the previous properties, whose deploy
    // time is older. Running the failed upgrade again would leave the stack stuck.
    let rollback = request(
        "Update",
        &url,
        "rollback",
        json!({
            "PhysicalResourceId": "Migrations-schema",
            "ResourceProperties": old,
            "OldResourceProperties": {"ReleaseId": "v1.2.3", "DeployedAt": "1780000000"}
        }),
    );
    runtime.invoke(rollback).await.response();
    let sent = url.puts().pop().expect("an answer").body;
    assert_eq!(sent["RequestId"], "rollback");
    assert_eq!(sent["Status"], "SUCCESS", "{sent}");

    runtime
        .invoke(request(
            "Delete",
            &url,
            "delete",
            json!({"PhysicalResourceId": "Migrations-schema"}),
        ))
        .await
        .response();
    let sent = url.puts().pop().expect("an answer").body;
    assert_eq!(sent["RequestId"], "delete");
    assert_eq!(sent["Status"], "SUCCESS", "{sent}");
    assert_eq!(status(&db).await, before, "delete never downgrades");
}

#[tokio::test]
async fn an_older_release_on_a_newer_schema_answers_success() {
    let db = TestDb::migrated().await;
    // A revision that only newer code knows: this is a redeploy of an older tag.
    db.sql(
        "INSERT INTO schema_migrations (version, description, checksum, success, source) \
         VALUES (9999, 'from the future', x'00', 1, 'migrate')",
    )
    .await;
    let (url, runtime, function) = deployed(StatusCode::OK, &[("DATABASE_URL", &db.url)]).await;

    let sent = answered(&runtime, &url, &function, "Update", "old-tag").await;
    assert_eq!(sent["Status"], "SUCCESS", "{sent}");
    assert_eq!(sent["Data"], json!({"Revision": "9999"}));
}

#[tokio::test]
async fn an_unreachable_database_or_missing_configuration_answers_failed() {
    // Nothing listens on this port: the pool gives up after its acquire timeout.
    let closed = format!("mysql://root@127.0.0.1:{}/nowhere", testkit::free_port());
    let (url, runtime, function) = deployed(StatusCode::OK, &[("DATABASE_URL", &closed)]).await;
    let answer = runtime
        .invoke_within(
            request("Create", &url, "no-db", json!({})),
            Duration::from_secs(60),
        )
        .await;
    let sent = the_answer(&url, "no-db", &function.logs());
    assert_eq!(answer, Outcome::Response(sent.clone()));
    assert_eq!(sent["Status"], "FAILED", "{sent}");
    assert_eq!(sent["PhysicalResourceId"], "Migrations-schema");
    drop(function);
    drop(runtime);

    // No DATABASE_URL and no APP_ENV: the configuration fails, the function still answers.
    let (url, runtime, mut function) = deployed(StatusCode::OK, &[("DATABASE_URL", "")]).await;
    let sent = answered(&runtime, &url, &function, "Create", "no-config").await;
    assert_eq!(sent["Status"], "FAILED", "{sent}");
    let reason = sent["Reason"].as_str().unwrap_or_default();
    assert!(reason.contains("DATABASE_URL"), "{reason}");
    assert!(runtime.init_error().is_none(), "no init error: it serves");
    assert!(function.is_running());

    // A command event names the configuration error too.
    match runtime.invoke(json!({"command": "status"})).await {
        Outcome::Error(error) => assert_eq!(error["errorType"], "ConfigurationError", "{error}"),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_answer_that_cannot_be_delivered_fails_the_invocation() {
    let db = TestDb::new().await;
    let (url, runtime, function) =
        deployed(StatusCode::FORBIDDEN, &[("DATABASE_URL", &db.url)]).await;

    let answer = runtime
        .invoke_within(
            request("Create", &url, "lost", json!({})),
            Duration::from_secs(30),
        )
        .await;
    match answer {
        Outcome::Error(error) => {
            assert_eq!(
                error["errorType"], "CustomResourceResponseFailed",
                "{error}"
            );
            let message = error["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("403"), "{message}");
        }
        other => panic!(
            "expected an error, so Lambda retries: {other:?}\n{}",
            function.logs()
        ),
    }
    assert_eq!(url.puts().len(), 3, "three attempts");
}
