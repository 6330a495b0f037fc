//! Batch jobs: the catalogue of jobs, and the `batch_run` table that records every run.
//!
//! One run of a job at a time, enforced by the database: while a run is queued or
//! running its `active_job` column holds the job's name, under a unique key, so a second
//! enqueue (from another Lambda execution environment, or the local server) meets the
//! key and gets the active run instead. Finishing a run clears the column.

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, MySqlConnection, MySqlPool};
use time::PrimitiveDateTime;
use utoipa::ToSchema;

use crate::domain::users::view::rfc3339;
use crate::platform::error::Error;

/// The Slack member sync.
pub const SLACK_SYNC: &str = "slack-sync";

/// A run queued or running for longer than this is taken as abandoned (its Lambda
/// timed out, the local server was stopped): the next enqueue marks it failed instead
/// of waiting on it forever. Lambda runs last at most 15 minutes.
pub const ABANDONED_AFTER_MINUTES: u32 = 30;

/// A job the batch function knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub name: &'static str,
    pub tags: &'static [&'static str],
}

/// Every job, in the order the schedule lists them.
pub const JOBS: &[Job] = &[Job {
    name: SLACK_SYNC,
    tags: &["slack"],
}];

/// The job named `name` exactly.
pub fn job(name: &str) -> Option<Job> {
    JOBS.iter().copied().find(|job| job.name == name)
}

/// The jobs carrying `tag`.
pub fn jobs_tagged(tag: &str) -> Vec<Job> {
    JOBS.iter()
        .copied()
        .filter(|job| job.tags.contains(&tag))
        .collect()
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The EventBridge schedule.
    Schedule,
    /// An admin's force-run, or the command line.
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// What a run of the Slack sync did, member by member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunStats {
    /// Users created for Slack members who had none.
    pub created: u32,
    /// Users whose fields the run changed.
    pub updated: u32,
    /// Users already matching Slack: nothing written.
    pub unchanged: u32,
    /// Members left out: deleted, bots, Slackbot, e-mail not confirmed.
    pub skipped: u32,
    /// Members whose profile could not be read or whose row could not be written.
    pub failed: u32,
}

/// One run, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Run {
    #[schema(examples(42))]
    pub id: i64,
    #[schema(examples("slack-sync"))]
    pub job: String,
    pub trigger: Trigger,
    /// The SSO id of the admin who forced the run; `null` for the schedule and the
    /// command line.
    #[schema(required = true, examples("1234"))]
    pub requested_by: Option<String>,
    pub status: RunStatus,
    /// RFC 3339, UTC.
    #[schema(format = DateTime, examples("2026-11-28T03:00:00.123456Z"))]
    pub queued_at: String,
    #[schema(required = true, format = DateTime)]
    pub started_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub finished_at: Option<String>,
    /// `null` until the run has finished (a failed run keeps what it did before failing).
    #[schema(required = true)]
    pub stats: Option<RunStats>,
    /// Why the run failed; `null` otherwise.
    #[schema(required = true, examples("Slack refused the token: invalid_auth"))]
    pub error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    job: String,
    trigger: String,
    requested_by: Option<String>,
    status: String,
    queued_at: PrimitiveDateTime,
    started_at: Option<PrimitiveDateTime>,
    finished_at: Option<PrimitiveDateTime>,
    stats: Option<String>,
    error: Option<String>,
}

// `stats` is JSON: LONGTEXT in MariaDB (binary to sqlx), JSON in MySQL 8; cast, it is
// text on both. `trigger` is a reserved word.
const COLUMNS: &str = "id, job, `trigger`, requested_by, status, queued_at, started_at, \
    finished_at, CAST(stats AS CHAR CHARACTER SET utf8mb4) AS stats, error";

impl From<RunRow> for Run {
    fn from(row: RunRow) -> Self {
        let trigger = if row.trigger == Trigger::Schedule.as_str() {
            Trigger::Schedule
        } else {
            Trigger::Manual
        };
        let status = RunStatus::parse(&row.status).unwrap_or_else(|| {
            tracing::warn!(id = row.id, status = %row.status, "unknown run status; shown as failed");
            RunStatus::Failed
        });
        let stats = row.stats.as_deref().and_then(|text| {
            serde_json::from_str(text)
                .inspect_err(|error| tracing::warn!(id = row.id, %error, "unreadable run stats"))
                .ok()
        });
        Self {
            id: row.id,
            job: row.job,
            trigger,
            requested_by: row.requested_by,
            status,
            queued_at: rfc3339(row.queued_at),
            started_at: row.started_at.map(rfc3339),
            finished_at: row.finished_at.map(rfc3339),
            stats,
            error: row.error,
        }
    }
}

/// The outcome of asking for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new run, queued.
    Queued(i64),
    /// A run of the job is queued or running already: this one.
    AlreadyRunning(i64),
}

impl Enqueued {
    pub fn run_id(self) -> i64 {
        match self {
            Self::Queued(id) | Self::AlreadyRunning(id) => id,
        }
    }
}

