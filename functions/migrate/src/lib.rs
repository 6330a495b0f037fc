//! The `migrate` function: runs schema revisions, as a Lambda function (one event per
//! command, or a CloudFormation custom resource request on every deploy) or as a
//! command line (`migrate upgrade head`).

pub mod custom_resource;
pub mod diff;
pub mod new;

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::Database;
use shared::platform::migrations::{self, Command, MigrateError, Status, Target};

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(
        "invalid event: {0}; expected {{\"command\": \"upgrade\" | \"downgrade\" | \"status\", \"target\": ...}}"
    )]
    InvalidEvent(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("{0}")]
    Database(#[from] shared::Error),
    /// The configuration could not be loaded at start (named variable or secret).
    #[error("configuration: {0}")]
    Config(String),
    /// A custom resource answer could not be delivered to CloudFormation.
    #[error("{0}")]
    Respond(String),
}

impl From<Failure> for lambda_runtime::Diagnostic {
    fn from(failure: Failure) -> Self {
        let error_type = match &failure {
            Failure::InvalidEvent(_) | Failure::Usage(_) => "InvalidCommand",
            Failure::Migrate(_) => "MigrationFailed",
            Failure::Database(_) => "DatabaseUnavailable",
            Failure::Config(_) => "ConfigurationError",
            Failure::Respond(_) => "CustomResourceResponseFailed",
        };
        Self {
            error_type: error_type.into(),
            error_message: failure.to_string(),
        }
    }
}

/// Runs one command against the database, holding the migration lock.
pub async fn execute(db: &Database, command: &Command) -> Result<Status, Failure> {
    // Without its own account (docs/deploy.md, "Database accounts"), migrate shares the
    // API's connection budget: it waits out a burst rather than failing the deploy.
    db.wait_for_connection(std::time::Duration::from_secs(60))
        .await?;
    let mut conn = db.acquire().await?;
    let status = migrations::run(&mut conn, command).await?;
    tracing::info!(?command, ?status, "migrate finished");
    Ok(status)
}

/// The Lambda handler. A `{"command": ...}` event answers the status, and a failure
/// fails the invocation. A CloudFormation custom resource request runs `upgrade head`
/// and answers CloudFormation (see [`custom_resource`]). `db` is the configuration's
/// error when it could not be loaded: the function keeps serving, so CloudFormation
/// still gets a FAILED answer instead of waiting for one.
pub async fn handle(
    db: Result<&Database, &str>,
    event: LambdaEvent<Value>,
) -> Result<Value, Failure> {
    if custom_resource::Request::matches(&event.payload) {
        let request = serde_json::from_value(event.payload)
            .map_err(|e| Failure::InvalidEvent(format!("custom resource request: {e}")))?;
        return custom_resource::handle(db, request).await;
    }
    let command: Command =
        serde_json::from_value(event.payload).map_err(|e| Failure::InvalidEvent(e.to_string()))?;
    let db = db.map_err(|e| Failure::Config(e.to_owned()))?;
    let status = execute(db, &command).await?;
    serde_json::to_value(status).map_err(|e| Failure::InvalidEvent(e.to_string()))
}

/// Parses `upgrade [target]`, `downgrade <target>` or `status`.
pub fn parse_args(args: &[String]) -> Result<Command, Failure> {
    let usage = || {
        Failure::Usage(
            "usage: migrate upgrade [head|<version>] | migrate downgrade <base|<version>> | migrate status | migrate diff | migrate new <name> [--from-diff]"
                .into(),
        )
    };
    let target = |s: &String| Target::parse(s).map_err(Failure::from);
    match args {
        [cmd] if cmd == "status" => Ok(Command::Status),
        [cmd] if cmd == "upgrade" => Ok(Command::Upgrade {
            target: Target::Head,
        }),
        [cmd, t] if cmd == "upgrade" => Ok(Command::Upgrade { target: target(t)? }),
        [cmd, t] if cmd == "downgrade" => Ok(Command::Downgrade { target: target(t)? }),
        _ => Err(usage()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_lines_parse_like_the_events() {
        assert_eq!(parse_args(&args(&["status"])).unwrap(), Command::Status);
        assert_eq!(
            parse_args(&args(&["upgrade", "head"])).unwrap(),
            Command::Upgrade {
                target: Target::Head
            }
        );
        assert_eq!(
            parse_args(&args(&["downgrade", "1"])).unwrap(),
            Command::Downgrade {
                target: Target::Version(1)
            }
        );
        assert!(matches!(
            parse_args(&args(&["downgrade"])),
            Err(Failure::Usage(_))
        ));
        assert!(matches!(
            parse_args(&args(&["sideways", "1"])),
            Err(Failure::Usage(_))
        ));
        assert!(matches!(
            parse_args(&args(&["upgrade", "latest"])),
            Err(Failure::Migrate(MigrateError::UnknownTarget(..)))
        ));
    }
}
