//! `image-tag-updater --redrive <queue-url>`: processes again the events that failed
//! into the on-failure queue (template.yaml, ImageTagUpdaterFailures) and deletes only
//! those that now succeed. The rest stay, visible again, for the next redrive.
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

use crate::{Answer, Updater};

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
}

#[derive(Debug, Serialize)]
pub struct Redriven {
    pub message_id: String,
    pub answer: Answer,
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

/// Whether `--redrive`'s argument names a local JSON-lines file rather than a queue URL.
pub fn is_file(target: &str) -> bool {
    !target.starts_with("http://") && !target.starts_with("https://")
}

/// Processes every line of the JSON-lines file at `path` again, then rewrites it with
/// only the lines that failed (message ids are `line N`, counted from 1).
pub async fn redrive_file(updater: &Updater, path: &std::path::Path) -> Result<Report, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut report = Report::default();
    let mut kept = String::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let id = format!("line {}", i + 1);
        let outcome = match event_of(line) {
            Ok(event) => updater.process(&event).await.map_err(|f| f.to_string()),
            Err(error) => Err(error),
        };
        match outcome {
            Ok(answer) => {
                tracing::info!(message_id = %id, status = ?answer.status, "redriven");
                report.redriven.push(Redriven {
                    message_id: id,
                    answer,
                });
            }
            Err(error) => {
                tracing::warn!(message_id = %id, %error, "redrive failed; the line stays");
                kept.push_str(line);
                kept.push('\n');
                report.left.push(Left {
                    message_id: id,
                    error,
                });
            }
        }
    }
    // Whole or not at all: a new file renamed over the old one.
    let temporary = path.with_extension("jsonl.redrive");
    std::fs::write(&temporary, kept)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| format!("cannot rewrite {}: {e}", path.display()))?;
    Ok(report)
}

/// Reads the queue until it is empty (failed messages stay hidden meanwhile, so each
/// is tried once), then makes what failed visible again.
pub async fn redrive(updater: &Updater, sqs: &Client, queue_url: &str) -> Result<Report, String> {
    let mut report = Report::default();
    let mut failed_receipts = Vec::new();
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
            let outcome = match event_of(message.body.as_deref().unwrap_or_default()) {
                Ok(event) => updater.process(&event).await.map_err(|f| f.to_string()),
                Err(error) => Err(error),
            };
            match outcome {
                Ok(answer) => {
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
                    tracing::info!(message_id = %id, status = ?answer.status, "redriven");
                    report.redriven.push(Redriven {
                        message_id: id,
                        answer,
                    });
                }
                Err(error) => {
                    tracing::warn!(message_id = %id, %error, "redrive failed; the message stays");
                    failed_receipts.push(receipt);
                    report.left.push(Left {
                        message_id: id,
                        error,
                    });
                }
            }
        }
    }
    for receipt in failed_receipts {
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
