//! The `batch` function: the jobs, their schedule, force-runs and run history.
//!
//! Runs are rows of `batch_run` (`shared::domain::batch`), one active per job. A force-run
//! queues a run and hands it to the [`Dispatcher`]: deployed, an asynchronous invoke of
//! the job's function; locally, a background task of the server. The schedule itself
//! is EventBridge Scheduler's; this function only shows it, with the next time it fires
//! computed from the same expression (`cron`).
//!
//! Reads top to bottom: the state, the router, the handlers, the query helpers; the
//! settings are in `settings`, the answers' shapes in `views`.

pub mod cron;
pub mod dispatch;
mod settings;
mod views;

use std::sync::Arc;

use axum::extract::{FromRef, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use shared::domain::admin::Admin;
use shared::domain::batch::{self, Enqueued, Job, Run, Trigger};
use shared::platform::input::{RuleError, query};
use shared::platform::openapi::{
    AdminErrors, DbUnavailable, ErrorBody, NoToken, NotAdmin, TokenDenied, ValidationErrorBody,
};
use shared::platform::responses::{BadId, BadParams, BadQuery};
use shared::{AppState, Error, FieldError};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use cron::{Cron, Zone};
pub use dispatch::Dispatcher;
pub use settings::{Batch, DEFAULT_TIMEZONE, Schedules};
pub use views::{ForceRunAnswer, ForceRunResult, ForceRunStatus, JobView, RunPage, ScheduleAnswer};

/// What the handlers run with: the shared state and the batch settings, both built
/// once, in `main`. Handlers take either part with `State`.
#[derive(Clone)]
pub struct BatchState {
    pub app: AppState,
    pub batch: Arc<Batch>,
}

impl FromRef<BatchState> for AppState {
    fn from_ref(state: &BatchState) -> Self {
        state.app.clone()
    }
}

impl FromRef<BatchState> for Arc<Batch> {
    fn from_ref(state: &BatchState) -> Self {
        state.batch.clone()
    }
}

/// The routes with the local server's settings, [`Batch::local`], read from the
/// environment now: for callers without a `main` of their own (tests). A `main` builds
/// its settings once and calls [`router_with`].
pub fn router(state: AppState) -> Router {
    let batch = Batch::local(&state.config);
    router_with(state, batch)
}

/// The routes, running with `batch`.
pub fn router_with(app: AppState, batch: Batch) -> Router {
    let state = BatchState {
        app,
        batch: Arc::new(batch),
    };
    api().with_state(state).into()
}

/// The OpenAPI description of every route `router` serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The routes and their documentation, registered together so that they cannot diverge.
fn api() -> OpenApiRouter<BatchState> {
    OpenApiRouter::default()
        .routes(routes!(schedule))
        .routes(routes!(force_run))
        .routes(routes!(list_runs))
        .routes(routes!(show_run))
}

/// `GET /batch/schedule`: every job (or those with `tag`), its schedule and last run.
#[utoipa::path(
    get,
    path = "/api/v1/batch/schedule",
    operation_id = "batch_schedule",
    tag = "batch",
    summary = "The batch jobs and their schedule",
    description = "Anyone. Every job (or the jobs carrying `tag`; an unknown tag lists none), its \
        EventBridge cron expression and time zone, when it runs next, and its latest run. \
        Where no schedule is configured (locally, by default) `schedule` and `next_run` are null.",
    params(
        ("tag" = Option<String>, Query, min_length = 1, max_length = 64, description = "Only jobs with this tag, e.g. `slack`."),
    ),
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "The jobs.", body = ScheduleAnswer),
        BadQuery,
        (status = 422, description = "A bad parameter value.", body = ValidationErrorBody),
        TokenDenied,
        DbUnavailable,
    ),
)]
async fn schedule(
    State(state): State<AppState>,
    State(batch): State<Arc<Batch>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ScheduleAnswer>, Error> {
    let mut tag = None;
    query::read(raw.as_deref(), |name, value| {
        if name == "tag" {
            tag = Some(job_text(value)?);
        }
        Ok(())
    })?;
    let jobs: Vec<Job> = match tag {
        Some(tag) => batch::jobs_tagged(&tag),
        None => batch::JOBS.to_vec(),
    };
    let last_runs = if jobs.is_empty() {
        Vec::new()
    } else {
        let mut conn = state.db.acquire().await?;
        batch::last_runs(&mut conn, &jobs).await?
    };
    let now = OffsetDateTime::now_utc();
    let schedules = &batch.schedules;
    let jobs = jobs
        .into_iter()
        .map(|job| {
            let schedule = schedules.of(job.name);
            let last = last_runs.iter().find(|run| run.job == job.name);
            JobView {
                name: job.name.to_owned(),
                tags: tags(job),
                schedule: schedule.map(|(expression, _)| expression.clone()),
                timezone: schedules.zone.name.to_owned(),
                next_run: schedule
                    .and_then(|(_, cron)| cron.next_after(now, schedules.zone))
                    .and_then(|at| at.to_offset(time::UtcOffset::UTC).format(&Rfc3339).ok()),
                last_run: last.map(|run| run.started_at.clone().unwrap_or(run.queued_at.clone())),
                last_status: last.map(|run| run.status),
            }
        })
        .collect();
    Ok(Json(ScheduleAnswer { jobs }))
}

/// `POST /batch/force-run?name=` or `?tag=`: queue a run of each job now.
#[utoipa::path(
    post,
    path = "/api/v1/batch/force-run",
    operation_id = "batch_force_run",
    tag = "batch",
    summary = "Run jobs now",
    description = "Admins only. Exactly one of `name` and `tag`. Queues a run of the job (or of every \
        job with the tag) and starts it in the background, unless a run of it is queued or running \
        already: then that run's id, with status `already_running`. Follow a run with \
        `GET /api/v1/batch/runs/{id}`.",
    params(
        ("name" = Option<String>, Query, min_length = 1, max_length = 64, description = "The job, e.g. `slack-sync`."),
        ("tag" = Option<String>, Query, min_length = 1, max_length = 64, description = "Every job with this tag, e.g. `slack`."),
    ),
    security(("waffle_sso" = [])),
    responses(
        (status = 202, description = "Queued, or already running.", body = ForceRunAnswer),
        BadQuery,
        NoToken,
        NotAdmin,
        (status = 404, description = "No job of that name, or none with that tag.", body = ErrorBody),
        (status = 422, description = "Not exactly one of `name` and `tag`, or a bad value.", body = ValidationErrorBody),
        (status = 503, description = "The database is unreachable, or the run could not be started (it is recorded as failed).", body = ErrorBody, headers(("Retry-After" = u32))),
    ),
)]
async fn force_run(
    State(state): State<AppState>,
    State(batch): State<Arc<Batch>>,
    Admin(admin): Admin,
    RawQuery(raw): RawQuery,
) -> Result<(StatusCode, Json<ForceRunAnswer>), Error> {
    let (mut name, mut tag) = (None, None);
    query::read(raw.as_deref(), |param, value| {
        match param {
            "name" => name = Some(job_text(value)?),
            "tag" => tag = Some(job_text(value)?),
            _ => {}
        }
        Ok(())
    })?;
    let jobs = match (name, tag) {
        (Some(name), None) => {
            vec![
                batch::job(&name)
                    .ok_or_else(|| Error::NotFound(format!("job {name} not found")))?,
            ]
        }
        (None, Some(tag)) => {
            let jobs = batch::jobs_tagged(&tag);
            if jobs.is_empty() {
                return Err(Error::NotFound(format!("no job has tag {tag}")));
            }
            jobs
        }
        _ => {
            return Err(Error::Validation(vec![FieldError {
                loc: vec!["query".into()],
                msg: "Send exactly one of name and tag".into(),
                kind: "value_error".into(),
            }]));
        }
    };
    // The runs are queued on connections of their own.
    let requested_by = admin.release();
    let pool = state.db.pool().await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let enqueued = batch::enqueue(pool, job.name, Trigger::Manual, Some(&requested_by)).await?;
        let status = match enqueued {
            Enqueued::AlreadyRunning(_) => ForceRunStatus::AlreadyRunning,
            Enqueued::Queued(run_id) => {
                if let Err(reason) = batch.dispatcher.dispatch(&state, job.name, run_id).await {
                    tracing::error!(run_id, job = job.name, %reason, "could not start the run");
                    let mut conn = pool.acquire().await?;
                    let error = format!("could not start: {reason}");
                    batch::finish(&mut conn, run_id, None, Some(&error)).await?;
                    return Err(Error::Unavailable(format!(
                        "run {run_id} of {} could not be started; it is recorded as failed",
                        job.name
                    )));
                }
                tracing::info!(run_id, job = job.name, by = %requested_by, "run forced");
                ForceRunStatus::Queued
            }
        };
        results.push(ForceRunResult {
            name: job.name.to_owned(),
            tags: tags(job),
            run_id: enqueued.run_id(),
            status,
        });
    }
    Ok((StatusCode::ACCEPTED, Json(ForceRunAnswer { results })))
}

