//! The Lambda Runtime API emulator for tests: the `gateway` crate's (the one `local
//! --lambdas` runs every function under), with the panicking conveniences a test
//! wants, and [`LambdaProcess`] to run a function binary against it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use axum::body::Bytes;
use serde_json::Value;
use tokio::process::{Child, Command};

pub use gateway::runtime::Outcome;

/// The ARN runtimes are told they run as.
const FUNCTION_ARN: &str = "arn:aws:lambda:ap-northeast-2:123456789012:function:test";

/// The emulator, on a free loopback port; it serves until dropped.
pub struct RuntimeApi(gateway::runtime::RuntimeApi);

impl RuntimeApi {
    pub async fn start() -> Self {
        Self(
            gateway::runtime::RuntimeApi::start(FUNCTION_ARN)
                .await
                .expect("bind the runtime API emulator"),
        )
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.0.address()
    }

    /// Queues `event` and waits for the function's answer; panics after `timeout`.
    pub async fn invoke_within(&self, event: Value, timeout: Duration) -> Outcome {
        self.0
            .try_invoke(Bytes::from(event.to_string()), timeout)
            .await
            .unwrap_or_else(|_| panic!("the function did not answer within {timeout:?}"))
    }

    /// Queues `event` and waits up to 30 s for the answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        self.invoke_within(event, Duration::from_secs(30)).await
    }

    /// Invokes the function with an API Gateway HTTP API `event` and returns the status,
    /// headers and JSON body of its response (see [`crate::http::apigw_response`]).
    pub async fn invoke_http(&self, event: Value) -> (u16, Value, Value) {
        crate::http::apigw_response(&self.invoke(event).await.response())
    }

    /// `method path_and_query` (with a JSON `body`, as `sso`) sent to the function as an
    /// API Gateway event (see [`crate::http::apigw_event`]): the response's status,
    /// headers and JSON body.
    pub async fn http(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
        sso: Option<&str>,
    ) -> (u16, Value, Value) {
        let event = crate::http::apigw_event(method, path_and_query, body, sso);
        self.invoke_http(event).await
    }

    /// `POST path` of `body` through the function, which only an admin may (see
    /// [`RuntimeApi::assert_admin_only`]): asserts that `admin` gets a 201 whose
    /// `location` is `{path}/{id}`, and returns its headers and the created resource.
    pub async fn assert_admin_creates(
        &self,
        path: &str,
        body: &Value,
        admin: &str,
        member: &str,
    ) -> (Value, Value) {
        self.assert_admin_only("POST", path, Some(body), member)
            .await;
        let (status, headers, created) = self.http("POST", path, Some(body), Some(admin)).await;
        assert_eq!(status, 201, "{created}");
        let location = format!("{path}/{}", created["id"]);
        assert_eq!(headers["location"], location.as_str(), "{headers}");
        (headers, created)
    }

    /// Asserts that the function answers an admin-only `method path_and_query` (with a
    /// JSON `body`) with 401 for no caller and 403 for `member`, a registered non-admin.
    pub async fn assert_admin_only(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
        member: &str,
    ) {
        for (caller, expected) in [(None, 401), (Some(member), 403)] {
            let (status, _, answer) = self.http(method, path_and_query, body, caller).await;
            assert_eq!(status, expected, "{caller:?}: {answer}");
        }
    }

    /// The error a function reported at initialisation, if it did.
    pub fn init_error(&self) -> Option<Value> {
        self.0.init_error()
    }
}

/// A function binary running against a [`RuntimeApi`], as Lambda would run `bootstrap`.
pub struct LambdaProcess {
    child: Child,
    stderr_path: std::path::PathBuf,
}

impl LambdaProcess {
    /// Starts `binary` with `env` (see [`LambdaProcess::spawn`]) against an emulator of its
    /// own; returns the emulator, to invoke it through, and the process.
    pub async fn start(binary: impl AsRef<Path>, env: &[(&str, &str)]) -> (RuntimeApi, Self) {
        let runtime = RuntimeApi::start().await;
        let process = Self::spawn(binary, &runtime, env);
        (runtime, process)
    }

    /// Starts `binary` with the environment Lambda provides, the test key and issuer
    /// (`WAFFLE_JWT_PUBLIC_KEY`, `WAFFLE_JWT_ISSUER`, as template.yaml gives every
    /// function; an empty value in `env` unsets one), plus `env`.
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
            .env("WAFFLE_JWT_PUBLIC_KEY", crate::jwt::public_pem())
            .env("WAFFLE_JWT_ISSUER", crate::jwt::ISSUER)
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

    /// Waits (up to 20 s) for a process that must fail its init, and asserts that it has
    /// exited (`why` says why it had to) and that its logs contain `expected`.
    pub async fn assert_init_fails(&mut self, why: &str, expected: &str) {
        self.wait_for_exit(Duration::from_secs(20)).await;
        assert!(!self.is_running(), "{why}: the process is still running");
        let logs = self.logs();
        assert!(logs.contains(expected), "{why}: {logs}");
    }

    /// Waits until the process has exited, for at most `limit`.
    pub async fn wait_for_exit(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.is_running() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}
