//! The image tag updater against a fake of GitHub's Git Data API holding a small
//! waffle-world, in-process for behaviour and through the real binary for the Lambda
//! protocol and the deployed token.

use std::collections::BTreeMap;

use image_tag_updater::{Answer, Config, Failure, Status, Updater};
use lambda_runtime::Diagnostic;
use secrecy::SecretString;
use serde_json::{Value, json};
use testkit::github::{FakeGitHub, RateLimit};
use testkit::{LambdaProcess, Moto, Outcome, RuntimeApi};

mod common;
use common::{BRANCH, HOST, REPOSITORY, push_event};

const TOKEN: &str = "ghp_test9f8e7d6c5b4a39281706never-log-me";

// ---------------------------------------------------------------------------------------
// The waffle-world the fake holds

const DEPLOYMENT: &str = "apps/snutt-dev/snutt-ev/deploy/deployment.yaml";
const CRONJOB: &str = "apps/snutt-dev/snutt-ev/deploy/cronjob.yaml";
const WORKER: &str = "apps/snutt-dev/snutt-ev/batch/worker.yaml";

/// Indented, commented, with a sidecar of another registry.
fn deployment(tag: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: snutt-ev
spec:
  replicas: {replicas}
  template:
    spec:
      containers:
        # The API server; a push to ECR bumps the tag below.
        - name: snutt-ev
          image: {HOST}/snutt-dev/snutt-ev:{tag}
          ports:
            - containerPort: 8080
        - name: log-shipper
          image: public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0
"
    )
}

/// CRLF line endings, a quoted image and a comment after it.
fn cronjob(tag: &str) -> String {
    [
        "apiVersion: batch/v1",
        "kind: CronJob",
        "metadata:",
        "  name: snutt-ev-vacancy",
        "spec:",
        "  schedule: \"*/5 * * * *\"",
        "  jobTemplate:",
        "    spec:",
        "      template:",
        "        spec:",
        "          containers:",
        &format!(
            "            - image: \"{HOST}/snutt-dev/snutt-ev:{tag}\" # same image as the API"
        ),
        "              args: [\"vacancy\"]",
        "",
    ]
    .join("\r\n")
}

/// Two matching lines (one single-quoted, one with trailing spaces and a comment) and no
/// final newline.
fn worker(init_tag: &str, tag: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: snutt-ev-worker
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: '{HOST}/snutt-dev/snutt-ev:{init_tag}'
      containers:
        - name: worker
          image: {HOST}/snutt-dev/snutt-ev:{tag}   # keep in step with the API
          args: [\"worker\"]"
    )
}

/// The branch's files before any push.
fn waffle_world() -> Vec<(String, Vec<u8>)> {
    let files: Vec<(&str, String)> = vec![
        ("README.md", "# waffle-world\n\nGitOps manifests of Waffle Studio.\n".into()),
        (
            "apps/snutt-dev/snutt-ev/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: snutt-dev\n\
             resources:\n  - deploy/deployment.yaml\n  - deploy/cronjob.yaml\n  - batch/worker.yaml\n"
                .into(),
        ),
        (DEPLOYMENT, deployment("240", 1)),
        (CRONJOB, cronjob("240")),
        (WORKER, worker("239", "240")),
        (
            "apps/snutt-dev/snutt-ev/deploy/NOTES.md",
            "Pull by hand with `image: registry.example.com/snutt-dev/snutt-ev:240`.\n".into(),
        ),
        // The look-alike: the same prefix, another repository.
        (
            "apps/snutt-dev/snutt-ev-web/deployment.yaml",
            format!(
                "spec:\n  containers:\n    - image: {HOST}/snutt-dev/snutt-ev-web:240\n    - image: {HOST}/snutt-dev/snutt-ev-web:240-hotfix\n"
            ),
        ),
        (
            "apps/snutt-dev/snutt-timetable/values.yaml",
            format!("image: {HOST}/snutt-dev/snutt-timetable:88\n"),
        ),
        // Other namespaces naming the same image stay as they are.
        (
            "apps/snutt-prod/snutt-ev/deployment.yaml",
            format!("spec:\n  containers:\n    - image: {HOST}/snutt-dev/snutt-ev:240\n"),
        ),
        (
            "apps/snutt-dev-staging/deployment.yaml",
            format!("image: {HOST}/snutt-dev/snutt-ev:240\n"),
        ),
    ];
    files
        .into_iter()
        .map(|(path, content)| (path.to_owned(), content.into_bytes()))
        .collect()
}

