//! Execution environments: each one process of a function's own binary with its own
//! Runtime API, serving one invocation at a time
//! (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
//! An invocation takes a free environment, or starts a new one (a cold start); an
//! environment whose invocation timed out or whose process died is discarded, as Lambda
//! does.
//!
//! Concurrency is Lambda's: each running invocation holds one unit of its function's
//! reserved concurrency, or of the account's unreserved pool; with none left, the
//! invocation is refused at once, before any environment is taken
//! (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html,
//! https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html). Nothing waits
//! in a queue: that is what API Gateway and synchronous callers get from Lambda.
//!
//! Logs as CloudWatch shows them: every line the process writes, prefixed with the
//! function, and per invocation either the text START, END and REPORT lines
//! (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html) or,
//! with `LogFormat: JSON`, the `platform.start` and `platform.report` records
//! (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html,
//! record shapes: https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html),
//! application lines below `ApplicationLogLevel` dropped
//! (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;

use crate::limits;
use crate::runtime::{Outcome, RuntimeApi, TimedOut};
use crate::template::{ACCOUNT, Function, Logging, REGION};

/// What an invocation came to.
#[derive(Debug)]
pub enum Invoked {
    Response(Value),
    /// A response that is not JSON: the Invoke API returns it as it is; API Gateway
    /// cannot read it.
    NotJson(Bytes),
    /// The function reported an error, failed its init, or its process died.
    Error(Value),
    /// No answer within the function's `Timeout`.
    TimedOut,
    /// Refused before it ran: no concurrency left (Lambda's 429
    /// `TooManyRequestsException`, with this reason).
    Throttled(&'static str),
    /// Refused before it ran: the event is over the synchronous payload quota (Lambda's
    /// 413 `RequestTooLargeException`).
    RequestTooLarge,
}

/// The concurrency an invocation draws on: the function's reservation, or the account's
/// unreserved pool, shared by every function without one.
#[derive(Clone)]
pub struct Concurrency {
    units: Arc<Semaphore>,
    /// `ReservedFunctionConcurrentInvocationLimitExceeded` or
    /// `ConcurrentInvocationLimitExceeded` (the `Reason` Lambda gives).
    reason: &'static str,
}

impl Concurrency {
    pub fn reserved(units: u32) -> Self {
        Self {
            units: Arc::new(Semaphore::new(units as usize)),
            reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
        }
    }

