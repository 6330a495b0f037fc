//! The `slack-sync` function: Slack's members into the user directory.
//!
//! One run: list every member (`users.list`, pages of 200), leave out those API.md
//! skips, read the others' profiles (`users.profile.get`, a few at a time), map them
//! (`mapping`), compare them with the users loaded once up front, and create or update
//! only where something differs (`sync`). Each run is a row of `batch_run`
//! (`shared::batch`): queued, running, then succeeded or failed with its stats.
//!
//! Entry points: [`handle`] for Lambda (an EventBridge Scheduler event, or a force-run's
//! `{"run_id": N}` from the batch function), [`run`] for a queued run (the Lambda
//! handler, the local server's background task, the command line).

pub mod mapping;
pub mod slack;
pub mod sync;

use futures::{StreamExt, TryStreamExt, stream};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::{Value, json};
use shared::batch::{self, Enqueued, RunStats, RunStatus, SLACK_SYNC, Trigger};
use shared::{AppState, Database};
use std::time::Duration;
use tokio::time::Instant;

pub use slack::{SlackClient, SlackError, SlackSettings};

use sync::{Applied, Directory};

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

/// What an invocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub run_id: i64,
    /// `succeeded` or `failed` for a run this invocation carried out; `already_running`
    /// when a scheduled run met an active one; otherwise the run's status as found
    /// (a repeated force-run invocation finds it `running` or finished, and does nothing).
    pub status: String,
    pub stats: Option<RunStats>,
    pub error: Option<String>,
    /// Position names in Slack profiles that match no position.
    pub unknown_positions: u32,
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
    let outcome = match parse_event(&event.payload)? {
        Invocation::Scheduled => scheduled(state, settings, Trigger::Schedule, None).await?,
        Invocation::ForceRun { run_id } => run(state, settings, run_id).await?,
    };
    finished(outcome)
}

