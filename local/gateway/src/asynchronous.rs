//! Asynchronous invocations (`Event`) as Lambda handles them
//! (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html,
//! https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html):
//!
//! - the event is accepted at once and kept;
//! - while the function has no concurrency left, Lambda tries again, "from 1 second after
//!   the first attempt to a maximum of 5 minutes", for as long as the event is younger
//!   than `MaximumEventAgeInSeconds`;
//! - a function error (or time-out) is retried `MaximumRetryAttempts` times, one minute
//!   after the first failure and two minutes after the second;
//! - an event that failed for good (`RetriesExhausted`) or grew too old
//!   (`EventAgeExceeded`) goes to the `OnFailure` destination as an invocation record
//!   (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
//!   moto's SQS when `AWS_ENDPOINT_URL` is set, otherwise one JSON line per record
//!   appended to `<state dir>/<queue name>.jsonl` (`target/local/` for `local
//!   --lambdas`), which `image-tag-updater --redrive <file>` reads like the queue.
//!   Without a destination the event is dropped, as Lambda does (logged here).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::environments::{Invoked, Pool};
use crate::template::{Queue, REGION};

/// The first and longest waits between attempts of a throttled event.
const THROTTLED_FIRST: Duration = Duration::from_secs(1);
const THROTTLED_MAX: Duration = Duration::from_secs(300);

/// Lambda's waits before the first and second retry of a failed event.
pub const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

/// Where failure records go.
pub struct Destinations {
    /// moto's (or any) SQS endpoint, from `AWS_ENDPOINT_URL`.
    endpoint: Option<String>,
    /// The JSON-lines files' folder otherwise.
    dir: PathBuf,
    sqs: OnceCell<aws_sdk_sqs::Client>,
    /// Waits before the retries of a failed event: [`RETRY_DELAYS`], unless a test
    /// shortens them (the rule, number of attempts and record, stays Lambda's).
    pub retry_delays: [Duration; 2],
}

impl Destinations {
    pub fn new(endpoint: Option<String>, dir: PathBuf) -> Self {
        Self {
            endpoint,
            dir,
            sqs: OnceCell::new(),
            retry_delays: RETRY_DELAYS,
        }
    }

    /// The JSON-lines file of `queue`.
    pub fn file(&self, queue: &Queue) -> PathBuf {
        self.dir.join(format!("{}.jsonl", queue.name))
    }

    async fn deliver(&self, queue: &Queue, record: &Value) -> Result<String, String> {
        let body = record.to_string();
        let Some(endpoint) = &self.endpoint else {
            let path = self.file(queue);
            std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            writeln!(file, "{body}").map_err(|e| format!("{}: {e}", path.display()))?;
            return Ok(path.display().to_string());
        };
        let sqs = self
            .sqs
            .get_or_init(|| async { sqs_client(endpoint) })
            .await;
        // The stack would have created the queue; locally it may not exist yet.
        let url = sqs
            .create_queue()
            .queue_name(&queue.name)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
            .queue_url
            .unwrap_or_default();
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(url)
    }
}

fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        // Lambda's own role in AWS; moto checks no signature.
        .credentials_provider(Credentials::new("LOCAL", "local", None, None, "stand-in"))
        .http_client(http)
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// Accepts `payload` for `pool` and runs it in the background as Lambda does.
pub fn invoke(pool: Arc<Pool>, destinations: Arc<Destinations>, payload: Bytes) {
    tokio::spawn(async move {
        run(&pool, &destinations, payload).await;
    });
}

async fn run(pool: &Pool, destinations: &Destinations, payload: Bytes) {
    let received = Instant::now();
    let config = &pool.spec.event_invoke;
    let max_age = Duration::from_secs(config.maximum_event_age_secs);
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut invoked = 0u32;
    let mut throttled_wait = THROTTLED_FIRST;
    let mut last_error: Option<Value> = None;
    loop {
        let outcome = pool.invoke_as(payload.clone(), &request_id).await;
        let (wait, error) = match outcome {
            Invoked::Response(_) | Invoked::NotJson(_) => return,
            Invoked::Throttled(_) => {
                let wait = throttled_wait;
                throttled_wait = (throttled_wait * 2).min(THROTTLED_MAX);
                (wait, None)
            }
            Invoked::Error(error) => (Duration::ZERO, Some(error)),
            Invoked::TimedOut => (
                Duration::ZERO,
                Some(json!({
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": format!(
                        "RequestId: {request_id} Error: Task timed out after {}.00 seconds",
                        pool.spec.timeout_secs
                    ),
                })),
            ),
            // Not reached: the Invoke API refuses events over the asynchronous quota,
            // far below the synchronous one.
            Invoked::RequestTooLarge => return,
        };
        let wait = match error {
            None => wait,
            Some(error) => {
                invoked += 1;
                last_error = Some(error);
                if invoked > config.maximum_retry_attempts {
                    fail(
                        pool,
                        destinations,
                        &payload,
                        &request_id,
                        "RetriesExhausted",
                        invoked,
                        last_error,
                    )
                    .await;
                    return;
                }
                destinations.retry_delays[(invoked as usize - 1).min(1)]
            }
        };
        if received.elapsed() + wait > max_age {
            fail(
                pool,
                destinations,
                &payload,
                &request_id,
                "EventAgeExceeded",
                invoked,
                last_error,
            )
            .await;
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

/// The invocation record of an event that failed for good, sent to the destination.
async fn fail(
    pool: &Pool,
    destinations: &Destinations,
    payload: &Bytes,
    request_id: &str,
    condition: &str,
    invoked: u32,
    error: Option<Value>,
) {
    let mut record = json!({
        "version": "1.0",
        "timestamp": now(),
        "requestContext": {
            "requestId": request_id,
            "functionArn": format!("{}:$LATEST", pool.arn()),
            "condition": condition,
            "approximateInvokeCount": invoked,
        },
        "requestPayload": serde_json::from_slice::<Value>(payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned())),
    });
    if let Some(error) = error {
        record["responseContext"] = json!({
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        });
        record["responsePayload"] = error;
    }
    let function = &pool.spec.name;
    let Some(queue) = &pool.spec.event_invoke.on_failure else {
        tracing::warn!(%function, %request_id, %condition, "an asynchronous event failed for good and has no destination: dropped");
        return;
    };
    match destinations.deliver(queue, &record).await {
        Ok(to) => {
            tracing::warn!(%function, %request_id, %condition, %to, "an asynchronous event failed for good: sent to its destination");
        }
        Err(error) => {
            tracing::error!(%function, %request_id, %condition, %error, "an asynchronous event failed for good and its destination refused it");
        }
    }
}

/// Now in the records' format (RFC 3339, milliseconds, UTC).
fn now() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}
