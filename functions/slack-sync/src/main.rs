use std::process::ExitCode;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::domain::batch::Trigger;
use slack_sync::SlackSettings;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    shared::platform::telemetry::init();
    // Started by the Lambda runtime: serve events. Otherwise: a command line for ops.
    let result = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        serve().await
    } else {
        command_line().await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("slack-sync: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), BoxError> {
    let state = shared::AppState::from_env().await.inspect_err(|error| {
        tracing::error!(%error, "cannot start: configuration failed");
    })?;
    let settings = SlackSettings::from_env(&state.config).inspect_err(|error| {
        tracing::error!(%error, "cannot start: configuration failed");
    })?;
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
    let settings = SlackSettings::from_env(&state.config)?;
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
