//! `Custom::Migrations`: the CloudFormation custom resource that runs `upgrade head` on
//! every deploy, before the API functions (which depend on it) are updated.
//!
//! CloudFormation invokes the function asynchronously and then waits for a document PUT
//! to the request's pre-signed `ResponseURL`. Every request gets an answer, SUCCESS or
//! FAILED, so a failed migration fails (and rolls back) the deploy instead of leaving
//! the stack waiting.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::Database;
use shared::platform::migrations::{Command, MigrateError, Target};

use crate::{Failure, execute};

/// CloudFormation keeps at most 4 KiB of a response; the reason is cut well below that.
const MAX_REASON_CHARS: usize = 1000;
const PUT_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

/// The fields of a CloudFormation custom resource request this function reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub request_type: RequestType,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_properties: Value,
    #[serde(default)]
    pub old_resource_properties: Value,
}

impl Request {
    /// A custom resource request, as opposed to a `{"command": ...}` event.
    pub fn matches(payload: &Value) -> bool {
        payload.get("RequestType").is_some() && payload.get("ResponseURL").is_some()
    }

    /// An Update that CloudFormation sends while rolling back a failed deploy: it carries
    /// the previous properties, so its `DeployedAt` (the workflow's clock) goes backwards.
    /// Forward deploys always move it forward, even a redeploy of an older tag.
    fn is_rollback(&self) -> bool {
        let deployed_at = |props: &Value| -> Option<u64> {
            match props.get("DeployedAt")? {
                Value::String(s) => s.trim().parse().ok(),
                Value::Number(n) => n.as_u64(),
                _ => None,
            }
        };
        self.request_type == RequestType::Update
            && matches!(
                (deployed_at(&self.resource_properties), deployed_at(&self.old_resource_properties)),
                (Some(new), Some(old)) if new < old
            )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Success,
    Failed,
}

/// The document PUT to the response URL.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub status: Verdict,
    pub reason: String,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    pub no_echo: bool,
    pub data: Value,
}

/// Decides, answers CloudFormation, and returns what was sent. An error means the answer
/// could not be delivered: the invocation fails, so Lambda retries it.
pub async fn handle(db: Result<&Database, &str>, request: Request) -> Result<Value, Failure> {
    let response = decide(db, &request).await;
    match response.status {
        Verdict::Success => tracing::info!(reason = %response.reason, "custom resource: SUCCESS"),
        Verdict::Failed => tracing::error!(reason = %response.reason, "custom resource: FAILED"),
    }
    let body = serde_json::to_value(&response).map_err(|e| Failure::Respond(e.to_string()))?;
    send(&request.response_url, &body).await?;
    Ok(body)
}

async fn decide(db: Result<&Database, &str>, request: &Request) -> Response {
    let answer = |status: Verdict, reason: String, data: Value| Response {
        status,
        reason: truncate(&reason),
        // Kept stable, so an Update never makes CloudFormation delete the "old" resource.
        physical_resource_id: request
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| format!("{}-schema", request.logical_resource_id)),
        stack_id: request.stack_id.clone(),
        request_id: request.request_id.clone(),
        logical_resource_id: request.logical_resource_id.clone(),
        no_echo: false,
        data,
    };
    let release = request
        .resource_properties
        .get("ReleaseId")
        .cloned()
        .unwrap_or(Value::Null);

    if request.request_type == RequestType::Delete {
        return answer(
            Verdict::Success,
            "the schema is left as it is: migrations never go down on stack deletion".into(),
            json!({}),
        );
    }
    if request.is_rollback() {
        return answer(
            Verdict::Success,
            "rollback: the schema is left as it is (migrations never go down on deploy)".into(),
            json!({}),
        );
    }
    let db = match db {
        Ok(db) => db,
        Err(config) => {
            return answer(
                Verdict::Failed,
                with_log_stream(format!("configuration: {config}")),
                json!({}),
            );
        }
    };
    let upgrade = Command::Upgrade {
        target: Target::Head,
    };
    match execute(db, &upgrade).await {
        Ok(status) => {
            let revision = status.current.map(|v| v.to_string()).unwrap_or_default();
            answer(
                Verdict::Success,
                format!("schema at revision {revision} (release {release})"),
                json!({ "Revision": revision }),
            )
        }
        // Redeploying an older release (a rollback by tag) must not fail on the newer
        // schema: revisions stay backward compatible, and only newer code may go down.
        Err(Failure::Migrate(MigrateError::NewerThanCode { version })) => answer(
            Verdict::Success,
            format!(
                "the schema has revision {version}, newer than this release knows; left as it is"
            ),
            json!({ "Revision": version.to_string() }),
        ),
        Err(failure) => answer(
            Verdict::Failed,
            with_log_stream(failure.to_string()),
            json!({}),
        ),
    }
}

fn with_log_stream(reason: String) -> String {
    match std::env::var("AWS_LAMBDA_LOG_STREAM_NAME") {
        Ok(stream) => format!("{reason} (log stream {stream})"),
        Err(_) => reason,
    }
}

fn truncate(reason: &str) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        Some((at, _)) => format!("{}…", &reason[..at]),
        None => reason.to_owned(),
    }
}

/// PUTs the answer, retrying briefly. No `Content-Type`: the URL is pre-signed without
/// one, and S3 refuses a request whose signed headers differ.
async fn send(url: &str, body: &Value) -> Result<(), Failure> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Failure::Respond(e.to_string()))?;
    let bytes = body.to_string().into_bytes();
    let mut last = String::new();
    for attempt in 1..=PUT_ATTEMPTS {
        match http.put(url).body(bytes.clone()).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("the response URL answered {}", r.status()),
            Err(e) => last = format!("the response URL could not be reached: {e}"),
        }
        tracing::warn!(attempt, error = %last, "custom resource answer not delivered");
        if attempt < PUT_ATTEMPTS {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
    }
    Err(Failure::Respond(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str, new: Value, old: Value) -> Request {
        serde_json::from_value(json!({
            "RequestType": kind,
            "ResponseURL": "http://127.0.0.1:1/r",
            "StackId": "s",
            "RequestId": "r",
            "LogicalResourceId": "Migrations",
            "ResourceProperties": new,
            "OldResourceProperties": old,
        }))
        .expect("a request")
    }

    #[test]
    fn a_rollback_is_an_update_whose_deploy_time_goes_backwards() {
        let at = |t: Value| json!({ "DeployedAt": t });
        assert!(request("Update", at(json!("100")), at(json!("200"))).is_rollback());
        assert!(request("Update", at(json!(100)), at(json!(200))).is_rollback());
        assert!(!request("Update", at(json!("200")), at(json!("100"))).is_rollback());
        assert!(!request("Update", at(json!("100")), at(json!("100"))).is_rollback());
        assert!(!request("Create", at(json!("100")), at(json!("200"))).is_rollback());
        assert!(!request("Update", json!({}), at(json!("200"))).is_rollback());
        assert!(!request("Update", at(json!("soon")), at(json!("200"))).is_rollback());
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let long = "가".repeat(MAX_REASON_CHARS + 5);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), MAX_REASON_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short"), "short");
    }
}
