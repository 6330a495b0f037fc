use std::process::ExitCode;

use image_tag_updater::{Config, EcrImageAction, Mode, Updater};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> ExitCode {
    shared::platform::telemetry::init();
    // Configuration and the token once per cold start; a bad one stops the start, in words.
    let sdk = shared::platform::aws::sdk_config().await;
    let updater = match Config::load()
        .await
        .and_then(|config| Updater::new(&config, &sdk))
    {
        Ok(updater) => updater,
        Err(error) => {
            tracing::error!(%error, "image-tag-updater cannot start");
            return ExitCode::FAILURE;
        }
    };
    // By hand: `image-tag-updater --redrive <queue-url> [--dry-run]` (docs/operations.md),
    // or a JSON-lines file `local --lambdas` keeps failure records in (docs/lambdas-mode.md).
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--redrive", queue_url] => return redrive(&updater, &sdk, queue_url, Mode::Commit).await,
        ["--redrive", queue_url, "--dry-run"] | ["--redrive", "--dry-run", queue_url] => {
            return redrive(&updater, &sdk, queue_url, Mode::DryRun).await;
        }
        [] => {}
        _ => {
            eprintln!("usage: image-tag-updater [--redrive <queue-url> [--dry-run]]");
            return ExitCode::from(2);
        }
    }
    let updater = &updater;
    let served = lambda_runtime::run(service_fn(
        |event: LambdaEvent<EcrImageAction>| async move {
            image_tag_updater::handle(updater, event).await
        },
    ))
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

/// Redrives the queue, or the JSON-lines file `local --lambdas` keeps failure records in
/// (or, in a dry run, lists what it would do), and prints the report as JSON; fails when
/// a message stays.
async fn redrive(
    updater: &Updater,
    sdk: &aws_config::SdkConfig,
    queue_url: &str,
    mode: Mode,
) -> ExitCode {
    let done = if image_tag_updater::redrive::is_file(queue_url) {
        image_tag_updater::redrive::redrive_file(updater, std::path::Path::new(queue_url), mode)
            .await
    } else {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        image_tag_updater::redrive::redrive(updater, &sqs, queue_url, mode).await
    };
    match done {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            if report.left.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            tracing::error!(%error, "redrive stopped");
            ExitCode::FAILURE
        }
    }
}
