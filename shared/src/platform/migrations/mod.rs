//! Schema revisions: upgrade, downgrade and status over the files in `migrations/`.
//!
//! The SQL is embedded at compile time, so every binary knows the head revision. The
//! runner is ours rather than sqlx's because it must also (1) upgrade or downgrade to a
//! given revision, (2) take over a database the old alembic migrations made, and (3)
//! hold a named lock so that concurrent runs (two deploys, the local server starting
//! while a `migrate` runs) apply each revision once.
//!
//! MySQL commits DDL implicitly, so a revision that fails halfway cannot be rolled back.
//! Its row stays in `schema_migrations` with `success = 0`, and every later run refuses
//! to proceed until someone has repaired the schema by hand; `status` says exactly that.

mod alembic;
mod apply;
mod command;
mod error;
mod lock;
mod revisions;
mod state;

use sqlx::MySqlConnection;

pub use command::{Command, Status, Target};
pub use error::MigrateError;
pub use revisions::{Revision, head, revisions};

use apply::{downgrade, upgrade};
use state::read_state;

/// Runs `command` on `conn`, holding the migration lock throughout.
pub async fn run(conn: &mut MySqlConnection, command: &Command) -> Result<Status, MigrateError> {
    lock::acquire(conn).await?;
    let result = match command {
        Command::Status => status(conn).await,
        Command::Upgrade { target } => upgrade(conn, *target).await,
        Command::Downgrade { target } => downgrade(conn, *target).await,
    };
    let released = lock::release(conn).await;
    let status = result?;
    released?;
    Ok(status)
}

/// What the database holds now, without changing anything.
pub async fn status(conn: &mut MySqlConnection) -> Result<Status, MigrateError> {
    let state = read_state(conn).await?;
    Ok(state.status(&revisions()))
}
