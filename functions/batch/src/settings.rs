//! The batch function's settings: each job's schedule and how a queued run is carried
//! out. Built once, in `main` (the Lambda function's or the local server's), and
//! handed to the router as its state.

use std::sync::Arc;

use shared::domain::batch;
use shared::platform::config::ConfigError;

use crate::{Cron, Dispatcher, Zone};

/// The time zone schedules are written in, unless `BATCH_TIMEZONE` says otherwise.
pub const DEFAULT_TIMEZONE: &str = "Asia/Seoul";

/// Each job's schedule, as EventBridge Scheduler runs it.
#[derive(Debug, Clone)]
pub struct Schedules {
    pub zone: Zone,
    /// The Slack sync's expression (`SLACK_SYNC_SCHEDULE`), parsed.
    pub slack_sync: Option<(String, Cron)>,
}

impl Schedules {
    /// `slack_sync`: `None` when no schedule is configured (the local default).
    pub fn new(timezone: &str, slack_sync: Option<&str>) -> Result<Self, ConfigError> {
        let zone = Zone::parse(timezone).map_err(|reason| ConfigError::Invalid {
            name: "BATCH_TIMEZONE",
            reason,
        })?;
        let slack_sync = slack_sync
            .map(|expression| {
                Cron::parse(expression)
                    .map(|cron| (expression.trim().to_owned(), cron))
                    .map_err(|reason| ConfigError::Invalid {
                        name: "SLACK_SYNC_SCHEDULE",
                        reason,
                    })
            })
            .transpose()?;
        Ok(Self { zone, slack_sync })
    }

    /// `BATCH_TIMEZONE` (default `Asia/Seoul`) and `SLACK_SYNC_SCHEDULE` (default none).
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let timezone = var("BATCH_TIMEZONE").unwrap_or_else(|| DEFAULT_TIMEZONE.to_owned());
        Self::new(timezone.trim(), var("SLACK_SYNC_SCHEDULE").as_deref())
    }

    pub(crate) fn of(&self, job: &str) -> Option<&(String, Cron)> {
        match job {
            batch::SLACK_SYNC => self.slack_sync.as_ref(),
            _ => None,
        }
    }
}

/// What the handlers need besides `AppState`.
#[derive(Debug, Clone)]
pub struct Batch {
    pub schedules: Schedules,
    pub dispatcher: Dispatcher,
}

impl Batch {
    /// Schedules from the environment; runs in this process. What the local server uses.
    pub fn in_process(config: &shared::Config) -> Result<Self, ConfigError> {
        Ok(Self {
            schedules: Schedules::from_env()?,
            dispatcher: Dispatcher::in_process(config)?,
        })
    }

    /// Schedules from the environment; runs on Lambda when `SLACK_SYNC_FUNCTION_NAME`
    /// is set, else in this process. What the Lambda function uses.
    pub async fn from_env(config: &shared::Config) -> Result<Self, ConfigError> {
        Ok(Self {
            schedules: Schedules::from_env()?,
            dispatcher: Dispatcher::from_env(config).await?,
        })
    }
}

impl Batch {
    /// What the local server runs with: [`Batch::in_process`], or, when the
    /// configuration cannot be used, that logged and the schedule shown as unconfigured
    /// (force-runs still run here, against Slack's default address).
    pub fn local(config: &shared::Config) -> Self {
        Self::in_process(config).unwrap_or_else(|error| {
            tracing::error!(%error, "batch configuration unusable: schedules shown as unset");
            Self {
                schedules: Schedules {
                    zone: Zone::parse(DEFAULT_TIMEZONE).unwrap_or(Zone {
                        name: "UTC",
                        offset: time::UtcOffset::UTC,
                    }),
                    slack_sync: None,
                },
                dispatcher: Dispatcher::InProcess(Arc::new(slack_sync::SlackSettings::new(
                    slack_sync::slack::DEFAULT_BASE_URL,
                    config.slack_token.clone(),
                ))),
            }
        })
    }
}