/// `GET /batch/runs`: the run history, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/batch/runs",
    operation_id = "batch_runs",
    tag = "batch",
    summary = "The run history",
    description = "Admins only. Runs newest first, of every job or of `name`'s.",
    params(
        ("name" = Option<String>, Query, min_length = 1, max_length = 64, description = "Only runs of this job."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many runs; 100 when absent."),
    ),
    security(("waffle_sso" = [])),
    responses(
        (status = 200, description = "The runs, newest first.", body = RunPage),
        BadQuery,
        AdminErrors,
        BadParams,
    ),
)]
async fn list_runs(
    Admin(mut admin): Admin,
    RawQuery(raw): RawQuery,
) -> Result<Json<RunPage>, Error> {
    let (mut name, mut limit) = (None, DEFAULT_LIMIT);
    query::read(raw.as_deref(), |param, value| {
        match param {
            "name" => name = Some(job_text(value)?),
            "limit" => limit = query::limit(value, MAX_LIMIT)?,
            _ => {}
        }
        Ok(())
    })?;
    let items = batch::list(admin.conn(), name.as_deref(), limit).await?;
    Ok(Json(RunPage { items }))
}

/// `GET /batch/runs/{id}`: one run.
#[utoipa::path(
    get,
    path = "/api/v1/batch/runs/{id}",
    operation_id = "batch_run",
    tag = "batch",
    summary = "One run",
    description = "Admins only. A run: its trigger, status, times, stats and error.",
    params(("id" = i64, Path, minimum = 1, description = "The run's id.")),
    security(("waffle_sso" = [])),
    responses(
        (status = 200, description = "The run.", body = Run),
        AdminErrors,
        (status = 404, description = "No such run.", body = ErrorBody),
        BadId,
    ),
)]
async fn show_run(Admin(mut admin): Admin, Path(id): Path<String>) -> Result<Json<Run>, Error> {
    let id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        Error::Validation(vec![FieldError::path(
            "id",
            "Input should be a positive integer",
            "int_parsing",
        )])
    })?;
    let run = batch::get(admin.conn(), id)
        .await?
        .ok_or_else(|| Error::not_found("run"))?;
    Ok(Json(run))
}

fn tags(job: Job) -> Vec<String> {
    job.tags.iter().map(|t| (*t).to_owned()).collect()
}

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// A job name or tag: 1 to 64 characters (the width of the `job` column).
fn job_text(value: &str) -> Result<String, RuleError> {
    query::text(value, 1, 64)
}
