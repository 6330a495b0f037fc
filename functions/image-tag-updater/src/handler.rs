//! The invocation: which events count, and what the function answers.

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

use crate::commit::commit_push;
use crate::config::{Config, ConfigError};
use crate::error::Failure;
use crate::event::{EcrImageAction, Push};
use crate::github::GitHub;

/// What an invocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Updated,
    Unchanged,
    Ignored,
}

/// The answer: `{"status", "files", "commit"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: Status,
    /// Paths of the files the commit changed, sorted.
    pub files: Vec<String>,
    pub commit: Option<String>,
}

impl Answer {
    pub(crate) fn without_commit(status: Status) -> Self {
        Self {
            status,
            files: Vec::new(),
            commit: None,
        }
    }
}

/// The function's state, built once per cold start.
pub struct Updater {
    ecr_host: String,
    github: GitHub,
}

impl Updater {
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            ecr_host: config.ecr_host.clone(),
            github: GitHub::new(
                &config.api_url,
                &config.repository,
                &config.branch,
                &config.token,
            )?,
        })
    }

    /// Handles one event: ignores what is not a successful tagged push, else commits the
    /// new tag to every manifest of the namespace that names this image. The event is
    /// an [`EcrImageAction`], or JSON read as one (the redrive's queued events).
    pub async fn process(&self, event: impl Into<EcrImageAction>) -> Result<Answer, Failure> {
        let event = event.into();
        let push = match Push::try_from(&event) {
            Ok(push) => push,
            Err(reason) => {
                let id = event.id.as_deref().unwrap_or("-");
                tracing::info!(event_id = id, %reason, "event ignored");
                return Ok(Answer::without_commit(Status::Ignored));
            }
        };
        let span = tracing::info_span!("push", repository = %push.repository, tag = %push.tag);
        commit_push(&self.github, &self.ecr_host, &push)
            .instrument(span)
            .await
    }
}

/// The Lambda handler. A failure is logged and fails the invocation.
pub async fn handle(
    updater: &Updater,
    event: LambdaEvent<EcrImageAction>,
) -> Result<Answer, Failure> {
    let answer = updater.process(event.payload).await;
    if let Err(failure) = &answer {
        tracing::error!(error = %failure, "invocation failed");
    }
    answer
}
