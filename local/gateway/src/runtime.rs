//! The Lambda Runtime API on loopback: the protocol a function's runtime client speaks
//! in AWS (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html): a
//! long-polled `GET .../invocation/next`, then `POST .../invocation/{id}/response` or
//! `.../error`, or `POST .../init/error`.
//!
//! One [`RuntimeApi`] is one queue. The stand-in gives each execution environment its
//! own (one invocation at a time); tests (testkit) may point several processes at one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

/// What a function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    /// A response that is not JSON, as posted.
    NotJson(Bytes),
    /// The function reported an error (`errorType`, `errorMessage`).
    Error(Value),
    /// The function failed to initialise.
    InitError(Value),
}

impl Outcome {
    /// The response payload; panics on anything else (for tests, where that is a failure).
    pub fn response(self) -> Value {
        match self {
            Self::Response(v) => v,
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

/// No answer within the time allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

struct Queued {
    id: String,
    event: Bytes,
    deadline_ms: u128,
}

#[derive(Default)]
struct Inner {
    function_arn: String,
    queue: Mutex<VecDeque<Queued>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Value>>,
    init_failed: Notify,
    /// When a runtime first asked for an invocation: the end of its init.
    first_poll: Mutex<Option<Instant>>,
}

/// A poisoned lock only means another task panicked mid-update of a plain value.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The Runtime API server; it serves until dropped.
pub struct RuntimeApi {
    port: u16,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts on a free loopback port; `function_arn` goes to the runtime with each event.
    pub async fn start(function_arn: &str) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            function_arn: function_arn.to_owned(),
            ..Inner::default()
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            // Sizes are Lambda's to judge (`answer`), not axum's 2 MB default.
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            port,
            inner,
            server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Queues `event` and waits for the function's answer, at most `timeout` (also the
    /// deadline the runtime is told).
    pub async fn try_invoke(&self, event: Bytes, timeout: Duration) -> Result<Outcome, TimedOut> {
        self.try_invoke_as(&uuid::Uuid::new_v4().to_string(), event, timeout)
            .await
    }

    /// [`RuntimeApi::try_invoke`] under request id `id` (unique among those waiting).
    pub async fn try_invoke_as(
        &self,
        id: &str,
        event: Bytes,
        timeout: Duration,
    ) -> Result<Outcome, TimedOut> {
        if let Some(error) = self.init_error() {
            return Ok(Outcome::InitError(error));
        }
        let id = id.to_owned();
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.waiting).insert(id.clone(), tx);
        let deadline_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            + timeout.as_millis();
        lock(&self.inner.queue).push_back(Queued {
            id: id.clone(),
            event,
            deadline_ms,
        });
        self.inner.queued.notify_one();
        let outcome = tokio::select! {
            outcome = rx => outcome.map_err(|_| TimedOut),
            () = self.inner.init_failed.notified() => {
                Ok(Outcome::InitError(self.init_error().unwrap_or_default()))
            }
            () = tokio::time::sleep(timeout) => Err(TimedOut),
        };
        if outcome.is_err() {
            lock(&self.inner.waiting).remove(&id);
            lock(&self.inner.queue).retain(|q| q.id != id);
        }
        outcome
    }

    /// The error a function reported at initialisation, if it did.
    pub fn init_error(&self) -> Option<Value> {
        lock(&self.inner.init_error).clone()
    }

    /// When a runtime first asked for an invocation (the end of its init), if one has.
    pub fn first_poll(&self) -> Option<Instant> {
        *lock(&self.inner.first_poll)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    lock(&inner.first_poll).get_or_insert_with(Instant::now);
    loop {
        // Register interest before checking, so a push between the two is not missed.
        let notified = inner.queued.notified();
        let queued = lock(&inner.queue).pop_front();
        if let Some(Queued {
            id,
            event,
            deadline_ms,
        }) = queued
        {
            let mut headers = HeaderMap::new();
            let mut set = |name: &'static str, value: &str| {
                if let Ok(v) = HeaderValue::from_str(value) {
                    headers.insert(name, v);
                }
            };
            set("lambda-runtime-aws-request-id", &id);
            set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
            set("lambda-runtime-invoked-function-arn", &inner.function_arn);
            let trace = format!(
                "Root=1-{:08x}-{};Parent={};Sampled=0",
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs(),
                &uuid::Uuid::new_v4().simple().to_string()[..24],
                &uuid::Uuid::new_v4().simple().to_string()[..16],
            );
            set("lambda-runtime-trace-id", &trace);
            set("content-type", "application/json");
            return (StatusCode::OK, headers, event).into_response();
        }
        notified.await;
    }
}

fn deliver(inner: &Inner, id: &str, outcome: Outcome) -> StatusCode {
    match lock(&inner.waiting).remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        // What Lambda answers for an unknown or already answered request id.
        None => StatusCode::BAD_REQUEST,
    }
}

/// An error report as JSON; one that is not JSON is kept as its text.
fn parse(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()))
}

/// `POST /invocation/{id}/response` or `/invocation/{id}/error`: the function's answer
/// to an invocation; any other last segment is no route of the Runtime API (404).
///
/// A response over Lambda's 6 MB is refused with 413 and the invocation fails with
/// `Function.ResponseSizeTooLarge`, as Lambda does
/// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html, "Invocation
/// response"; the quota: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
async fn answer(
    State(inner): State<Arc<Inner>>,
    UrlPath((id, kind)): UrlPath<(String, String)>,
    body: Bytes,
) -> StatusCode {
    let outcome = match kind.as_str() {
        "response" if body.len() > crate::limits::SYNC_RESPONSE_BYTES => {
            let message = format!(
                "Response payload size ({} bytes) exceeded maximum allowed payload size ({} bytes).",
                body.len(),
                crate::limits::SYNC_RESPONSE_BYTES
            );
            deliver(
                &inner,
                &id,
                Outcome::Error(serde_json::json!({
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": message,
                })),
            );
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
        "response" => match serde_json::from_slice(&body) {
            Ok(value) => Outcome::Response(value),
            Err(_) => Outcome::NotJson(body),
        },
        "error" => Outcome::Error(parse(&body)),
        _ => return StatusCode::NOT_FOUND,
    };
    deliver(&inner, &id, outcome)
}

async fn init_error(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    *lock(&inner.init_error) = Some(parse(&body));
    inner.init_failed.notify_waiters();
    StatusCode::ACCEPTED
}
