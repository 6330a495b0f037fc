//! `image-tag-updater --redrive <queue-url>`: processes again the events that failed
//! into the on-failure queue (template.yaml, ImageTagUpdaterFailures) and deletes only
//! those that now succeed. The rest stay, visible again, for the next redrive. Each event
//! meets the same checks as a live one: a push ECR does not confirm is refused, and one
//! the manifests are already past is `stale`; both leave the queue, committing nothing.
//!
//! `--dry-run`: lists each queued event and what it would do (checking ECR and reading
//! GitHub as usual), writes nothing, deletes nothing, and leaves every message visible.
//!
//! The queue holds two shapes (docs/operations.md, "No lost events"):
//! - Lambda's on-failure destination record, the event under `requestPayload`:
//!   https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
//! - EventBridge's dead-letter message, the event itself as the body:
//!   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
//!
//! Locally, `local --lambdas` without `AWS_ENDPOINT_URL` appends the same records to
//! `target/local/<queue name>.jsonl`, one per line: `--redrive <that file>` reads it the
//! same way ([`redrive_file`]), and keeps only the lines that failed again.

use aws_sdk_sqs::Client;
use serde::Serialize;
use serde_json::Value;

use crate::event::EcrImageAction;
use crate::{Answer, Decision, Mode, Updater};

/// Messages asked for at once (SQS's maximum).
const BATCH: i32 = 10;
/// How long a received message stays hidden from other readers: longer than one push.
const HIDDEN_SECS: i32 = 300;

/// What a redrive did, printed as JSON.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Events processed and deleted from the queue, with their answers.
    pub redriven: Vec<Redriven>,
    /// Messages left in the queue, with why.
    pub left: Vec<Left>,
    /// A dry run's listing: every message, the event it would send and what it would do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would: Vec<Would>,
}

impl Report {
    /// One message or line processed: it leaves the queue or the file.
    fn redriven(&mut self, message_id: String, decision: Decision) {
        tracing::info!(message_id = %message_id, status = ?decision.answer.status, "redriven");
        self.redriven.push(Redriven {
            message_id,
            answer: decision.answer,
            reason: decision.reason,
        });
    }

    /// One message or line that failed again: it stays for the next redrive.
    fn left(&mut self, message_id: String, error: String) {
        tracing::warn!(message_id = %message_id, %error, "redrive failed; it stays");
        self.left.push(Left { message_id, error });
    }
}

