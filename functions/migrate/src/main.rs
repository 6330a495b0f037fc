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
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        // `new` writes files in the repository: no configuration, no database.
        ["new", name] => {
            let folder = migrate::new::find_folder(&std::env::current_dir()?)?;
            for path in migrate::new::create(&folder, name)? {
                println!("{}", path.display());
            }
            Ok(())
        }
        ["new", name, "--from-diff"] => new_from_diff(name).await,
        ["diff"] => diff().await,
        _ => {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let command = migrate::parse_args(&args)?;
            let state = shared::AppState::for_migrations().await?;
            let status = migrate::execute(&state.db, &command).await?;
            println!("{}", serde_json::to_string(&status)?);
            Ok(())
        }
    }
}

/// `migrate diff`: the difference as SQL on stdout; a difference fails the command.
async fn diff() -> Result<(), BoxError> {
    let config = shared::Config::load_for(shared::platform::config::Account::Migrator).await?;
    let diff = migrate::diff::diff(&config.database).await?;
    let revision = diff.revision;
    if diff.is_empty() {
        println!("-- no difference: the database is what revisions 1..{revision} produce");
        return Ok(());
    }
    println!(
        "-- The database differs from what revisions 1..{revision} produce.\n\
         -- Statements that bring the revisions' schema to the database's \
         (`migrate new <name> --from-diff` writes them as a revision, with their inverse):\n"
    );
    print!("{}", migrate::diff::to_sql(&diff.up));
    Err(format!("the database differs from revision {revision}'s schema (SQL above)").into())
}

/// `migrate new <name> --from-diff`: the difference as the next revision pair, for review.
async fn new_from_diff(name: &str) -> Result<(), BoxError> {
    let folder = migrate::new::find_folder(&std::env::current_dir()?)?;
    let config = shared::Config::load_for(shared::platform::config::Account::Migrator).await?;
    let diff = migrate::diff::diff(&config.database).await?;
    let head = shared::platform::migrations::head();
    if diff.revision != head {
        return Err(format!(
            "the database is at revision {}, this code's head is {head}: a revision written \
             from this difference would follow revision {head} without the ones between. \
             Upgrade the database first (`migrate upgrade head`), then diff again",
            diff.revision
        )
        .into());
    }
    if diff.is_empty() {
        return Err(format!(
            "no difference: the database is what revisions 1..{head} produce; nothing written"
        )
        .into());
    }
    let database = config.database.database.clone();
    let paths = migrate::new::create_with(&folder, name, |_| {
        let note = format!(
            "-- Written by `migrate new --from-diff` from database `{database}` at revision \
             {head}: review it (a rename shows as a drop and an add; `-- may lose` marks \
             lost values) before committing.\n"
        );
        (
            format!("{note}\n{}", migrate::diff::to_sql(&diff.up)),
            format!("{note}\n{}", migrate::diff::to_sql(&diff.down)),
        )
    })?;
    for path in paths {
        println!("{}", path.display());
    }
    Ok(())
}
