//! `deploy-check`: CodeDeploy's pre-traffic hook for the API functions. SAM's
//! `DeploymentPreference` makes CodeDeploy shift each function's `live` alias to its new
//! version; before any traffic moves, CodeDeploy invokes this function with the
//! deployment's id and the hook's execution id, and waits for
//! `PutLifecycleEventHookExecutionStatus` (Succeeded lets the shift start, Failed rolls
//! the deployment back). <https://docs.aws.amazon.com/codedeploy/latest/userguide/reference-appspec-file-structure-hooks.html#reference-appspec-file-structure-hooks-section-structure-lambda-sample-function>
//!
//! It invokes each new version directly (`CHECK_<FUNCTION>`: a version ARN the template
//! passes, `!Ref <Function>.Version`) with API Gateway HTTP API events, as API Gateway
//! would: health and readiness (with the schema revision), one read of each resource, a
//! member's detail, and a refused token. Every check runs each time: a new version of
//! any function fails every function's deployment, which is what a release is.

use std::time::Duration;

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_lambda::primitives::Blob;
use serde::Deserialize;
use serde_json::{Value, json};

/// What CodeDeploy sends a lifecycle hook.
#[derive(Debug, Deserialize)]
pub struct HookEvent {
    #[serde(rename = "DeploymentId")]
    pub deployment_id: String,
    #[serde(rename = "LifecycleEventHookExecutionId")]
    pub execution_id: String,
}

/// One request to a function version and the status it must answer.
#[derive(Debug, Clone)]
pub struct Probe {
    pub path: String,
    pub query: &'static str,
    pub status: u16,
    /// Sends a malformed bearer token, which the function's own check must refuse.
    pub refused_token: bool,
}

impl Probe {
    fn get(path: &str, query: &'static str, status: u16) -> Self {
        Self {
            path: path.to_owned(),
            query,
            status,
            refused_token: false,
        }
    }
}

/// The functions checked: the environment variable naming the version, and its probes.
pub fn probes() -> Vec<(&'static str, Vec<Probe>)> {
    let mut refused = Probe::get("/api/v1/users/me", "", 403);
    refused.refused_token = true;
    vec![
        (
            "CHECK_HEALTH",
            vec![
                Probe::get("/api/v1/health", "", 200),
                Probe::get("/api/v1/health/ready", "", 200),
            ],
        ),
        // The detail of the first member listed is read after the list (see `check`).
        (
            "CHECK_USERS",
            vec![Probe::get("/api/v1/users", "limit=1", 200), refused],
        ),
        (
            "CHECK_POSITIONS",
            vec![Probe::get("/api/v1/positions", "", 200)],
        ),
        ("CHECK_TEAMS", vec![Probe::get("/api/v1/teams", "", 200)]),
        // Admins only: anonymous is refused by the route itself, which proves it starts.
        (
            "CHECK_AUDIT",
            vec![Probe::get("/api/v1/audit-logs", "", 401)],
        ),
        (
            "CHECK_BATCH",
            vec![Probe::get("/api/v1/batch/schedule", "", 200)],
        ),
        ("CHECK_DOCS", vec![Probe::get("/api/openapi.json", "", 200)]),
    ]
}

/// An API Gateway HTTP API (payload 2.0) event for `probe`, shaped like a real one.
pub fn event(probe: &Probe) -> Value {
    let mut headers = json!({ "accept": "application/json", "host": "deploy-check.internal", "user-agent": "deploy-check" });
    if probe.refused_token {
        headers["authorization"] = json!("Bearer deploy-check.not-a.token");
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": probe.path,
        "rawQueryString": probe.query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "deploy-check",
            "domainName": "deploy-check.internal",
            "domainPrefix": "deploy-check",
            "http": { "method": "GET", "path": probe.path, "protocol": "HTTP/1.1",
                      "sourceIp": "127.0.0.1", "userAgent": "deploy-check" },
            "requestId": "deploy-check",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000_i64
        },
        "isBase64Encoded": false
    })
}

