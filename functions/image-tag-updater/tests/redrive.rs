//! `image-tag-updater --redrive <queue-url>` against moto's SQS and the GitHub fake:
//! both shapes a failed event is kept in are processed again, and only what succeeded
//! leaves the queue.

use std::process::Output;

use aws_sdk_sqs::Client;
use serde_json::{Value, json};
use testkit::Moto;
use testkit::github::{FakeGitHub, RateLimit};

mod common;
use common::{BRANCH, HOST, REPOSITORY, push_event};

const TOKEN: &str = "ghp_redrive0123456789";
const EV: &str = "apps/snutt-dev/snutt-ev/deployment.yaml";
const TIMETABLE: &str = "apps/snutt-dev/snutt-timetable/values.yaml";

/// What Lambda's on-failure destination sends once retries are spent:
/// https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
fn failure_record(event: Value) -> Value {
    json!({
        "version": "1.0",
        "timestamp": "2026-12-04T05:01:02.123Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4d2b-9b4a-8f3b0a3e0f51",
            "functionArn": "arn:aws:lambda:ap-northeast-2:123456789012:function:waffledotcom-prod-image-tag-updater:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "GitHubUnreachable", "errorMessage": "GitHub did not answer"}
    })
}

async fn run(moto: &Moto, github: &FakeGitHub, queue_url: &str) -> (Output, Value) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_image-tag-updater"));
    command
        .args(["--redrive", queue_url])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_API_URL", github.url())
        .env("GITHUB_TOKEN", TOKEN);
    for (key, value) in moto.env() {
        command.env(key, value);
    }
    let output = command.output().await.expect("run the redrive");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the report is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, report)
}

async fn queued(sqs: &Client, queue_url: &str) -> i64 {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("queue attributes");
    attributes
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(-1)
}

#[tokio::test]
async fn a_redrive_processes_both_shapes_and_deletes_only_what_succeeded() {
    let moto = Moto::start().await.expect("moto");
    let sqs = Client::new(&moto.sdk_config().await);
    let queue_url = sqs
        .create_queue()
        .queue_name("waffledotcom-dev-image-tag-updater-failures")
        .send()
        .await
        .expect("create the queue")
        .queue_url
        .expect("a queue url");
    let ev = format!("image: {HOST}/snutt-dev/snutt-ev:240\n");
    let timetable = format!("image: {HOST}/snutt-dev/snutt-timetable:88\n");
    let github = FakeGitHub::start(
        REPOSITORY,
        BRANCH,
        TOKEN,
        &[(EV, ev.as_bytes()), (TIMETABLE, timetable.as_bytes())],
    )
    .await;

    let bodies = [
        failure_record(push_event("snutt-dev/snutt-ev", "241")).to_string(),
        // EventBridge's dead-letter message is the event itself.
        push_event("snutt-dev/snutt-timetable", "89").to_string(),
        "not an event".to_owned(),
    ];
    for body in &bodies {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    // GitHub still refuses: nothing succeeds, nothing is deleted, all visible again.
    github.set_rate_limit(Some(RateLimit::TooManyRequests { retry_after: 60 }));
    let head = github.head(BRANCH);
    let (output, report) = run(&moto, &github, &queue_url).await;
    assert!(!output.status.success(), "{report}");
    assert_eq!(report["redriven"], json!([]), "{report}");
    assert_eq!(report["left"].as_array().map(Vec::len), Some(3), "{report}");
    assert_eq!(queued(&sqs, &queue_url).await, 3);
    assert_eq!(github.head(BRANCH), head);

    // GitHub is back: both events commit; only the unreadable message stays.
    github.set_rate_limit(None);
    let (output, report) = run(&moto, &github, &queue_url).await;
    assert!(!output.status.success(), "one message stays: {report}");
    let statuses: Vec<&Value> = report["redriven"]
        .as_array()
        .expect("redriven")
        .iter()
        .map(|r| &r["answer"]["status"])
        .collect();
    assert_eq!(statuses, [&json!("updated"), &json!("updated")], "{report}");
    let left = report["left"].as_array().expect("left");
    assert_eq!(left.len(), 1, "{report}");
    assert!(
        left[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not JSON")
    );
    assert_eq!(queued(&sqs, &queue_url).await, 1);
    let files = github.files(BRANCH);
    assert_eq!(
        files[EV],
        format!("image: {HOST}/snutt-dev/snutt-ev:241\n").into_bytes()
    );
    assert_eq!(
        files[TIMETABLE],
        format!("image: {HOST}/snutt-dev/snutt-timetable:89\n").into_bytes()
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains(TOKEN));
}

/// `--redrive <file>`: the JSON-lines file `local --lambdas` keeps failure records in
/// without an SQS endpoint (gateway::asynchronous) is read like the queue, and keeps
/// only the lines that failed again.
#[tokio::test]
async fn a_redrive_reads_the_local_stand_ins_failure_file() {
    let ev = format!("image: {HOST}/snutt-dev/snutt-ev:240\n");
    let github = FakeGitHub::start(REPOSITORY, BRANCH, TOKEN, &[(EV, ev.as_bytes())]).await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("redrive-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let file = dir.join("waffledotcom-dev-image-tag-updater-failures.jsonl");
    let lines = [
        failure_record(push_event("snutt-dev/snutt-ev", "241")).to_string(),
        "not an event".to_owned(),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").expect("write the records");

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_image-tag-updater"))
        .arg("--redrive")
        .arg(&file)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_API_URL", github.url())
        .env("GITHUB_TOKEN", TOKEN)
        .output()
        .await
        .expect("run the redrive");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(!output.status.success(), "one line stays: {report}");
    assert_eq!(report["redriven"][0]["message_id"], "line 1", "{report}");
    assert_eq!(report["redriven"][0]["answer"]["status"], "updated");
    assert_eq!(report["left"][0]["message_id"], "line 2", "{report}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("the file"),
        "not an event\n"
    );
    assert_eq!(
        github.files(BRANCH)[EV],
        format!("image: {HOST}/snutt-dev/snutt-ev:241\n").into_bytes()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
