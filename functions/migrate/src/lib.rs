//! The `migrate` function: runs schema revisions, as a Lambda function (one event per
//! command) or as a command line (`migrate upgrade head`).

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::Database;
use shared::migrations::{self, Command, MigrateError, Status, Target};

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
}

impl From<Failure> for lambda_runtime::Diagnostic {
    fn from(failure: Failure) -> Self {
        let error_type = match &failure {
            Failure::InvalidEvent(_) | Failure::Usage(_) => "InvalidCommand",
            Failure::Migrate(_) => "MigrationFailed",
            Failure::Database(_) => "DatabaseUnavailable",
        };
        Self {
            error_type: error_type.into(),
            error_message: failure.to_string(),
        }
    }
}

/// Runs one command against the database, holding the migration lock.
pub async fn execute(db: &Database, command: &Command) -> Result<Status, Failure> {
    let pool = db.pool().await?;
    let mut conn = pool.acquire().await.map_err(shared::Error::from)?;
    let status = migrations::run(&mut conn, command).await?;
    tracing::info!(?command, ?status, "migrate finished");
    Ok(status)
}

/// The Lambda handler: the event is the command, the answer is the status. A failure
/// fails the invocation, so a deploy that runs it stops there.
pub async fn handle(db: &Database, event: LambdaEvent<Value>) -> Result<Status, Failure> {
    let command: Command =
        serde_json::from_value(event.payload).map_err(|e| Failure::InvalidEvent(e.to_string()))?;
    execute(db, &command).await
}

/// Parses `upgrade [target]`, `downgrade <target>` or `status`.
pub fn parse_args(args: &[String]) -> Result<Command, Failure> {
    let usage = || {
        Failure::Usage(
            "usage: migrate upgrade [head|<version>] | migrate downgrade <base|<version>> | migrate status"
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
