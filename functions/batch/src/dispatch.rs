//! How a queued run gets carried out: deployed, an asynchronous invoke of the job's
//! Lambda function with `{"run_id": N}`; locally, a background task of the server.
//! Chosen once at start.

use std::sync::Arc;

use shared::AppState;
use shared::domain::batch::SLACK_SYNC;
use shared::platform::config::ConfigError;
use slack_sync::SlackSettings;

/// The environment variable naming the deployed `slack-sync` function.
pub const FUNCTION_NAME_VAR: &str = "SLACK_SYNC_FUNCTION_NAME";

#[derive(Clone)]
pub enum Dispatcher {
    /// `Invoke` with `InvocationType=Event` on this function.
    #[cfg(feature = "aws")]
    Lambda {
        client: aws_sdk_lambda::Client,
        function_name: String,
    },
    /// A tokio task in this process, with these Slack settings.
    InProcess(Arc<SlackSettings>),
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            #[cfg(feature = "aws")]
            Self::Lambda { function_name, .. } => write!(f, "Lambda({function_name})"),
            Self::InProcess(settings) => write!(f, "InProcess({})", settings.base_url),
        }
    }
}

impl Dispatcher {
    /// Lambda when `SLACK_SYNC_FUNCTION_NAME` is set, else in-process.
    pub async fn from_env(config: &shared::Config) -> Result<Self, ConfigError> {
        match std::env::var(FUNCTION_NAME_VAR) {
            #[cfg(feature = "aws")]
            Ok(name) if !name.trim().is_empty() => {
                let sdk = shared::platform::aws::sdk_config().await;
                Ok(Self::lambda(aws_sdk_lambda::Client::new(&sdk), name.trim()))
            }
            #[cfg(not(feature = "aws"))]
            Ok(name) if !name.trim().is_empty() => Err(ConfigError::NoAws {
                name: FUNCTION_NAME_VAR,
            }),
            _ => {
                if config.env != shared::platform::config::AppEnv::Local {
                    tracing::warn!(
                        "{FUNCTION_NAME_VAR} is not set: force-runs run inside this function, \
                         which Lambda freezes once it has answered"
                    );
                }
                Self::in_process(config)
            }
        }
    }

    #[cfg(feature = "aws")]
    pub fn lambda(client: aws_sdk_lambda::Client, function_name: &str) -> Self {
        Self::Lambda {
            client,
            function_name: function_name.to_owned(),
        }
    }

    /// Runs in this process, reaching Slack as `SLACK_API_BASE_URL` and the
    /// configuration's token say.
    pub fn in_process(config: &shared::Config) -> Result<Self, ConfigError> {
        Ok(Self::InProcess(Arc::new(SlackSettings::from_env(config)?)))
    }

    /// Starts queued run `run_id` of `job`. `Err` (the reason) when it could not be
    /// started; the caller then marks the run failed.
    pub async fn dispatch(&self, state: &AppState, job: &str, run_id: i64) -> Result<(), String> {
        if job != SLACK_SYNC {
            return Err(format!("no runner for job {job}"));
        }
        match self {
            #[cfg(feature = "aws")]
            Self::Lambda {
                client,
                function_name,
            } => {
                use aws_sdk_lambda::primitives::Blob;
                use aws_sdk_lambda::types::InvocationType;
                let payload = serde_json::json!({ "run_id": run_id }).to_string();
                let output = client
                    .invoke()
                    .function_name(function_name)
                    .invocation_type(InvocationType::Event)
                    .payload(Blob::new(payload))
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "invoking {function_name} failed: {}",
                            aws_sdk_lambda::error::DisplayErrorContext(&e)
                        )
                    })?;
                tracing::info!(
                    run_id,
                    function_name,
                    status = output.status_code(),
                    "run handed to Lambda"
                );
                Ok(())
            }
            Self::InProcess(settings) => {
                let state = state.clone();
                let settings = settings.clone();
                tokio::spawn(async move {
                    match slack_sync::run(&state, &settings, run_id).await {
                        Ok(outcome) => {
                            tracing::info!(run_id, status = %outcome.status, "background run ended")
                        }
                        Err(error) => {
                            tracing::error!(run_id, %error, "background run could not be recorded")
                        }
                    }
                });
                Ok(())
            }
        }
    }
}
