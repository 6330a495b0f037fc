use std::process::ExitCode;

use image_tag_updater::{Config, Updater};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init();
    // Configuration and the token once per cold start; a bad one stops the start, in words.
    let updater = match Config::load()
        .await
        .and_then(|config| Updater::new(&config))
    {
        Ok(updater) => updater,
        Err(error) => {
            tracing::error!(%error, "image-tag-updater cannot start");
            return ExitCode::FAILURE;
        }
    };
    let updater = &updater;
    let served = lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        image_tag_updater::handle(updater, event).await
    }))
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}