/// Queues a run and carries it out, unless one is active: then says so.
pub async fn scheduled(
    state: &AppState,
    settings: &SlackSettings,
    trigger: Trigger,
    requested_by: Option<&str>,
) -> Result<Outcome, Failure> {
    let pool = state.db.pool().await?;
    match batch::enqueue(pool, SLACK_SYNC, trigger, requested_by).await? {
        Enqueued::AlreadyRunning(run_id) => {
            tracing::info!(
                run_id,
                "a Slack sync is already queued or running; not starting another"
            );
            Ok(Outcome {
                run_id,
                status: "already_running".into(),
                stats: None,
                error: None,
                unknown_positions: 0,
            })
        }
        Enqueued::Queued(run_id) => run(state, settings, run_id).await,
    }
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

/// Carries out queued run `run_id`: marks it running, syncs, records how it ended. A
/// run that is not queued (a repeated invocation) is left alone.
pub async fn run(
    state: &AppState,
    settings: &SlackSettings,
    run_id: i64,
) -> Result<Outcome, Failure> {
    let pool = state.db.pool().await?;
    let mut conn = pool.acquire().await.map_err(shared::Error::from)?;
    if !batch::start(&mut conn, run_id).await? {
        let status = batch::get(&mut conn, run_id)
            .await?
            .map_or("unknown", |run| run.status.as_str());
        tracing::warn!(run_id, status, "run is not queued; nothing to do");
        return Ok(Outcome {
            run_id,
            status: status.into(),
            stats: None,
            error: None,
            unknown_positions: 0,
        });
    }
    drop(conn);
    tracing::info!(run_id, "Slack sync started");
    let report = sync(&state.db, settings).await;
    let error = report.error.as_ref().map(ToString::to_string);
    record_end(pool, run_id, &report.stats, error.as_deref()).await?;
    let status = if error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    match &error {
        Some(error) => tracing::error!(run_id, stats = ?report.stats, %error, "Slack sync failed"),
        None => tracing::info!(
            run_id,
            stats = ?report.stats,
            unknown_positions = report.unknown_positions,
            "Slack sync succeeded"
        ),
    }
    Ok(Outcome {
        run_id,
        status: status.as_str().into(),
        stats: Some(report.stats),
        error,
        unknown_positions: report.unknown_positions,
    })
}

/// How long a finished run keeps trying to record its end while the database is away.
const RECORD_PATIENCE: Duration = Duration::from_secs(90);

/// Records how run `run_id` ended. The database may be what stopped the run: then this
/// keeps trying for a while, whatever the error (a server coming back can refuse
/// briefly in more ways than "unavailable"), because a run left `running` blocks every
/// force-run of the job until it counts as abandoned (half an hour).
async fn record_end(
    pool: &sqlx::MySqlPool,
    run_id: i64,
    stats: &RunStats,
    error: Option<&str>,
) -> Result<(), shared::Error> {
    let deadline = Instant::now() + RECORD_PATIENCE;
    let mut delay = Duration::from_millis(500);
    loop {
        let attempt = async {
            let mut conn = pool.acquire().await?;
            batch::finish(&mut conn, run_id, Some(stats), error).await
        };
        match attempt.await {
            Ok(_) => return Ok(()),
            Err(error) if Instant::now() + delay < deadline => {
                tracing::warn!(run_id, %error, ?delay, "cannot record the run's end yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Why a sync stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error("database: {0}")]
    Database(#[from] shared::Error),
}

/// What a sync did, and why it stopped if it stopped early.
#[derive(Debug)]
pub struct Report {
    pub stats: RunStats,
    pub unknown_positions: u32,
    pub error: Option<SyncError>,
}

/// One pass over Slack's members. Stops early on an auth error from Slack, a member
/// list that cannot be read, or a database that cannot be reached; a member whose
/// profile cannot be read, or whose row cannot be written, is counted `failed` and
/// the pass goes on.
pub async fn sync(db: &Database, settings: &SlackSettings) -> Report {
    let mut report = Report {
        stats: RunStats::default(),
        unknown_positions: 0,
        error: None,
    };
    if let Err(error) = sync_into(db, settings, &mut report).await {
        report.error = Some(error);
    }
    report
}

async fn sync_into(
    db: &Database,
    settings: &SlackSettings,
    report: &mut Report,
) -> Result<(), SyncError> {
    let client = SlackClient::new(settings)?;
    let members = client.list_members().await?;
    let mut candidates = Vec::with_capacity(members.len());
    for member in members {
        match mapping::skip_reason(&member) {
            Some(reason) => {
                tracing::debug!(slack_id = %member.id, reason, "member skipped");
                report.stats.skipped += 1;
            }
            None => candidates.push(member),
        }
    }

    // Every profile first, a few at a time; an auth error, or Slack refusing
    // connections, stops the lot at once (before anything is written).
    let client = &client;
    let mut profiles: Vec<(usize, String, Result<Value, SlackError>)> =
        stream::iter(candidates.into_iter().enumerate())
            .map(|(index, member)| async move {
                let profile = client.profile(&member.id).await;
                (index, member.id, profile)
            })
            .buffer_unordered(settings.concurrency.max(1))
            .map(|(index, id, profile)| match profile {
                Err(error) if error.is_fatal() => Err(error),
                profile => Ok((index, id, profile)),
            })
            .try_collect()
            .await?;
    // Slack's order, so that new users get ids in a stable order.
    profiles.sort_by_key(|(index, _, _)| *index);

    let pool = db.pool().await?;
    let directory = {
        let mut conn = pool.acquire().await.map_err(shared::Error::from)?;
        Directory::load(&mut conn).await?
    };
    for (_, slack_id, profile) in profiles {
        let profile = match profile {
            Ok(profile) => profile,
            Err(error) => {
                tracing::warn!(%slack_id, %error, "profile unreadable; member counted failed");
                report.stats.failed += 1;
                continue;
            }
        };
        let mapped = mapping::map_profile(&slack_id, &profile, &directory.positions);
        if !mapped.unknown_positions.is_empty() {
            tracing::info!(%slack_id, names = ?mapped.unknown_positions, "unknown positions ignored");
            report.unknown_positions += mapped.unknown_positions.len() as u32;
        }
        let plan = sync::plan(directory.user(&slack_id), &mapped);
        match sync::apply(pool, plan).await {
            Ok(Applied::Created(id)) => {
                tracing::debug!(%slack_id, id, "user created");
                report.stats.created += 1;
            }
            Ok(Applied::Updated) => report.stats.updated += 1,
            Ok(Applied::Unchanged) => report.stats.unchanged += 1,
            Err(error @ shared::Error::Unavailable(_)) => return Err(error.into()),
            Err(error) => {
                tracing::warn!(%slack_id, %error, "member could not be written; counted failed");
                report.stats.failed += 1;
            }
        }
    }
    Ok(())
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
