//! Execution environments: each one process of a function's own binary with its own
//! Runtime API, serving one invocation at a time
//! (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
//! An invocation takes a free environment, or starts a new one (a cold start) while
//! the function has fewer than its bound; an environment whose invocation timed out
//! or whose process died is discarded, as Lambda does.
//!
//! Logs as CloudWatch shows them: every line the process writes, prefixed with the
//! function, and the START, END and REPORT lines of each invocation
//! (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;

use crate::runtime::{Outcome, RuntimeApi, TimedOut};
use crate::template::{ACCOUNT, Function, REGION};

/// Environments per function at most; a request beyond waits for a free one.
pub const MAX_ENVIRONMENTS: usize = 16;

/// What an invocation came to.
#[derive(Debug)]
pub enum Invoked {
    Response(Value),
    /// The function reported an error, failed its init, or its process died.
    Error(Value),
    /// No answer within the function's `Timeout`.
    TimedOut,
}

struct Environment {
    runtime: RuntimeApi,
    child: Child,
    spawned: Instant,
    used: bool,
}

/// One function's environments.
pub struct Pool {
    pub spec: Function,
    label: String,
    binary: PathBuf,
    env: BTreeMap<String, String>,
    idle: Mutex<Vec<Environment>>,
    slots: Semaphore,
}

impl Pool {
    /// `env`: the full environment of the function's processes (besides what Lambda
    /// itself sets, added here).
    pub fn new(spec: Function, binary: PathBuf, env: BTreeMap<String, String>) -> Self {
        Self {
            label: spec.binary.clone(),
            spec,
            binary,
            env,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(MAX_ENVIRONMENTS),
        }
    }

    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}",
            self.spec.name
        )
    }

    /// Runs one invocation of `event` in a free or new environment.
    pub async fn invoke(&self, event: Bytes) -> Invoked {
        let Ok(_slot) = self.slots.acquire().await else {
            return Invoked::Error(error_payload("Service", "the function is shut down"));
        };
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut environment = match idle {
            Some(environment) => environment,
            None => match self.spawn().await {
                Ok(environment) => environment,
                Err(error) => {
                    tracing::error!(function = %self.label, %error, "cannot start an environment");
                    return Invoked::Error(error_payload("Runtime.StartError", &error.to_string()));
                }
            },
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        self.log(&format!("START RequestId: {request_id} Version: $LATEST"));
        let timeout = Duration::from_secs(self.spec.timeout_secs);
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = environment.runtime.try_invoke(event, timeout) => outcome,
            status = environment.child.wait() => {
                let status = status.map(|s| s.to_string()).unwrap_or_default();
                Ok(Outcome::Error(error_payload("Runtime.ExitError", &format!("Runtime exited: {status}"))))
            }
        };
        let duration = started.elapsed();
        let init = (!environment.used)
            .then(|| environment.runtime.first_poll())
            .flatten()
            .map(|polled| polled.saturating_duration_since(environment.spawned));
        environment.used = true;
        self.report(
            &request_id,
            duration,
            init,
            &environment,
            outcome == Err(TimedOut),
        );
        match outcome {
            Ok(Outcome::Response(value)) => {
                self.idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(environment);
                Invoked::Response(value)
            }
            Ok(Outcome::Error(value)) if environment.runtime.init_error().is_none() => {
                // An error answer leaves the environment usable, unless the process died.
                if matches!(environment.child.try_wait(), Ok(None)) {
                    self.idle
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(environment);
                }
                Invoked::Error(value)
            }
            Ok(Outcome::Error(value) | Outcome::InitError(value)) => Invoked::Error(value),
            Err(TimedOut) => Invoked::TimedOut,
        }
        // A discarded environment's process is killed when `environment` drops.
    }

    async fn spawn(&self) -> std::io::Result<Environment> {
        let runtime = RuntimeApi::start(&self.arn()).await?;
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .envs(&self.env)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.spec.memory_mb.to_string(),
            )
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local/[$LATEST]stand-in")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("_HANDLER", "bootstrap")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        if let Some(out) = child.stdout.take() {
            forward(self.label.clone(), out);
        }
        if let Some(err) = child.stderr.take() {
            forward(self.label.clone(), err);
        }
        Ok(Environment {
            runtime,
            child,
            spawned: Instant::now(),
            used: false,
        })
    }

    fn log(&self, line: &str) {
        eprintln!("[{}] {line}", self.label);
    }

    fn report(
        &self,
        request_id: &str,
        duration: Duration,
        init: Option<Duration>,
        environment: &Environment,
        timed_out: bool,
    ) {
        let ms = duration.as_secs_f64() * 1000.0;
        if timed_out {
            self.log(&format!(
                "{request_id} Task timed out after {:.2} seconds",
                duration.as_secs_f64()
            ));
        }
        self.log(&format!("END RequestId: {request_id}"));
        // Custom runtimes (provided.al2023) are billed for their init too, by the
        // millisecond (https://aws.amazon.com/lambda/pricing/).
        let init_ms = init.map(|d| d.as_secs_f64() * 1000.0);
        let billed = ms.ceil() + init_ms.map_or(0.0, f64::ceil);
        let memory = environment.child.id().and_then(peak_memory_mb).unwrap_or(0);
        let mut line = format!(
            "REPORT RequestId: {request_id}\tDuration: {ms:.2} ms\tBilled Duration: {billed:.0} ms\tMemory Size: {} MB\tMax Memory Used: {memory} MB",
            self.spec.memory_mb
        );
        if let Some(init_ms) = init_ms {
            line.push_str(&format!("\tInit Duration: {init_ms:.2} ms"));
        }
        self.log(&line);
    }
}

/// Copies a process's output to ours line by line, prefixed with its function.
fn forward(label: String, stream: impl AsyncRead + Unpin + Send + 'static) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[{label}] {line}");
        }
    });
}

/// The process's peak resident memory (`VmHWM`), in MB, as Lambda's "Max Memory Used".
fn peak_memory_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.div_ceil(1024))
}

/// An error payload in Lambda's shape.
pub fn error_payload(kind: &str, message: &str) -> Value {
    serde_json::json!({ "errorType": kind, "errorMessage": message })
}