/// Runs every probe against the versions the environment names; the failures, in words.
pub async fn check(lambda: &aws_sdk_lambda::Client) -> Vec<String> {
    let mut failures = Vec::new();
    for (variable, probes) in probes() {
        let Some(version) = std::env::var(variable).ok().filter(|v| !v.is_empty()) else {
            failures.push(format!("{variable} is not set: no version to check"));
            continue;
        };
        for probe in probes {
            match invoke(lambda, &version, &probe).await {
                Ok((status, body)) if status == probe.status => {
                    if probe.path == "/api/v1/users"
                        && let Some(id) = body
                            .get(0)
                            .and_then(|u| u.get("id"))
                            .and_then(Value::as_i64)
                    {
                        let detail = Probe::get(&format!("/api/v1/users/{id}"), "", 200);
                        match invoke(lambda, &version, &detail).await {
                            Ok((200, _)) => {}
                            Ok((status, _)) => failures.push(format!(
                                "{version}: GET {} answered {status}, not 200",
                                detail.path
                            )),
                            Err(error) => {
                                failures.push(format!("{version}: GET {}: {error}", detail.path))
                            }
                        }
                    }
                }
                Ok((status, body)) => failures.push(format!(
                    "{version}: GET {}?{} answered {status}, not {}: {}",
                    probe.path,
                    probe.query,
                    probe.status,
                    body.to_string().chars().take(200).collect::<String>()
                )),
                Err(error) => failures.push(format!("{version}: GET {}: {error}", probe.path)),
            }
        }
    }
    failures
}

/// Invokes `version` with the event of `probe`: the status and the JSON body (or Null).
async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    version: &str,
    probe: &Probe,
) -> Result<(u16, Value), String> {
    let payload = serde_json::to_vec(&event(probe)).map_err(|e| e.to_string())?;
    let call = lambda
        .invoke()
        .function_name(version)
        .payload(Blob::new(payload))
        .send();
    let output = tokio::time::timeout(Duration::from_secs(25), call)
        .await
        .map_err(|_| "no answer within 25 s".to_owned())?
        .map_err(|e| {
            format!(
                "invoke failed: {}",
                aws_sdk_lambda::error::DisplayErrorContext(e)
            )
        })?;
    let answer: Value = output
        .payload()
        .map(|p| serde_json::from_slice(p.as_ref()).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    if let Some(error) = output.function_error() {
        return Err(format!("function error {error}: {answer}"));
    }
    let status = answer
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| format!("not an HTTP answer: {answer}"))?;
    let body = answer
        .get("body")
        .and_then(Value::as_str)
        .filter(|_| answer.get("isBase64Encoded") != Some(&Value::Bool(true)))
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Ok((status, body))
}

/// The hook: runs the checks, then tells CodeDeploy. An answer that cannot be delivered
/// fails the invocation (CodeDeploy then times the hook out and rolls back).
pub async fn handle(
    lambda: &aws_sdk_lambda::Client,
    codedeploy: &aws_sdk_codedeploy::Client,
    event: HookEvent,
) -> Result<Value, String> {
    let failures = check(lambda).await;
    let status = if failures.is_empty() {
        tracing::info!(deployment = %event.deployment_id, "every new version passed its checks");
        LifecycleEventStatus::Succeeded
    } else {
        tracing::error!(deployment = %event.deployment_id, ?failures, "new versions failed their checks: rolling back");
        LifecycleEventStatus::Failed
    };
    codedeploy
        .put_lifecycle_event_hook_execution_status()
        .deployment_id(&event.deployment_id)
        .lifecycle_event_hook_execution_id(&event.execution_id)
        .status(status.clone())
        .send()
        .await
        .map_err(|e| {
            format!(
                "PutLifecycleEventHookExecutionStatus: {}",
                aws_sdk_codedeploy::error::DisplayErrorContext(e)
            )
        })?;
    Ok(json!({ "status": status.as_str(), "failures": failures }))
}
