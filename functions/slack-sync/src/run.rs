//! The run lifecycle: a row of `batch_run` (`shared::domain::batch`) queued, marked running,
//! carried out by one sync pass, then recorded as succeeded or failed with its stats.

use std::time::Duration;

use serde::Serialize;
use shared::AppState;
use shared::domain::batch::{self, Enqueued, RunStats, RunStatus, SLACK_SYNC, Trigger};
use tokio::time::Instant;

use crate::handler::Failure;
use crate::pass::sync;
use crate::slack::SlackSettings;
use crate::{RUN_FAILED, RUN_SUCCEEDED};

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
        Some(error) => tracing::error!(run_id, stats = ?report.stats, %error, "{RUN_FAILED}"),
        None => tracing::info!(
            run_id,
            stats = ?report.stats,
            unknown_positions = report.unknown_positions,
            "{RUN_SUCCEEDED}"
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