/// Queues a run of `job`, unless one is queued or running: then that one's id. The
/// unique key on `active_job` decides between racing callers, so exactly one of them
/// queues. A run active for longer than [`ABANDONED_AFTER_MINUTES`] is marked failed
/// first.
pub async fn enqueue(
    pool: &MySqlPool,
    job: &str,
    trigger: Trigger,
    requested_by: Option<&str>,
) -> Result<Enqueued, Error> {
    let mut conn = pool.acquire().await?;
    // A few rounds: the active run may finish between our insert and our read.
    for _ in 0..3 {
        let inserted = sqlx::query(
            "INSERT INTO batch_run (job, `trigger`, requested_by, status, queued_at, active_job) \
             VALUES (?, ?, ?, 'queued', UTC_TIMESTAMP(6), ?)",
        )
        .bind(job)
        .bind(trigger.as_str())
        .bind(requested_by)
        .bind(job)
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(result) => {
                let id = i64::try_from(result.last_insert_id())
                    .map_err(|_| Error::Internal(anyhow::anyhow!("run id out of range")))?;
                return Ok(Enqueued::Queued(id));
            }
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {}
            Err(other) => return Err(other.into()),
        }
        // The comparison cast to a signed integer: MariaDB and MySQL type it differently.
        let active: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, CAST(COALESCE(started_at, queued_at) \
               < UTC_TIMESTAMP(6) - INTERVAL ? MINUTE AS SIGNED) AS abandoned \
             FROM batch_run WHERE active_job = ?",
        )
        .bind(ABANDONED_AFTER_MINUTES)
        .bind(job)
        .fetch_optional(&mut *conn)
        .await?;
        match active {
            Some((id, 0)) => return Ok(Enqueued::AlreadyRunning(id)),
            Some((id, _)) => {
                tracing::warn!(id, job, "abandoning a run that has been active too long");
                let error = format!(
                    "abandoned: still queued or running after {ABANDONED_AFTER_MINUTES} minutes \
                     (the function timed out or the server stopped)"
                );
                finish_run(&mut conn, id, RunStatus::Failed, None, Some(&error)).await?;
            }
            // It finished meanwhile: try again.
            None => {}
        }
    }
    Err(Error::Unavailable(format!(
        "could not queue a run of {job}: runs keep starting and finishing; try again"
    )))
}

/// Marks queued run `id` running. `false` when it is not queued (already started,
/// finished, or unknown): a repeated invocation must not run it twice.
pub async fn start(conn: &mut MySqlConnection, id: i64) -> Result<bool, Error> {
    let result = sqlx::query(
        "UPDATE batch_run SET status = 'running', started_at = UTC_TIMESTAMP(6) \
         WHERE id = ? AND status = 'queued'",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Ends run `id`: succeeded with `stats`, or failed with `error` (and what it did
/// before failing, if anything). The job may run again from now on. `false` when the
/// run had finished already (say, marked abandoned meanwhile).
pub async fn finish(
    conn: &mut MySqlConnection,
    id: i64,
    stats: Option<&RunStats>,
    error: Option<&str>,
) -> Result<bool, Error> {
    let status = if error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    finish_run(conn, id, status, stats, error).await
}

async fn finish_run(
    conn: &mut MySqlConnection,
    id: i64,
    status: RunStatus,
    stats: Option<&RunStats>,
    error: Option<&str>,
) -> Result<bool, Error> {
    let stats = stats
        .map(serde_json::to_string)
        .transpose()
        .map_err(anyhow::Error::from)?;
    let result = sqlx::query(
        "UPDATE batch_run SET status = ?, finished_at = UTC_TIMESTAMP(6), \
         started_at = COALESCE(started_at, UTC_TIMESTAMP(6)), stats = ?, error = ?, \
         active_job = NULL \
         WHERE id = ? AND status IN ('queued', 'running')",
    )
    .bind(status.as_str())
    .bind(stats)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Run `id`, if there is one.
pub async fn get(conn: &mut MySqlConnection, id: i64) -> Result<Option<Run>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM batch_run WHERE id = ?");
    let row: Option<RunRow> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Run::from))
}

/// Up to `limit` runs (of `job`, when given), newest first.
pub async fn list(
    conn: &mut MySqlConnection,
    job: Option<&str>,
    limit: u32,
) -> Result<Vec<Run>, Error> {
    let rows: Vec<RunRow> = match job {
        Some(job) => {
            let sql =
                format!("SELECT {COLUMNS} FROM batch_run WHERE job = ? ORDER BY id DESC LIMIT ?");
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(job)
                .bind(limit)
                .fetch_all(conn)
                .await?
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM batch_run ORDER BY id DESC LIMIT ?");
            sqlx::query_as(AssertSqlSafe(sql))
                .bind(limit)
                .fetch_all(conn)
                .await?
        }
    };
    Ok(rows.into_iter().map(Run::from).collect())
}

/// The newest run of each of `jobs` that has one: one query (each a short walk down the
/// `(job, id)` index).
pub async fn last_runs(conn: &mut MySqlConnection, jobs: &[Job]) -> Result<Vec<Run>, Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = sqlx::QueryBuilder::new(format!(
        "SELECT {COLUMNS} FROM batch_run WHERE id IN (SELECT MAX(id) FROM batch_run WHERE job IN ("
    ));
    let mut names = sql.separated(", ");
    for job in jobs {
        names.push_bind(job.name);
    }
    sql.push(") GROUP BY job)");
    let rows: Vec<RunRow> = sql.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(Run::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_finds_jobs_by_name_and_tag() {
        assert_eq!(job("slack-sync").map(|j| j.tags), Some(&["slack"][..]));
        assert_eq!(job("Slack-Sync"), None);
        assert_eq!(jobs_tagged("slack").len(), 1);
        assert!(jobs_tagged("nothing").is_empty());
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
        ] {
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
    }
}
