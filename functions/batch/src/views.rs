//! What the batch routes answer, as the OpenAPI document describes it.

use serde::Serialize;
use shared::domain::batch::{Run, RunStatus};
use utoipa::ToSchema;

/// A job and when it runs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    #[schema(examples("slack-sync"))]
    pub name: String,
    /// utoipa puts a list field's examples on its items: one tag.
    #[schema(examples("slack"))]
    pub tags: Vec<String>,
    /// The EventBridge cron expression; `null` where no schedule is configured.
    #[schema(required = true, examples("cron(0 12 ? * SAT *)"))]
    pub schedule: Option<String>,
    /// The time zone the expression is read in.
    #[schema(examples("Asia/Seoul"))]
    pub timezone: String,
    /// When the schedule fires next, RFC 3339 in UTC; `null` without a schedule.
    #[schema(required = true, format = DateTime, examples("2026-11-28T03:00:00Z"))]
    pub next_run: Option<String>,
    /// When the latest run started (or was queued, if it has not started), RFC 3339 in
    /// UTC; `null` if the job never ran.
    #[schema(required = true, format = DateTime)]
    pub last_run: Option<String>,
    /// The latest run's status; `null` if the job never ran.
    #[schema(required = true)]
    pub last_status: Option<RunStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleAnswer {
    pub jobs: Vec<JobView>,
}

/// What a force-run did for one job.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForceRunResult {
    #[schema(examples("slack-sync"))]
    pub name: String,
    pub tags: Vec<String>,
    /// The new run, or the one already queued or running.
    #[schema(examples(42))]
    pub run_id: i64,
    pub status: ForceRunStatus,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForceRunStatus {
    /// A new run was queued and handed to the job's runner.
    Queued,
    /// A run of the job is queued or running already; `run_id` is that run.
    AlreadyRunning,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ForceRunAnswer {
    pub results: Vec<ForceRunResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    /// Newest first.
    pub items: Vec<Run>,
}
