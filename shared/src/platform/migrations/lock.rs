//! The migration lock (MySQL's `GET_LOCK`): one run at a time, however many processes start one.

use sqlx::MySqlConnection;

use super::error::MigrateError;

/// The named lock that serialises runs across processes and machines.
const LOCK_NAME: &str = "waffledotcom.schema_migrations";
/// How long a run waits for another to finish. A Lambda function may run 15 minutes.
pub(super) const LOCK_WAIT_SECS: i64 = 600;

/// Takes the lock, waiting up to [`LOCK_WAIT_SECS`] for another run to finish.
pub(super) async fn acquire(conn: &mut MySqlConnection) -> Result<(), MigrateError> {
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
        .bind(LOCK_NAME)
        .bind(LOCK_WAIT_SECS)
        .fetch_one(&mut *conn)
        .await?;
    if locked != Some(1) {
        return Err(MigrateError::LockTimeout);
    }
    Ok(())
}

/// Gives the lock back. Closing the connection would release it too; a pooled one stays
/// open.
pub(super) async fn release(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(LOCK_NAME)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