#[derive(Debug, Serialize)]
pub struct Redriven {
    pub message_id: String,
    pub answer: Answer,
    /// Why it was not acted on (ignored, refused, stale, unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One message of a dry run.
#[derive(Debug, Serialize)]
pub struct Would {
    pub message_id: String,
    /// The event the redrive would send to the updater; `null` when the body holds none.
    pub event: Option<Summary>,
    /// The answer it would give (`commit` always `null`); `null` when it would fail.
    pub answer: Option<Answer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why it would fail (and stay in the queue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The fields of a queued event an operator judges it by.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub id: Option<String>,
    pub time: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub repository: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl From<&EcrImageAction> for Summary {
    fn from(event: &EcrImageAction) -> Self {
        Self {
            id: event.id.clone(),
            time: event.time.clone(),
            account: event.account.clone(),
            region: event.region.clone(),
            repository: event.detail.repository_name.clone(),
            tag: event.detail.image_tag.clone(),
            digest: event.detail.image_digest.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Left {
    pub message_id: String,
    pub error: String,
}

/// The event a queued message carries, or why there is none.
pub fn event_of(body: &str) -> Result<Value, String> {
    let mut value: Value =
        serde_json::from_str(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    if let Some(payload) = value.get_mut("requestPayload") {
        return Ok(payload.take());
    }
    if value.get("detail-type").is_some() {
        return Ok(value);
    }
    Err("neither a Lambda failure record nor an EventBridge event".into())
}

/// The event a queued message or line carries, and what the updater decides for it.
async fn decide(
    updater: &Updater,
    body: &str,
    mode: Mode,
) -> (Result<EcrImageAction, String>, Result<Decision, String>) {
    let event = event_of(body).map(|event| EcrImageAction::from(&event));
    let outcome = match &event {
        Ok(event) => updater
            .decide(event.clone(), mode)
            .await
            .map_err(|f| f.to_string()),
        Err(error) => Err(error.clone()),
    };
    (event, outcome)
}

impl Would {
    /// A dry run's line for one message: the event, and the answer or the error.
    fn new(
        message_id: String,
        event: &Result<EcrImageAction, String>,
        outcome: Result<Decision, String>,
    ) -> Self {
        let (answer, reason, error) = match outcome {
            Ok(decision) => (Some(decision.answer), decision.reason, None),
            Err(error) => (None, None, Some(error)),
        };
        Self {
            message_id,
            event: event.as_ref().ok().map(Summary::from),
            answer,
            reason,
            error,
        }
    }
}

/// Whether `--redrive`'s argument names a local JSON-lines file rather than a queue URL.
pub fn is_file(target: &str) -> bool {
    !target.starts_with("http://") && !target.starts_with("https://")
}

/// Processes every line of the JSON-lines file at `path` again, then rewrites it with
/// only the lines that failed (message ids are `line N`, counted from 1). In
/// [`Mode::DryRun`] it lists what each line would do and leaves the file as it is.
pub async fn redrive_file(
    updater: &Updater,
    path: &std::path::Path,
    mode: Mode,
) -> Result<Report, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut report = Report::default();
    let mut kept = String::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let id = format!("line {}", i + 1);
        let (event, outcome) = decide(updater, line, mode).await;
        if mode == Mode::DryRun {
            report.would.push(Would::new(id, &event, outcome));
            continue;
        }
        match outcome {
            Ok(decision) => report.redriven(id, decision),
            Err(error) => {
                kept.push_str(line);
                kept.push('\n');
                report.left(id, error);
            }
        }
    }
    if mode == Mode::Commit {
        // Whole or not at all: a new file renamed over the old one.
        let temporary = path.with_extension("jsonl.redrive");
        std::fs::write(&temporary, kept)
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|e| format!("cannot rewrite {}: {e}", path.display()))?;
    }
    Ok(report)
}

/// Reads the queue until it is empty (failed messages stay hidden meanwhile, so each
/// is tried once), then makes what failed visible again. In [`Mode::DryRun`] nothing is
/// written or deleted, and every message is made visible again.
pub async fn redrive(
    updater: &Updater,
    sqs: &Client,
    queue_url: &str,
    mode: Mode,
) -> Result<Report, String> {
    let mut report = Report::default();
    let mut shown_again = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(BATCH)
            .visibility_timeout(HIDDEN_SECS)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot read {queue_url}: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let id = message.message_id.clone().unwrap_or_default();
            let Some(receipt) = message.receipt_handle else {
                continue;
            };
            let (event, outcome) =
                decide(updater, message.body.as_deref().unwrap_or_default(), mode).await;
            if mode == Mode::DryRun {
                shown_again.push(receipt);
                report.would.push(Would::new(id, &event, outcome));
                continue;
            }
            match outcome {
                Ok(decision) => {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(&receipt)
                        .send()
                        .await
                        .map_err(|e| {
                            format!(
                                "{id} succeeded but could not be deleted (it will be redriven again, \
                                 which changes nothing): {}",
                                aws_sdk_sqs::error::DisplayErrorContext(e)
                            )
                        })?;
                    report.redriven(id, decision);
                }
                Err(error) => {
                    shown_again.push(receipt);
                    report.left(id, error);
                }
            }
        }
    }
    for receipt in shown_again {
        // Best effort: a message left hidden reappears after HIDDEN_SECS anyway.
        let shown = sqs
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await;
        if let Err(error) = shown {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(error), "a failed message stays hidden a while");
        }
    }
    Ok(report)
}
