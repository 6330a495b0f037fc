//! The `main` of a function that is also a command line (`migrate`, `slack-sync`).

use std::process::ExitCode;

/// What `serve` and `command_line` fail with: any error, shown in words.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Logging, then `serve` when the Lambda runtime started the process
/// (`AWS_LAMBDA_RUNTIME_API` is set), `command_line` otherwise. An error is printed as
/// `<name>: <error>` and ends the process with a failure status.
pub async fn serve_or_command_line(
    name: &str,
    serve: impl AsyncFnOnce() -> Result<(), BoxError>,
    command_line: impl AsyncFnOnce() -> Result<(), BoxError>,
) -> ExitCode {
    crate::platform::telemetry::init();
    let result = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        serve().await
    } else {
        command_line().await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Logs why the function cannot start, for `inspect_err` on what `main` builds once per
/// cold start (configuration, settings, keys): the init then fails, and the log says why.
pub fn start_failed(error: &impl std::fmt::Display) {
    tracing::error!(%error, "cannot start: configuration failed");
}
