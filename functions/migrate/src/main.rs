// The release build (LTO, arm64) computes the layout of `main`'s future through the
// Lambda runtime's and sqlx 0.9's nested futures: 130 levels, past the default 128.
#![recursion_limit = "256"]

use std::process::ExitCode;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::platform::process::BoxError;

/// Started by the Lambda runtime: serve events. Otherwise: a command line.
#[tokio::main]
async fn main() -> ExitCode {
    shared::platform::process::serve_or_command_line("migrate", serve, command_line).await
}

async fn serve() -> Result<(), BoxError> {
    // A configuration error does not stop the function: a deploy's custom resource
    // request must still be answered (FAILED, naming the error), or CloudFormation waits.
    let state = shared::AppState::for_migrations().await.map_err(|error| {
        tracing::error!(%error, "configuration could not be loaded");
        error.to_string()
    });
    let db = state.as_ref().map(|s| &s.db).map_err(String::as_str);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        migrate::handle(db, event).await
    }))
    .await?;
    Ok(())
}

async fn command_line() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `new` writes files in the repository: no configuration, no database.
    if let [cmd, name] = args.as_slice()
        && cmd == "new"
    {
        let folder = migrate::new::find_folder(&std::env::current_dir()?)?;
        for path in migrate::new::create(&folder, name)? {
            println!("{}", path.display());
        }
        return Ok(());
    }
    let command = migrate::parse_args(&args)?;
    let state = shared::AppState::for_migrations().await?;
    let status = migrate::execute(&state.db, &command).await?;
    println!("{}", serde_json::to_string(&status)?);
    Ok(())
}
