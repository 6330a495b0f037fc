// As in migrate: the release build computes the layout of `main`'s future through the
// Lambda runtime's, sqlx 0.9's and `serve_or_command_line`'s nested futures, 130 levels,
// past the default 128.
#![recursion_limit = "256"]

use std::process::ExitCode;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::domain::batch::Trigger;
use shared::platform::config::ConfigError;
use shared::platform::process::BoxError;
use slack_sync::SlackSettings;

/// Started by the Lambda runtime: serve events. Otherwise: a command line for ops.
#[tokio::main]
async fn main() -> ExitCode {
    shared::platform::process::serve_or_command_line("slack-sync", serve, command_line).await
}

async fn serve() -> Result<(), BoxError> {
    let state = shared::AppState::from_env()
        .await
        .inspect_err(shared::platform::process::start_failed)?;
    let settings = settings(&state.config)
        .await
        .inspect_err(shared::platform::process::start_failed)?;
    let (state, settings) = (&state, &settings);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        slack_sync::handle(state, settings, event).await
    }))
    .await
}

/// `slack-sync run`: one run now (trigger `manual`), printed as JSON.
async fn command_line() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args != ["run"] {
        return Err("usage: slack-sync run".into());
    }
    let state = shared::AppState::from_env().await?;
    let settings = settings(&state.config).await?;
    let outcome = slack_sync::scheduled(&state, &settings, Trigger::Manual, None).await?;
    println!("{}", serde_json::to_string(&outcome)?);
    match outcome.status.as_str() {
        "succeeded" => Ok(()),
        "already_running" => Err(format!(
            "run {} of slack-sync is already queued or running",
            outcome.run_id
        )
        .into()),
        _ => Err(format!(
            "run {} failed: {}",
            outcome.run_id,
            outcome.error.unwrap_or_default()
        )
        .into()),
    }
}

/// The settings, with the token from the Slack secret when deployed (`slack_sync::token`).
async fn settings(config: &shared::Config) -> Result<SlackSettings, ConfigError> {
    let mut settings = SlackSettings::from_env(config)?;
    settings.token = slack_sync::token::load(config).await?;
    Ok(settings)
}