    pub fn unreserved(units: u32) -> Self {
        Self {
            units: Arc::new(Semaphore::new(units as usize)),
            reason: "ConcurrentInvocationLimitExceeded",
        }
    }
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
    concurrency: Concurrency,
}

impl Pool {
    /// `env`: the full environment of the function's processes (besides what Lambda
    /// itself sets, added here).
    pub fn new(
        spec: Function,
        binary: PathBuf,
        env: BTreeMap<String, String>,
        concurrency: Concurrency,
    ) -> Self {
        Self {
            label: spec.binary.clone(),
            spec,
            binary,
            env,
            idle: Mutex::new(Vec::new()),
            concurrency,
        }
    }

    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}",
            self.spec.name
        )
    }

    /// Runs one invocation of `event` in a free or new environment, if the function's
    /// concurrency allows it now.
    pub async fn invoke(&self, event: Bytes) -> Invoked {
        self.invoke_as(event, &uuid::Uuid::new_v4().to_string())
            .await
    }

    /// [`Pool::invoke`] with the request id the function sees (an asynchronous event
    /// keeps its id through its retries).
    pub async fn invoke_as(&self, event: Bytes, request_id: &str) -> Invoked {
        if event.len() > limits::SYNC_REQUEST_BYTES {
            return Invoked::RequestTooLarge;
        }
        let Ok(_unit) = self.concurrency.units.clone().try_acquire_owned() else {
            return Invoked::Throttled(self.concurrency.reason);
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
        self.start(request_id);
        let timeout = Duration::from_secs(self.spec.timeout_secs);
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = environment.runtime.try_invoke_as(request_id, event, timeout) => outcome,
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
        self.report(request_id, duration, init, &environment, &outcome);
        match outcome {
            Ok(Outcome::Response(value)) => {
                self.keep(environment);
                Invoked::Response(value)
            }
            Ok(Outcome::NotJson(bytes)) => {
                self.keep(environment);
                Invoked::NotJson(bytes)
            }
            Ok(Outcome::Error(value)) if environment.runtime.init_error().is_none() => {
                // An error answer leaves the environment usable, unless the process died.
                if matches!(environment.child.try_wait(), Ok(None)) {
                    self.keep(environment);
                }
                Invoked::Error(value)
            }
            Ok(Outcome::Error(value) | Outcome::InitError(value)) => Invoked::Error(value),
            Err(TimedOut) => Invoked::TimedOut,
        }
        // A discarded environment's process is killed when `environment` drops.
    }

    fn keep(&self, environment: Environment) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(environment);
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
        // What Lambda tells a function of its LoggingConfig
        // (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html).
        let logging = &self.spec.logging;
        command.env(
            "AWS_LAMBDA_LOG_FORMAT",
            if logging.json { "JSON" } else { "Text" },
        );
        if logging.json {
            command.env("AWS_LAMBDA_LOG_LEVEL", &logging.application_level);
        }
        let mut child = command.spawn()?;
        if let Some(out) = child.stdout.take() {
            forward(self.label.clone(), logging.clone(), out);
        }
        if let Some(err) = child.stderr.take() {
            forward(self.label.clone(), logging.clone(), err);
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

    /// Whether system records of `INFO` are kept (`SystemLogLevel` DEBUG or INFO).
    fn system_info(&self) -> bool {
        matches!(self.spec.logging.system_level.as_str(), "DEBUG" | "INFO")
    }

    fn start(&self, request_id: &str) {
        if !self.spec.logging.json {
            self.log(&format!("START RequestId: {request_id} Version: $LATEST"));
        } else if self.system_info() {
            self.log(
                &json!({
                    "time": now(),
                    "type": "platform.start",
                    "record": {"requestId": request_id, "version": "$LATEST"},
                })
                .to_string(),
            );
        }
    }

    fn report(
        &self,
        request_id: &str,
        duration: Duration,
        init: Option<Duration>,
        environment: &Environment,
        outcome: &Result<Outcome, TimedOut>,
    ) {
        let ms = duration.as_secs_f64() * 1000.0;
        // Custom runtimes (provided.al2023) are billed for their init too, by the
        // millisecond (https://aws.amazon.com/lambda/pricing/).
        let init_ms = init.map(|d| d.as_secs_f64() * 1000.0);
        let billed = ms.ceil() + init_ms.map_or(0.0, f64::ceil);
        let memory = environment.child.id().and_then(peak_memory_mb).unwrap_or(0);
        if self.spec.logging.json {
            if !self.system_info() {
                return;
            }
            let (status, error_type) = match outcome {
                Ok(Outcome::Response(_) | Outcome::NotJson(_)) => ("success", None),
                Ok(Outcome::Error(e) | Outcome::InitError(e)) => {
                    ("error", e["errorType"].as_str().map(str::to_owned))
                }
                Err(TimedOut) => ("timeout", None),
            };
            let mut metrics = json!({
                "durationMs": round2(ms),
                "billedDurationMs": billed as u64,
                "memorySizeMB": self.spec.memory_mb,
                "maxMemoryUsedMB": memory,
            });
            if let Some(init_ms) = init_ms {
                metrics["initDurationMs"] = json!(round2(init_ms));
            }
            let mut record = json!({"requestId": request_id, "metrics": metrics, "status": status});
            if let Some(error_type) = error_type {
                record["errorType"] = json!(error_type);
            }
            self.log(
                &json!({"time": now(), "type": "platform.report", "record": record}).to_string(),
            );
            return;
        }
        if outcome == &Err(TimedOut) {
            self.log(&format!(
                "{request_id} Task timed out after {:.2} seconds",
                duration.as_secs_f64()
            ));
        }
        self.log(&format!("END RequestId: {request_id}"));
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

fn round2(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// Now, as the records' `time` (RFC 3339, milliseconds).
fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format).unwrap_or_default()
}

/// Application log levels, least severe first.
const LEVELS: &[&str] = &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// Whether Lambda keeps an application line at `minimum`: with `LogFormat: JSON`, a line
/// that is a JSON object with a `level` is kept at that level or above; any other line
/// counts as INFO. Text format filters nothing.
fn kept(logging: &Logging, line: &str) -> bool {
    if !logging.json {
        return true;
    }
    let level = serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| {
            v.get("level")
                .and_then(Value::as_str)
                .map(str::to_ascii_uppercase)
        })
        .filter(|l| LEVELS.contains(&l.as_str()))
        .unwrap_or_else(|| "INFO".to_owned());
    let rank = |l: &str| LEVELS.iter().position(|x| *x == l).unwrap_or(2);
    rank(&level) >= rank(&logging.application_level)
}

/// Copies a process's output to ours line by line, prefixed with its function.
fn forward(label: String, logging: Logging, stream: impl AsyncRead + Unpin + Send + 'static) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if kept(&logging, &line) {
                eprintln!("[{label}] {line}");
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_logs_drop_lines_below_the_application_level() {
        let logging = Logging {
            json: true,
            application_level: "WARN".into(),
            system_level: "INFO".into(),
        };
        assert!(!kept(&logging, r#"{"level":"INFO","message":"m"}"#));
        assert!(kept(&logging, r#"{"level":"ERROR","message":"m"}"#));
        assert!(!kept(&logging, "plain text counts as INFO"));
        let text = Logging::default();
        assert!(kept(&text, r#"{"level":"TRACE"}"#));
    }
}
