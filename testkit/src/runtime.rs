//! A Lambda Runtime API emulator on loopback, speaking the protocol a function's
//! runtime client speaks in AWS: long-polled `GET .../invocation/next`, then `POST
//! .../invocation/{id}/response` or `.../error`, or `POST .../init/error`.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};

/// What a function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    /// The function reported an error (`errorType`, `errorMessage`).
    Error(Value),
    /// The function failed to initialise.
    InitError(Value),
}

impl Outcome {
    /// The response payload; panics (failing the test) on anything else.
    pub fn response(self) -> Value {
        match self {
            Self::Response(v) => v,
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

#[derive(Default)]
struct Inner {
    queue: Mutex<VecDeque<(String, Value)>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Value>>,
    init_failed: Notify,
}

/// The emulator; it serves until dropped.
pub struct RuntimeApi {
    port: u16,
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the runtime API emulator");
        let port = listener.local_addr().expect("a bound address").port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            port,
            inner,
            server,
        }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Queues `event` and waits for the function's answer (at most `timeout`).
    pub async fn invoke_within(&self, event: Value, timeout: Duration) -> Outcome {
        if let Some(error) = self.init_error() {
            return Outcome::InitError(error);
        }
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.inner.waiting.lock().unwrap().insert(id.clone(), tx);
        self.inner.queue.lock().unwrap().push_back((id, event));
        self.inner.queued.notify_one();
        tokio::select! {
            outcome = rx => outcome.expect("the emulator keeps the sender until it answers"),
            () = self.inner.init_failed.notified() => {
                Outcome::InitError(self.inner.init_error.lock().unwrap().clone().unwrap_or_default())
            }
            () = tokio::time::sleep(timeout) => panic!("the function did not answer within {timeout:?}"),
        }
    }

    /// Queues `event` and waits up to 30 s for the answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        self.invoke_within(event, Duration::from_secs(30)).await
    }

    /// The error a function reported at initialisation, if it did.
    pub fn init_error(&self) -> Option<Value> {
        self.inner.init_error.lock().unwrap().clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    loop {
        // Register interest before checking, so a push between the two is not missed.
        let notified = inner.queued.notified();
        if let Some((id, event)) = inner.queue.lock().unwrap().pop_front() {
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + 30_000;
            let mut headers = HeaderMap::new();
            let mut set = |name: &'static str, value: String| {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            };
            set("lambda-runtime-aws-request-id", id);
            set("lambda-runtime-deadline-ms", deadline.to_string());
            set(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:ap-northeast-2:123456789012:function:test".into(),
            );
            set(
                "lambda-runtime-trace-id",
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into(),
            );
            set("content-type", "application/json".into());
            return (StatusCode::OK, headers, event.to_string()).into_response();
        }
        notified.await;
    }
}

fn deliver(inner: &Inner, id: &str, outcome: Outcome) -> StatusCode {
    match inner.waiting.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn parse(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()))
}

async fn respond(
    State(inner): State<Arc<Inner>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    deliver(&inner, &id, Outcome::Response(parse(&body)))
}

async fn fail(
    State(inner): State<Arc<Inner>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    deliver(&inner, &id, Outcome::Error(parse(&body)))
}

async fn init_error(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    *inner.init_error.lock().unwrap() = Some(parse(&body));
    inner.init_failed.notify_waiters();
    StatusCode::ACCEPTED
}

/// A function binary running against a [`RuntimeApi`], as Lambda would run `bootstrap`.
pub struct LambdaProcess {
    child: Child,
    stderr_path: std::path::PathBuf,
}

impl LambdaProcess {
    /// Starts `binary` with the environment Lambda provides plus `env`.
    pub fn spawn(binary: impl AsRef<Path>, runtime: &RuntimeApi, env: &[(&str, &str)]) -> Self {
        let stderr_path =
            std::env::temp_dir().join(format!("lambda-{}.log", uuid::Uuid::new_v4().simple()));
        let stderr = std::fs::File::create(&stderr_path).expect("create the log file");
        let name = binary
            .as_ref()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut command = Command::new(binary.as_ref());
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/29/[$LATEST]test")
            .env("AWS_REGION", "ap-northeast-2")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start the function binary");
        Self { child, stderr_path }
    }

    /// Everything the process has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}
