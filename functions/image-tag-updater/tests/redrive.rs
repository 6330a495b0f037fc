//! `image-tag-updater --redrive <queue-url> [--dry-run]` against moto's SQS and ECR and
//! the GitHub fake: both shapes a failed event is kept in are processed again, only what
//! succeeded leaves the queue, and an old or forged event commits nothing.

use std::process::Output;

use aws_sdk_sqs::Client;
use serde_json::{Value, json};
use testkit::github::{FakeGitHub, RateLimit};

mod common;
use common::{BRANCH, HOST, REPOSITORY, Registry};

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

/// The GitOps repository with the two manifests the redrives move (ev at 240, timetable
/// at 88).
async fn gitops() -> FakeGitHub {
    let ev = format!("image: {HOST}/snutt-dev/snutt-ev:240\n");
    let timetable = format!("image: {HOST}/snutt-dev/snutt-timetable:88\n");
    FakeGitHub::start(
        REPOSITORY,
        BRANCH,
        TOKEN,
        &[(EV, ev.as_bytes()), (TIMETABLE, timetable.as_bytes())],
    )
    .await
}

async fn run(ecr: &Registry, github: &FakeGitHub, args: &[&str]) -> (Output, Value) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_image-tag-updater"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_API_URL", github.url())
        .env("GITHUB_TOKEN", TOKEN)
        .env("ECR_HOST", HOST);
    for (key, value) in ecr.moto.env() {
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
    let ecr = Registry::start().await;
    let sqs = Client::new(&ecr.sdk);
    let queue_url = sqs
        .create_queue()
        .queue_name("waffledotcom-dev-image-tag-updater-failures")
        .send()
        .await
        .expect("create the queue")
        .queue_url
        .expect("a queue url");
    let github = gitops().await;

    let bodies = [
        failure_record(ecr.push("snutt-dev/snutt-ev", "241").await).to_string(),
        // EventBridge's dead-letter message is the event itself.
        ecr.push("snutt-dev/snutt-timetable", "89")
            .await
            .to_string(),
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
    let (output, report) = run(&ecr, &github, &["--redrive", &queue_url]).await;
    assert!(!output.status.success(), "{report}");
    assert_eq!(report["redriven"], json!([]), "{report}");
    assert_eq!(report["left"].as_array().map(Vec::len), Some(3), "{report}");
    assert_eq!(queued(&sqs, &queue_url).await, 3);
    assert_eq!(github.head(BRANCH), head);

    // GitHub is back: both events commit; only the unreadable message stays.
    github.set_rate_limit(None);
    let (output, report) = run(&ecr, &github, &["--redrive", &queue_url]).await;
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

async fn queue(sqs: &Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create the queue")
        .queue_url
        .expect("a queue url")
}

/// Days later, the queue holds a failed `v1` (v2 was committed since), a message someone
/// wrote by hand with a tag ECR never held, and a failed `v3`. A dry run lists what each
/// would do and changes nothing; the redrive then commits `v3` only, and empties the
/// queue: the stale and the forged event are answered, not kept.
#[tokio::test]
async fn a_redrive_never_rolls_back_nor_commits_a_forged_event() {
    let ecr = Registry::start().await;
    let sqs = Client::new(&ecr.sdk);
    let queue_url = queue(&sqs, "waffledotcom-prod-image-tag-updater-failures").await;
    let github = gitops().await;
    let (v1, v2) = ecr.push_two("snutt-dev/snutt-ev", "v1", "v2").await;
    let v3 = ecr.push("snutt-dev/snutt-timetable", "v3").await;
    // v2 went through when it was pushed.
    let (output, report) = {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(v2.to_string())
            .send()
            .await
            .expect("send");
        run(&ecr, &github, &["--redrive", &queue_url]).await
    };
    assert!(output.status.success(), "{report}");
    let committed = github.head(BRANCH);
    let mut forged = v3.clone();
    forged["detail"]["repository-name"] = json!("snutt-dev/snutt-ev");
    forged["detail"]["image-tag"] = json!("backdoor");
    for body in [
        failure_record(v1.clone()).to_string(),
        forged.to_string(),
        v3.to_string(),
    ] {
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }

    let posts = github.requests_of(http::Method::POST).len();
    let (output, report) = run(&ecr, &github, &["--redrive", &queue_url, "--dry-run"]).await;
    assert!(output.status.success(), "{report}");
    let would = report["would"]
        .as_array()
        .expect("a dry run lists each message");
    let by_tag = |tag: &str| {
        would
            .iter()
            .find(|w| w["event"]["tag"] == tag)
            .unwrap_or_else(|| panic!("{tag} is listed: {report}"))
            .clone()
    };
    let listed = by_tag("v1");
    assert_eq!(listed["answer"]["status"], "stale", "{listed}");
    assert_eq!(listed["event"]["repository"], "snutt-dev/snutt-ev");
    assert_eq!(listed["event"]["digest"], v1["detail"]["image-digest"]);
    assert_eq!(listed["event"]["account"], common::ACCOUNT);
    let listed = by_tag("backdoor");
    assert_eq!(listed["answer"]["status"], "ignored", "{listed}");
    assert!(
        listed["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("refused: "),
        "{listed}"
    );
    let listed = by_tag("v3");
    assert_eq!(
        listed["answer"],
        json!({"status": "updated", "files": [TIMETABLE], "commit": null}),
        "{listed}"
    );
    assert_eq!(report["redriven"], json!([]), "{report}");
    assert_eq!(github.head(BRANCH), committed, "a dry run commits nothing");
    assert_eq!(
        github.requests_of(http::Method::POST).len(),
        posts,
        "nor writes a blob"
    );
    assert_eq!(queued(&sqs, &queue_url).await, 3, "nor deletes a message");

    let (output, report) = run(&ecr, &github, &["--redrive", &queue_url]).await;
    assert!(output.status.success(), "{report}");
    let mut statuses: Vec<String> = report["redriven"]
        .as_array()
        .expect("redriven")
        .iter()
        .map(|r| {
            r["answer"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["ignored", "stale", "updated"], "{report}");
    assert_eq!(queued(&sqs, &queue_url).await, 0);
    let files = github.files(BRANCH);
    assert_eq!(
        files[EV],
        format!("image: {HOST}/snutt-dev/snutt-ev:v2\n").into_bytes()
    );
    assert_eq!(
        files[TIMETABLE],
        format!("image: {HOST}/snutt-dev/snutt-timetable:v3\n").into_bytes()
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(image_tag_updater::STALE), "{stderr}");
    assert!(stderr.contains(image_tag_updater::REFUSED), "{stderr}");
}

/// `--redrive <file>`: the JSON-lines file `local --lambdas` keeps failure records in
/// without an SQS endpoint (gateway::asynchronous) is read like the queue (a dry run
/// leaves it as it is), and keeps only the lines that failed again.
#[tokio::test]
async fn a_redrive_reads_the_local_stand_ins_failure_file() {
    let ecr = Registry::start().await;
    let ev = format!("image: {HOST}/snutt-dev/snutt-ev:240\n");
    let github = FakeGitHub::start(REPOSITORY, BRANCH, TOKEN, &[(EV, ev.as_bytes())]).await;
    let pushed = ecr.push("snutt-dev/snutt-ev", "241").await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("redrive-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let file = dir.join("waffledotcom-dev-image-tag-updater-failures.jsonl");
    let lines = [
        failure_record(pushed).to_string(),
        "not an event".to_owned(),
    ];
    let written = lines.join("\n") + "\n";
    std::fs::write(&file, &written).expect("write the records");
    let path = file.to_str().expect("a UTF-8 path");

    let (output, report) = run(&ecr, &github, &["--redrive", path, "--dry-run"]).await;
    assert!(output.status.success(), "{report}");
    assert_eq!(
        report["would"][0]["answer"]["status"], "updated",
        "{report}"
    );
    assert!(report["would"][1]["error"].is_string(), "{report}");
    assert_eq!(std::fs::read_to_string(&file).expect("the file"), written);
    assert_eq!(
        github.files(BRANCH)[EV],
        ev.clone().into_bytes(),
        "a dry run commits nothing"
    );

    let (output, report) = run(&ecr, &github, &["--redrive", path]).await;
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
