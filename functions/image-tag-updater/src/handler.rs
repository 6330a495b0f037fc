//! The invocation: which events count, what ECR must confirm, and what the function
//! answers.

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;

use crate::commit::commit_push;
use crate::config::{Config, ConfigError};
use crate::ecr::{Image, Registry};
use crate::error::Failure;
use crate::event::{EcrImageAction, Push};
use crate::github::GitHub;
use crate::{REFUSED, STALE};

/// What an invocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Updated,
    Unchanged,
    /// The manifests point at an image pushed later than the event's: nothing moved.
    Stale,
    /// Not a successful tagged push, or a push ECR does not confirm (refused).
    Ignored,
}

/// The answer: `{"status", "files", "commit"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: Status,
    /// Paths of the files the commit changed (would change, in a dry run), sorted.
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

/// An answer and, when the event was not acted on, why: the answer as the contract
/// shapes it, the reason for the redrive's listing and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub answer: Answer,
    pub reason: Option<String>,
}

impl Decision {
    pub(crate) fn answer(answer: Answer) -> Self {
        Self {
            answer,
            reason: None,
        }
    }

    pub(crate) fn not_acted(status: Status, reason: String) -> Self {
        Self {
            answer: Answer::without_commit(status),
            reason: Some(reason),
        }
    }
}

/// Whether a push is committed, or only worked out (`--redrive --dry-run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Commit,
    DryRun,
}

/// The function's state, built once per cold start.
pub struct Updater {
    ecr_host: String,
    account: String,
    region: String,
    github: GitHub,
    registry: Registry,
}

impl Updater {
    /// `sdk` reaches the function's own ECR (`shared::platform::aws::sdk_config()`).
    pub fn new(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            ecr_host: config.ecr_host.clone(),
            account: config.account.clone(),
            region: config.region.clone(),
            github: GitHub::new(
                &config.api_url,
                &config.repository,
                &config.branch,
                &config.token,
            )?,
            registry: Registry::new(sdk, &config.account),
        })
    }

    /// Handles one event: ignores what is not a successful tagged push, refuses what ECR
    /// does not confirm, answers `stale` when the manifests already point at a later
    /// push, else commits the new tag to every manifest of the namespace that names this
    /// image. The event is an [`EcrImageAction`], or JSON read as one (the redrive's).
    pub async fn process(&self, event: impl Into<EcrImageAction>) -> Result<Answer, Failure> {
        Ok(self.decide(event, Mode::Commit).await?.answer)
    }

    /// [`Self::process`], saying why an event was not acted on; in [`Mode::DryRun`] it
    /// reads ECR and GitHub as usual and writes nothing.
    pub async fn decide(
        &self,
        event: impl Into<EcrImageAction>,
        mode: Mode,
    ) -> Result<Decision, Failure> {
        let event = event.into();
        let id = event.id.as_deref().unwrap_or("-").to_owned();
        let push = match Push::try_from(&event) {
            Ok(push) => push,
            Err(reason) => {
                tracing::info!(event_id = %id, %reason, "event ignored");
                return Ok(Decision::not_acted(Status::Ignored, reason));
            }
        };
        let span = tracing::info_span!("push", event_id = %id, repository = %push.repository, tag = %push.tag);
        async {
            let pushed = match self.confirm(&event, &push).await? {
                Ok(image) => image,
                Err(reason) => {
                    // Answered, not failed: a retry or a redrive would be refused again,
                    // and a forged event must not sit in the queue for ever. Counted by
                    // the message (docs/operations.md, "Refused and stale events").
                    tracing::warn!(%reason, "{REFUSED}");
                    return Ok(Decision::not_acted(
                        Status::Ignored,
                        format!("refused: {reason}"),
                    ));
                }
            };
            let decision = commit_push(
                &self.github,
                &self.registry,
                &self.ecr_host,
                &push,
                &pushed,
                mode,
            )
            .await?;
            if decision.answer.status == Status::Stale {
                let reason = decision.reason.as_deref().unwrap_or_default();
                tracing::warn!(%reason, "{STALE}");
            }
            Ok(decision)
        }
        .instrument(span)
        .await
    }

    /// What ECR confirms of the push: the image under the tag, with the event's digest,
    /// in the function's own account and region. `Ok(Err(reason))`: refused;
    /// `Err`: ECR could not be asked (the invocation fails and is retried).
    async fn confirm(
        &self,
        event: &EcrImageAction,
        push: &Push,
    ) -> Result<Result<Image, String>, Failure> {
        let same = |value: &Option<String>, own: &str| value.as_deref() == Some(own);
        if !same(&event.account, &self.account) {
            return Ok(Err(format!(
                "the event's account {:?} is not this function's ({})",
                event.account.as_deref().unwrap_or("none"),
                self.account
            )));
        }
        if !same(&event.region, &self.region) {
            return Ok(Err(format!(
                "the event's region {:?} is not this function's ({})",
                event.region.as_deref().unwrap_or("none"),
                self.region
            )));
        }
        let Some(digest) = event.detail.image_digest.as_deref() else {
            return Ok(Err("the event names no image-digest".into()));
        };
        let Some(image) = self.registry.image(&push.repository, &push.tag).await? else {
            return Ok(Err(format!(
                "ECR has no image tagged {}:{}",
                push.repository, push.tag
            )));
        };
        if image.digest != digest {
            return Ok(Err(format!(
                "ECR's {}:{} is {}, not the event's {digest}",
                push.repository, push.tag, image.digest
            )));
        }
        Ok(Ok(image))
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
