//! The Lambda invocation: which event it is, and how its outcome becomes an answer or an
//! error.

use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use shared::AppState;
use shared::domain::batch::{RunStatus, Trigger};

use crate::run::{Outcome, run, scheduled};
use crate::slack::SlackSettings;

/// How long a run waits for its first connection while the database has no room.
const CONNECTION_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Why an invocation failed (the Lambda runtime reports it; the command line prints it).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("invalid event: {0}; expected an EventBridge Scheduler event or {{\"run_id\": <id>}}")]
    InvalidEvent(String),
    /// The run was recorded as failed, with this error.
    #[error("run {run_id} failed: {error}")]
    RunFailed { run_id: i64, error: String },
    #[error("{0}")]
    Database(#[from] shared::Error),
}

impl From<Failure> for lambda_runtime::Diagnostic {
    fn from(failure: Failure) -> Self {
        let error_type = match &failure {
            Failure::InvalidEvent(_) => "InvalidEvent",
            Failure::RunFailed { .. } => "SyncFailed",
            Failure::Database(_) => "DatabaseUnavailable",
        };
        Self {
            error_type: error_type.into(),
            error_message: failure.to_string(),
        }
    }
}

/// What Lambda hands the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    /// An EventBridge schedule: queue a run (unless one is active) and carry it out.
    Scheduled,
    /// A run the batch function queued.
    ForceRun { run_id: i64 },
}

/// Tells a force-run's `{"run_id": N}` from an EventBridge (Scheduler) event.
pub fn parse_event(event: &Value) -> Result<Invocation, Failure> {
    if let Some(run_id) = event.get("run_id") {
        return run_id
            .as_i64()
            .filter(|id| *id > 0)
            .map(|run_id| Invocation::ForceRun { run_id })
            .ok_or_else(|| Failure::InvalidEvent("run_id must be a positive integer".into()));
    }
    let source = event.get("source").and_then(Value::as_str);
    let detail_type = event.get("detail-type").and_then(Value::as_str);
    if matches!(source, Some("aws.scheduler" | "aws.events"))
        || detail_type == Some("Scheduled Event")
    {
        return Ok(Invocation::Scheduled);
    }
    Err(Failure::InvalidEvent(
        "neither a run_id nor a scheduled event".into(),
    ))
}

/// The Lambda handler. A run that fails is recorded, then fails the invocation too, so
/// it shows in the function's error metrics.
pub async fn handle(
    state: &AppState,
    settings: &SlackSettings,
    event: LambdaEvent<Value>,
) -> Result<Value, Failure> {
    let invocation = parse_event(&event.payload)?;
    // A burst of API requests may hold every connection of the account for a moment:
    // the sync waits for one rather than failing (docs/operations.md, "Connection budget").
    state.db.wait_for_connection(CONNECTION_PATIENCE).await?;
    let outcome = match invocation {
        Invocation::Scheduled => scheduled(state, settings, Trigger::Schedule, None).await?,
        Invocation::ForceRun { run_id } => run(state, settings, run_id).await?,
    };
    finished(outcome)
}

/// `Ok` with the outcome as JSON, unless the run failed.
pub fn finished(outcome: Outcome) -> Result<Value, Failure> {
    match outcome.error {
        Some(error) if outcome.status == RunStatus::Failed.as_str() => Err(Failure::RunFailed {
            run_id: outcome.run_id,
            error,
        }),
        _ => Ok(json!(outcome)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_told_apart() {
        let scheduler = json!({
            "version": "0",
            "id": "9f2b1c3e-0000-4000-8000-000000000000",
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "account": "123456789012",
            "time": "2026-11-28T03:00:00Z",
            "region": "ap-northeast-2",
            "resources": ["arn:aws:scheduler:ap-northeast-2:123456789012:schedule/default/slack-sync"],
            "detail": "{}"
        });
        assert_eq!(parse_event(&scheduler).unwrap(), Invocation::Scheduled);
        assert_eq!(
            parse_event(&json!({"run_id": 12})).unwrap(),
            Invocation::ForceRun { run_id: 12 }
        );
        for bad in [
            json!({"run_id": "12"}),
            json!({"run_id": 0}),
            json!({}),
            json!([1]),
        ] {
            assert!(
                matches!(parse_event(&bad), Err(Failure::InvalidEvent(_))),
                "{bad}"
            );
        }
    }
}