async fn fake_github() -> FakeGitHub {
    let world = waffle_world();
    let files: Vec<(&str, &[u8])> = world
        .iter()
        .map(|(path, content)| (path.as_str(), content.as_slice()))
        .collect();
    FakeGitHub::start(REPOSITORY, BRANCH, TOKEN, &files).await
}

fn updater(github: &FakeGitHub, token: &str) -> Updater {
    Updater::new(&Config {
        ecr_host: HOST.into(),
        api_url: github.url().into(),
        repository: REPOSITORY.into(),
        branch: BRANCH.into(),
        token: SecretString::from(token),
    })
    .expect("the updater")
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn diagnostic(failure: Failure) -> Diagnostic {
    failure.into()
}

/// The answer of `updater` to the push of `snutt-dev/snutt-ev:241` (the namespace
/// waffle-world has manifests for).
async fn push_241(updater: &Updater) -> Result<Answer, Failure> {
    updater
        .process(&push_event("snutt-dev/snutt-ev", "241"))
        .await
}

/// How `updater` fails the push of [`push_241`] (`why` it must), as Lambda reports it:
/// asserts the error type, and that the message says each of `says`.
async fn assert_push_fails(updater: &Updater, why: &str, error_type: &str, says: &[&str]) {
    let diagnostic = diagnostic(push_241(updater).await.expect_err(why));
    assert_eq!(diagnostic.error_type, error_type, "{why}");
    for part in says {
        assert!(
            diagnostic.error_message.contains(part),
            "{why}: {part} in {}",
            diagnostic.error_message
        );
    }
}

// ---------------------------------------------------------------------------------------
// Pushes

#[tokio::test]
async fn a_push_commits_the_new_tag_to_every_manifest_of_its_namespace_at_once() {
    let github = fake_github().await;
    let before = github.files(BRANCH);
    let old_head = github.head(BRANCH);

    let answer = push_241(&updater(&github, TOKEN)).await.expect("updated");

    let head = github.head(BRANCH);
    assert_eq!(
        answer,
        Answer {
            status: Status::Updated,
            files: vec![WORKER.into(), CRONJOB.into(), DEPLOYMENT.into()],
            commit: Some(head.clone()),
        }
    );
    let commit = github.commit(&head);
    assert_eq!(
        commit.message,
        "Automated commit by ECR push (snutt-dev/snutt-ev:241)"
    );
    assert_eq!(commit.parents, vec![old_head], "one commit on the old head");
    assert_eq!(github.changed_paths(&head), answer.files);

    // Only the tags changed: every other byte (comments, indentation, CRLF, the missing
    // final newline, what follows the tag) is as it was.
    let after = github.files(BRANCH);
    assert_eq!(after[DEPLOYMENT], bytes(&deployment("241", 1)));
    assert_eq!(after[CRONJOB], bytes(&cronjob("241")));
    assert_eq!(after[WORKER], bytes(&worker("241", "241")));
    let untouched = |files: &BTreeMap<String, Vec<u8>>| {
        files
            .iter()
            .filter(|(path, _)| ![DEPLOYMENT, CRONJOB, WORKER].contains(&path.as_str()))
            .map(|(p, c)| (p.clone(), c.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(untouched(&after), untouched(&before));
    assert_eq!(after.len(), before.len());
}

#[tokio::test]
async fn the_tree_is_read_once_and_every_call_carries_githubs_headers() {
    let github = fake_github().await;
    push_241(&updater(&github, TOKEN)).await.expect("updated");

    let gets = github.requests_of(http::Method::GET);
    let trees: Vec<&String> = gets.iter().filter(|u| u.contains("/git/trees/")).collect();
    assert_eq!(trees.len(), 1, "{gets:#?}");
    assert!(trees[0].ends_with("?recursive=1"), "{}", trees[0]);
    // One blob read per file of the namespace, none elsewhere.
    let namespace_files = waffle_world()
        .iter()
        .filter(|(p, _)| p.starts_with("apps/snutt-dev/"))
        .count();
    let blobs = gets.iter().filter(|u| u.contains("/git/blobs/")).count();
    assert_eq!(blobs, namespace_files);
    let posts = github.requests_of(http::Method::POST);
    let kinds: Vec<&str> = posts
        .iter()
        .map(|u| u.rsplit('/').next().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["blobs", "blobs", "blobs", "trees", "commits"]);
    assert_eq!(
        github.requests_of(http::Method::PATCH),
        [format!("/repos/{REPOSITORY}/git/refs/heads/main")]
    );

    for request in github.requests() {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header("accept"), "application/vnd.github+json");
        assert_eq!(header("x-github-api-version"), "2022-11-28");
        assert_eq!(header("authorization"), format!("Bearer {TOKEN}"));
        assert!(
            header("user-agent").starts_with("waffledotcom-image-tag-updater/"),
            "{}",
            header("user-agent")
        );
    }
}

#[tokio::test]
async fn pushing_the_same_tag_again_changes_nothing() {
    let github = fake_github().await;
    let updater = updater(&github, TOKEN);
    let event = push_event("snutt-dev/snutt-ev", "241");
    updater.process(&event).await.expect("updated");
    let head = github.head(BRANCH);
    let writes = github.requests_of(http::Method::POST).len();

    let answer = updater.process(&event).await.expect("unchanged");

    assert_eq!(
        answer,
        Answer {
            status: Status::Unchanged,
            files: vec![],
            commit: None
        }
    );
    assert_eq!(github.head(BRANCH), head, "the branch did not move");
    assert_eq!(github.requests_of(http::Method::POST).len(), writes);
    assert_eq!(github.requests_of(http::Method::PATCH).len(), 1);
    assert_eq!(
        serde_json::to_value(&answer).unwrap(),
        json!({"status": "unchanged", "files": [], "commit": null})
    );
}

#[tokio::test]
async fn a_push_of_another_app_leaves_the_look_alike_alone() {
    let github = fake_github().await;
    let answer = updater(&github, TOKEN)
        .process(&push_event("snutt-dev/snutt-ev-web", "300"))
        .await
        .expect("updated");
    let path = "apps/snutt-dev/snutt-ev-web/deployment.yaml";
    assert_eq!(answer.files, [path]);
    let after = github.files(BRANCH);
    assert_eq!(
        after[path],
        bytes(&format!(
            "spec:\n  containers:\n    - image: {HOST}/snutt-dev/snutt-ev-web:300\n    - image: {HOST}/snutt-dev/snutt-ev-web:300\n"
        ))
    );
    assert_eq!(after[DEPLOYMENT], bytes(&deployment("240", 1)));
}

#[tokio::test]
async fn events_other_than_a_successful_tagged_push_are_ignored() {
    let github = fake_github().await;
    let updater = updater(&github, TOKEN);
    let sample = push_event("snutt-dev/snutt-ev", "241");
    let with = |pointer: &str, value: Value| {
        let mut event = sample.clone();
        if let Some(slot) = event.pointer_mut(pointer) {
            *slot = value;
        }
        event
    };
    let without_tag = {
        let mut event = sample.clone();
        event["detail"]
            .as_object_mut()
            .expect("detail")
            .remove("image-tag");
        event
    };
    let cases = [
        ("another source", with("/source", json!("aws.s3"))),
        (
            "another detail-type",
            with("/detail-type", json!("ECR Image Scan")),
        ),
        ("a deletion", with("/detail/action-type", json!("DELETE"))),
        ("a failed push", with("/detail/result", json!("FAILURE"))),
        ("no tag", without_tag),
        ("an empty tag", with("/detail/image-tag", json!(""))),
        (
            "a tag that is no tag",
            with("/detail/image-tag", json!("a b")),
        ),
        (
            "a repository without a namespace",
            with("/detail/repository-name", json!("snutt-ev")),
        ),
        (
            "a repository of three parts",
            with("/detail/repository-name", json!("snutt-dev/snutt-ev/web")),
        ),
        (
            "a repository that climbs out of apps/",
            with("/detail/repository-name", json!("../snutt-ev")),
        ),
        (
            "no detail",
            json!({"source": "aws.ecr", "detail-type": "ECR Image Action"}),
        ),
        ("an empty event", json!({})),
        ("not an object", json!("hello")),
    ];
    for (what, event) in cases {
        let answer = updater.process(&event).await.expect(what);
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            json!({"status": "ignored", "files": [], "commit": null}),
            "{what}"
        );
    }
    assert!(
        github.requests().is_empty(),
        "an ignored event calls nobody"
    );
}

// ---------------------------------------------------------------------------------------
// A moving branch

#[tokio::test]
async fn a_branch_that_moved_before_the_update_is_rebuilt_on_its_new_head() {
    let github = fake_github().await;
    let old_head = github.head(BRANCH);
    // Someone scales the deployment between our read and our ref update.
    github.move_branch_before_next_update(DEPLOYMENT, deployment("240", 3).as_bytes());

    let answer = push_241(&updater(&github, TOKEN))
        .await
        .expect("updated after a retry");

    let head = github.head(BRANCH);
    assert_eq!(answer.status, Status::Updated);
    assert_eq!(answer.commit.as_deref(), Some(head.as_str()));
    let commit = github.commit(&head);
    let theirs = commit.parents[0].clone();
    assert_ne!(theirs, old_head);
    assert_eq!(github.commit(&theirs).parents, vec![old_head]);
    assert_eq!(commit.parents, vec![theirs], "our commit sits on theirs");
    // Both changes are on the branch.
    let after = github.files(BRANCH);
    assert_eq!(after[DEPLOYMENT], bytes(&deployment("241", 3)));
    assert_eq!(after[WORKER], bytes(&worker("241", "241")));
    assert_eq!(github.requests_of(http::Method::PATCH).len(), 2);
    assert_eq!(
        github
            .requests_of(http::Method::GET)
            .iter()
            .filter(|u| u.contains("/git/trees/"))
            .count(),
        2,
        "the new head's tree was read again"
    );
}

#[tokio::test]
async fn a_branch_that_keeps_moving_fails_after_a_bounded_number_of_attempts() {
    let github = fake_github().await;
    for n in 0..10 {
        github.move_branch_before_next_update("README.md", format!("busy {n}\n").as_bytes());
    }
    let updater = updater(&github, TOKEN);
    assert_push_fails(&updater, "gives up", "BranchKeepsMoving", &["5 attempts"]).await;
    assert_eq!(
        github.requests_of(http::Method::PATCH).len(),
        image_tag_updater::MAX_ATTEMPTS as usize
    );
    assert_eq!(
        github.files(BRANCH)[DEPLOYMENT],
        bytes(&deployment("240", 1))
    );
}

// ---------------------------------------------------------------------------------------
// Failures: each fails the invocation, so that EventBridge retries

/// docs/api.md: a namespace with no files under `apps/<namespace>/` is `unchanged`, nothing
/// committed, and a retry could not help, so the invocation succeeds.
#[tokio::test]
async fn an_unknown_namespace_is_unchanged_and_commits_nothing() {
    let github = fake_github().await;
    let head = github.head(BRANCH);
    // `apps/snutt-dev-staging/` exists; `apps/snutt/` does not, whatever the prefixes.
    let answer = updater(&github, TOKEN)
        .process(&push_event("snutt/snutt-ev", "241"))
        .await
        .expect("an unknown namespace is no failure");
    assert_eq!(answer.status, Status::Unchanged);
    assert!(answer.files.is_empty() && answer.commit.is_none());
    assert_eq!(github.head(BRANCH), head);
    assert!(github.requests_of(http::Method::POST).is_empty());
    assert!(github.requests_of(http::Method::PATCH).is_empty());
}

#[tokio::test]
async fn a_bad_token_fails_mentioning_authentication() {
    let github = fake_github().await;
    let updater = updater(&github, "ghp_revoked");
    let failure = push_241(&updater).await.expect_err("401");
    let diagnostic = diagnostic(failure);
    assert_eq!(diagnostic.error_type, "GitHubAuthenticationFailed");
    assert!(
        diagnostic.error_message.contains("authentication failed")
            && diagnostic.error_message.contains("Bad credentials"),
        "{}",
        diagnostic.error_message
    );
    assert!(!diagnostic.error_message.contains("ghp_revoked"));
}

#[tokio::test]
async fn a_spent_rate_limit_fails_saying_when_it_resets() {
    let github = fake_github().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let reset = now + 600;
    github.set_rate_limit(Some(RateLimit::Primary {
        reset: reset as u64,
    }));
    let when = time::OffsetDateTime::from_unix_timestamp(reset)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let says = format!("retry after {when}");
    assert_push_fails(
        &updater(&github, TOKEN),
        "403",
        "GitHubRateLimited",
        &[&says],
    )
    .await;

    // Once the limit is lifted, the same event goes through.
    github.set_rate_limit(None);
    let answer = push_241(&updater(&github, TOKEN)).await.expect("updated");
    assert_eq!(answer.status, Status::Updated);
}

#[tokio::test]
async fn too_many_requests_fails_saying_when_to_retry() {
    let github = fake_github().await;
    github.set_rate_limit(Some(RateLimit::TooManyRequests { retry_after: 60 }));
    let updater = updater(&github, TOKEN);
    let says = ["(429)", "retry after 60 s"];
    assert_push_fails(&updater, "429", "GitHubRateLimited", &says).await;
}

#[tokio::test]
async fn an_unreachable_github_fails_the_invocation() {
    let closed = format!("http://127.0.0.1:{}", testkit::free_port());
    let updater = Updater::new(&Config {
        ecr_host: HOST.into(),
        api_url: closed,
        repository: REPOSITORY.into(),
        branch: BRANCH.into(),
        token: SecretString::from(TOKEN),
    })
    .expect("the updater");
    let failure = push_241(&updater).await.expect_err("nobody listens");
    assert_eq!(diagnostic(failure).error_type, "GitHubUnreachable");
}

// ---------------------------------------------------------------------------------------
// The binary, through the Lambda Runtime API

fn spawn(runtime: &RuntimeApi, env: &[(&str, &str)]) -> LambdaProcess {
    LambdaProcess::spawn(env!("CARGO_BIN_EXE_image-tag-updater"), runtime, env)
}

#[tokio::test]
async fn the_binary_answers_runtime_api_invocations() {
    let github = fake_github().await;
    let runtime = RuntimeApi::start().await;
    let mut process = spawn(
        &runtime,
        &[("GITHUB_API_URL", github.url()), ("GITHUB_TOKEN", TOKEN)],
    );

    let answer = runtime
        .invoke(push_event("snutt-dev/snutt-ev", "241"))
        .await;
    let head = github.head(BRANCH);
    assert_eq!(
        answer,
        Outcome::Response(json!({
            "status": "updated",
            "files": [WORKER, CRONJOB, DEPLOYMENT],
            "commit": head,
        })),
        "{}",
        process.logs()
    );

    let mut ignored = push_event("snutt-dev/snutt-ev", "242");
    ignored["detail"]["action-type"] = json!("DELETE");
    let answer = runtime.invoke(ignored).await;
    assert_eq!(
        answer,
        Outcome::Response(json!({"status": "ignored", "files": [], "commit": null}))
    );

    let answer = runtime.invoke(push_event("snutt-qa/snutt-ev", "1")).await;
    assert_eq!(
        answer,
        Outcome::Response(json!({"status": "unchanged", "files": [], "commit": null}))
    );
    assert!(process.is_running());
    assert_eq!(github.head(BRANCH), head);
    let logs = process.logs();
    assert!(logs.contains("event ignored"), "{logs}");
    // The line the template's metric filter counts: `{ $.level = "WARN" && $.message =
    // "unknown namespace*" }` over JSON lines.
    let warned = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == image_tag_updater::UNKNOWN_NAMESPACE)
        .unwrap_or_else(|| panic!("no unknown-namespace line: {logs}"));
    assert_eq!(warned["level"], "WARN", "{warned}");
    assert_eq!(warned["namespace"], "snutt-qa", "{warned}");
    assert!(warned["timestamp"].is_string(), "{warned}");
    assert!(!logs.contains(TOKEN), "the token reached the logs");
}

#[tokio::test]
async fn the_binary_without_a_token_stops_naming_it() {
    let runtime = RuntimeApi::start().await;
    let mut process = spawn(&runtime, &[]);
    process
        .assert_init_fails("no token", "GITHUB_TOKEN is not set")
        .await;
}

/// Deployed: no `GITHUB_TOKEN`, `APP_ENV=dev`, the token read from the secret
/// `ecr-image-tag-updater`; at TRACE, nothing logged shows it.
#[tokio::test]
async fn the_deployed_binary_reads_its_token_from_secrets_manager_and_never_logs_it() {
    let moto = Moto::start().await.expect("moto");
    let github = fake_github().await;
    let runtime = RuntimeApi::start().await;
    let aws = moto.env();
    let mut env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([
        ("APP_ENV", "dev"),
        ("GITHUB_API_URL", github.url()),
        ("RUST_LOG", "trace"),
    ]);

    // Without the secret the function does not start, and says which secret it missed.
    let mut process = spawn(&runtime, &env);
    process
        .assert_init_fails("no secret", "secret ecr-image-tag-updater was not found")
        .await;

    moto.put_secret(
        "ecr-image-tag-updater",
        &json!({"github-access-token": TOKEN}).to_string(),
    )
    .await;
    let runtime = RuntimeApi::start().await;
    let process = spawn(&runtime, &env);
    let answer = runtime
        .invoke(push_event("snutt-dev/snutt-ev", "241"))
        .await;
    assert_eq!(
        answer,
        Outcome::Response(json!({
            "status": "updated",
            "files": [WORKER, CRONJOB, DEPLOYMENT],
            "commit": github.head(BRANCH),
        })),
        "{}",
        process.logs()
    );
    let logs = process.logs();
    assert!(logs.contains("GetSecretValue"), "TRACE lines were captured");
    assert!(logs.contains("manifests updated"), "{logs}");
    assert!(!logs.contains(TOKEN), "the token reached the logs");
    assert!(
        !logs.contains("never-log-me"),
        "part of the token reached the logs"
    );
}
