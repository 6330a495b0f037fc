//! The image tag updater against a fake of GitHub's Git Data API holding a small
//! waffle-world and moto's ECR, in-process for behaviour and through the real binary for
//! the Lambda protocol and the deployed token.

use std::collections::BTreeMap;

use image_tag_updater::{Answer, Config, Failure, Status, Updater};
use lambda_runtime::Diagnostic;
use secrecy::SecretString;
use serde_json::{Value, json};
use testkit::github::{FakeGitHub, RateLimit};
use testkit::{LambdaProcess, Outcome, RuntimeApi};

mod common;
use common::{ACCOUNT, BRANCH, HOST, REGION, REPOSITORY, Registry, push_event, warn_line};

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

fn config(api_url: &str, token: &str) -> Config {
    Config {
        ecr_host: HOST.into(),
        api_url: api_url.into(),
        repository: REPOSITORY.into(),
        branch: BRANCH.into(),
        token: SecretString::from(token),
        account: ACCOUNT.into(),
        region: REGION.into(),
    }
}

fn updater(github: &FakeGitHub, token: &str, ecr: &Registry) -> Updater {
    Updater::new(&config(github.url(), token), &ecr.sdk).expect("the updater")
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn diagnostic(failure: Failure) -> Diagnostic {
    failure.into()
}

/// The answer of `updater` to the push of `snutt-dev/snutt-ev:241` (the namespace
/// waffle-world has manifests for), pushed to `ecr` first.
async fn push_241(updater: &Updater, ecr: &Registry) -> Result<Answer, Failure> {
    updater
        .process(&ecr.push("snutt-dev/snutt-ev", "241").await)
        .await
}

/// How `updater` fails the push of [`push_241`] (`why` it must), as Lambda reports it:
/// asserts the error type, and that the message says each of `says`.
async fn assert_push_fails(
    updater: &Updater,
    ecr: &Registry,
    why: &str,
    error_type: &str,
    says: &[&str],
) {
    let diagnostic = diagnostic(push_241(updater, ecr).await.expect_err(why));
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
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let before = github.files(BRANCH);
    let old_head = github.head(BRANCH);

    let answer = push_241(&updater(&github, TOKEN, &ecr), &ecr)
        .await
        .expect("updated");

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
    let (github, ecr) = (fake_github().await, Registry::start().await);
    push_241(&updater(&github, TOKEN, &ecr), &ecr)
        .await
        .expect("updated");

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
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let updater = updater(&github, TOKEN, &ecr);
    let event = ecr.push("snutt-dev/snutt-ev", "241").await;
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
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let answer = updater(&github, TOKEN, &ecr)
        .process(&ecr.push("snutt-dev/snutt-ev-web", "300").await)
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
    // Nobody answers for ECR: an ignored event asks it nothing.
    let updater = Updater::new(
        &config(github.url(), TOKEN),
        &common::unreachable_sdk().await,
    )
    .expect("the updater");
    let sample = push_event("snutt-dev/snutt-ev", "241", "sha256:0123");
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
// Only what ECR confirms

/// A retry of `v1`'s event (Lambda retries for minutes, a redrive may come days later)
/// after `v2` was committed: the manifests would move back, so nothing moves.
#[tokio::test]
async fn a_late_retry_after_a_newer_push_is_stale_and_commits_nothing() {
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let (v1, v2) = ecr.push_two("snutt-dev/snutt-ev", "241", "242").await;
    let late = updater(&github, TOKEN, &ecr);
    let answer = late.process(&v2).await.expect("v2 is committed");
    assert_eq!(answer.status, Status::Updated);
    let head = github.head(BRANCH);
    let writes = github.requests_of(http::Method::POST).len();

    let decision = late
        .decide(&v1, image_tag_updater::Mode::Commit)
        .await
        .expect("a late v1 is answered");
    assert_eq!(
        serde_json::to_value(&decision.answer).unwrap(),
        json!({"status": "stale", "files": [], "commit": null})
    );
    let reason = decision.reason.unwrap_or_default();
    assert!(reason.contains("snutt-dev/snutt-ev:242"), "{reason}");
    assert_eq!(github.head(BRANCH), head, "the branch did not move");
    assert_eq!(github.requests_of(http::Method::POST).len(), writes);
    assert_eq!(
        github.files(BRANCH)[DEPLOYMENT],
        bytes(&deployment("242", 1))
    );

    // In the other order both go through: v1, then v2 over it.
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let (v1, v2) = ecr.push_two("snutt-dev/snutt-ev", "241", "242").await;
    let in_order = updater(&github, TOKEN, &ecr);
    for event in [&v1, &v2] {
        let answer = in_order.process(event).await.expect("updated");
        assert_eq!(answer.status, Status::Updated);
    }
    assert_eq!(
        github.files(BRANCH)[DEPLOYMENT],
        bytes(&deployment("242", 1))
    );
}

/// A message anyone could have sent (to the dead-letter queue, say): a digest ECR does
/// not hold under the tag, a tag or a repository ECR does not have. Refused before
/// GitHub is called; answered `ignored`, so it is neither retried nor kept.
#[tokio::test]
async fn a_forged_event_is_refused_and_nothing_is_committed() {
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let real = ecr.push("snutt-dev/snutt-ev", "241").await;
    let other = ecr.push("snutt-dev/snutt-ev", "200").await;
    let updater = updater(&github, TOKEN, &ecr);
    let with = |pointer: &str, value: Value| {
        let mut event = real.clone();
        *event.pointer_mut(pointer).expect(pointer) = value;
        event
    };
    let without_digest = {
        let mut event = real.clone();
        event["detail"]
            .as_object_mut()
            .expect("detail")
            .remove("image-digest");
        event
    };
    for (what, event, says) in [
        (
            "another image's digest",
            with(
                "/detail/image-digest",
                other["detail"]["image-digest"].clone(),
            ),
            "not the event's",
        ),
        (
            "a made-up digest",
            with(
                "/detail/image-digest",
                json!(format!("sha256:{}", "0".repeat(64))),
            ),
            "not the event's",
        ),
        (
            "a tag ECR does not hold",
            with("/detail/image-tag", json!("666")),
            "ECR has no image tagged",
        ),
        (
            "a repository ECR does not have",
            with("/detail/repository-name", json!("snutt-dev/snutt-evil")),
            "ECR has no image tagged",
        ),
        ("no digest", without_digest, "no image-digest"),
    ] {
        let decision = updater
            .decide(&event, image_tag_updater::Mode::Commit)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            serde_json::to_value(&decision.answer).unwrap(),
            json!({"status": "ignored", "files": [], "commit": null}),
            "{what}"
        );
        let reason = decision.reason.unwrap_or_default();
        assert!(
            reason.starts_with("refused: ") && reason.contains(says),
            "{what}: {reason}"
        );
    }
    assert!(
        github.requests().is_empty(),
        "a refused event reaches no GitHub call"
    );
    assert_eq!(
        github.files(BRANCH)[DEPLOYMENT],
        bytes(&deployment("240", 1))
    );
}

/// An event of another account or region (another bus forwarding, a replay from a
/// copy of the queue) is refused, even for an image this registry holds.
#[tokio::test]
async fn an_event_of_another_account_or_region_is_refused() {
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let real = ecr.push("snutt-dev/snutt-ev", "241").await;
    let updater = updater(&github, TOKEN, &ecr);
    for (field, value, says) in [
        ("account", json!("111122223333"), "account \"111122223333\""),
        ("region", json!("us-east-1"), "region \"us-east-1\""),
        ("account", Value::Null, "account \"none\""),
    ] {
        let mut event = real.clone();
        event[field] = value;
        let decision = updater
            .decide(&event, image_tag_updater::Mode::Commit)
            .await
            .expect(field);
        assert_eq!(decision.answer.status, Status::Ignored, "{field}");
        let reason = decision.reason.unwrap_or_default();
        assert!(reason.contains(says), "{reason}");
    }
    assert!(github.requests().is_empty());
    // The same event from here goes through.
    assert_eq!(
        updater.process(&real).await.expect("updated").status,
        Status::Updated
    );
}

/// ECR not answering says nothing either way: the invocation fails, to be retried.
#[tokio::test]
async fn an_unreachable_ecr_fails_the_invocation_and_commits_nothing() {
    let github = fake_github().await;
    let updater = Updater::new(
        &config(github.url(), TOKEN),
        &common::unreachable_sdk().await,
    )
    .expect("the updater");
    let event = push_event("snutt-dev/snutt-ev", "241", "sha256:0123");
    let failure = updater
        .process(&event)
        .await
        .expect_err("ECR is unreachable");
    let diagnostic = diagnostic(failure);
    assert_eq!(diagnostic.error_type, "EcrUnavailable");
    assert!(
        diagnostic.error_message.contains("snutt-dev/snutt-ev:241"),
        "{}",
        diagnostic.error_message
    );
    assert!(github.requests().is_empty());
}

// ---------------------------------------------------------------------------------------
// A moving branch

#[tokio::test]
async fn a_branch_that_moved_before_the_update_is_rebuilt_on_its_new_head() {
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let old_head = github.head(BRANCH);
    // Someone scales the deployment between our read and our ref update.
    github.move_branch_before_next_update(DEPLOYMENT, deployment("240", 3).as_bytes());

    let answer = push_241(&updater(&github, TOKEN, &ecr), &ecr)
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
    let (github, ecr) = (fake_github().await, Registry::start().await);
    for n in 0..10 {
        github.move_branch_before_next_update("README.md", format!("busy {n}\n").as_bytes());
    }
    let updater = updater(&github, TOKEN, &ecr);
    assert_push_fails(
        &updater,
        &ecr,
        "gives up",
        "BranchKeepsMoving",
        &["5 attempts"],
    )
    .await;
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
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let head = github.head(BRANCH);
    // `apps/snutt-dev-staging/` exists; `apps/snutt/` does not, whatever the prefixes.
    let answer = updater(&github, TOKEN, &ecr)
        .process(&ecr.push("snutt/snutt-ev", "241").await)
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
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let updater = updater(&github, "ghp_revoked", &ecr);
    let failure = push_241(&updater, &ecr).await.expect_err("401");
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
    let (github, ecr) = (fake_github().await, Registry::start().await);
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
    let updater = updater(&github, TOKEN, &ecr);
    assert_push_fails(&updater, &ecr, "403", "GitHubRateLimited", &[&says]).await;

    // Once the limit is lifted, the same event goes through.
    github.set_rate_limit(None);
    let answer = push_241(&updater, &ecr).await.expect("updated");
    assert_eq!(answer.status, Status::Updated);
}

#[tokio::test]
async fn too_many_requests_fails_saying_when_to_retry() {
    let (github, ecr) = (fake_github().await, Registry::start().await);
    github.set_rate_limit(Some(RateLimit::TooManyRequests { retry_after: 60 }));
    let updater = updater(&github, TOKEN, &ecr);
    let says = ["(429)", "retry after 60 s"];
    assert_push_fails(&updater, &ecr, "429", "GitHubRateLimited", &says).await;
}

#[tokio::test]
async fn an_unreachable_github_fails_the_invocation() {
    let ecr = Registry::start().await;
    let closed = format!("http://127.0.0.1:{}", testkit::free_port());
    let updater = Updater::new(&config(&closed, TOKEN), &ecr.sdk).expect("the updater");
    let failure = push_241(&updater, &ecr).await.expect_err("nobody listens");
    assert_eq!(diagnostic(failure).error_type, "GitHubUnreachable");
}

// ---------------------------------------------------------------------------------------
// The binary, through the Lambda Runtime API

fn spawn(runtime: &RuntimeApi, env: &[(&str, &str)]) -> LambdaProcess {
    LambdaProcess::spawn(env!("CARGO_BIN_EXE_image-tag-updater"), runtime, env)
}

/// The environment of a binary whose ECR is `ecr`'s moto and whose GitHub is `github`.
fn binary_env(ecr: &Registry, github: &FakeGitHub) -> Vec<(&'static str, String)> {
    let mut env = ecr.moto.env();
    env.extend([
        ("GITHUB_API_URL", github.url().to_owned()),
        ("GITHUB_TOKEN", TOKEN.to_owned()),
        ("ECR_HOST", HOST.to_owned()),
    ]);
    env
}

#[tokio::test]
async fn the_binary_answers_runtime_api_invocations() {
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let (older, event) = ecr.push_two("snutt-dev/snutt-ev", "239", "241").await;
    let runtime = RuntimeApi::start().await;
    let env = binary_env(&ecr, &github);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut process = spawn(&runtime, &env);

    let answer = runtime.invoke(event.clone()).await;
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

    let mut ignored = event.clone();
    ignored["detail"]["action-type"] = json!("DELETE");
    let answer = runtime.invoke(ignored).await;
    let nothing =
        |status: &str| Outcome::Response(json!({"status": status, "files": [], "commit": null}));
    assert_eq!(answer, nothing("ignored"));

    let answer = runtime
        .invoke(ecr.push("snutt-qa/snutt-ev", "1").await)
        .await;
    assert_eq!(answer, nothing("unchanged"));

    // A late retry of the earlier push: the manifests are past it.
    assert_eq!(runtime.invoke(older).await, nothing("stale"));
    // A forged digest: refused, answered (so not retried), nothing committed.
    let mut forged = event.clone();
    forged["detail"]["image-digest"] = json!(format!("sha256:{}", "e".repeat(64)));
    assert_eq!(runtime.invoke(forged).await, nothing("ignored"));

    assert!(process.is_running());
    assert_eq!(github.head(BRANCH), head);
    let logs = process.logs();
    assert!(logs.contains("event ignored"), "{logs}");
    // The lines the template's metric filters count: `{ $.level = "WARN" && $.message =
    // "unknown namespace*" }` (and "stale event*", "event refused*") over JSON lines.
    let warned = warn_line(&logs, image_tag_updater::UNKNOWN_NAMESPACE);
    assert_eq!(warned["namespace"], "snutt-qa", "{warned}");
    assert!(warned["timestamp"].is_string(), "{warned}");
    let stale = warn_line(&logs, image_tag_updater::STALE);
    assert_eq!(stale["span"]["tag"], "239", "{stale}");
    assert!(
        stale["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("snutt-dev/snutt-ev:241"),
        "{stale}"
    );
    let refused = warn_line(&logs, image_tag_updater::REFUSED);
    assert!(
        refused["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not the event's sha256:eee"),
        "{refused}"
    );
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
    let (github, ecr) = (fake_github().await, Registry::start().await);
    let moto = &ecr.moto;
    let runtime = RuntimeApi::start().await;
    let aws = moto.env();
    let mut env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([
        ("APP_ENV", "dev"),
        ("GITHUB_API_URL", github.url()),
        ("RUST_LOG", "trace"),
        // As the template sets them: the registry of the function's own account.
        ("AWS_ACCOUNT_ID", ACCOUNT),
        ("ECR_HOST", HOST),
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
        .invoke(ecr.push("snutt-dev/snutt-ev", "241").await)
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
