//! Why a migration run stops.

use super::lock::LOCK_WAIT_SECS;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the database is at alembic revision {0:?}, which this code does not know; \
         only f2b7ce2c8874 and c8dea6766159 can be taken over. Nothing was changed."
    )]
    UnknownAlembicRevision(String),
    #[error("unknown target {0:?}: expected {1}")]
    UnknownTarget(String, &'static str),
    #[error("revision {0} does not exist; known revisions: {1:?}")]
    UnknownRevision(i64, Vec<i64>),
    #[error(
        "revision {version} failed halfway and left the schema in an unknown state. Repair \
         it by hand (compare with migrations/{version:04}_*.sql), then run \
         `DELETE FROM schema_migrations WHERE version = {version}` if the revision is \
         undone, or `UPDATE schema_migrations SET success = 1 WHERE version = {version}` \
         if it is complete, and run the command again."
    )]
    Dirty { version: i64 },
    #[error(
        "revision {version} was applied from a different file than this code has \
         (checksum mismatch); revisions must never be edited after they ship"
    )]
    ChecksumMismatch { version: i64 },
    #[error(
        "the database has revision {version}, which this code does not know: \
         it was migrated by newer code, which is the one to downgrade it"
    )]
    NewerThanCode { version: i64 },
    #[error("target {target} is below the current revision {current}; use downgrade")]
    TargetBelowCurrent { target: i64, current: i64 },
    #[error("target {target} is above the current revision {current}; use upgrade")]
    TargetAboveCurrent { target: i64, current: i64 },
    #[error("another migration run held the lock for {LOCK_WAIT_SECS} s; try again")]
    LockTimeout,
    #[error("revision {version} failed: {source}")]
    Revision {
        version: i64,
        #[source]
        source: sqlx::Error,
    },
    /// The account may read and write rows but not change the schema: the API's
    /// DML-only account, used where `migrate`'s own should be.
    #[error(
        "the database account lacks a privilege migrations need: {message}. Migrations \
         need CREATE, ALTER, DROP, INDEX, REFERENCES and TRIGGER on the application's \
         database; run migrate with its own account (deployed: the secret \
         `<env>/waffledotcom-migrator`; locally: MIGRATOR_DATABASE_URL), see \
         docs/deploy.md, \"Database accounts\". Nothing was changed."
    )]
    PrivilegeMissing { message: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// MySQL's (and MariaDB's) "access denied" errors whose message names the privilege:
/// table-, column-, routine-level denials, and "you need (at least one of) the ...
/// privilege(s)". <https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html>
const PRIVILEGE_ERRORS: [u16; 5] = [1142, 1143, 1370, 1227, 1044];

/// The server's message when `error` is a privilege denial.
pub(super) fn privilege_denial(error: &sqlx::Error) -> Option<String> {
    let db = error
        .as_database_error()?
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?;
    PRIVILEGE_ERRORS
        .contains(&db.number())
        .then(|| format!("{} (MySQL error {})", db.message(), db.number()))
}
