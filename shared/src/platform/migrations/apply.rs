//! Applying revisions: upgrade and downgrade, each revision marked as started first so
//! that one failing halfway leaves its row dirty.

use sqlx::MySqlConnection;
use sqlx::migrate::Migration;

use super::alembic::take_over_alembic;
use super::command::{Status, Target};
use super::error::{MigrateError, privilege_denial};
use super::revisions::{Revision, revisions};
use super::state::{Source, State, applied_row, read_state};

/// Applies, in order, every revision up to `target` that is not applied yet.
pub(super) async fn upgrade(
    conn: &mut MySqlConnection,
    target: Target,
) -> Result<Status, MigrateError> {
    let (known, target, mut state) = prepare(conn, target, |target, current| {
        (target < current).then_some(MigrateError::TargetBelowCurrent { target, current })
    })
    .await?;
    for revision in known.iter().filter(|r| r.version <= target) {
        if state.applied.contains_key(&revision.version) {
            continue;
        }
        begin(conn, revision).await?;
        execute(conn, revision, revision.up).await?;
        set_success(conn, revision, true).await?;
        tracing::info!(version = revision.version, description = %revision.description, "applied");
        state
            .applied
            .insert(revision.version, applied_row(revision));
    }
    Ok(state.status(&known))
}

/// Reverts, newest first, every applied revision above `target`.
pub(super) async fn downgrade(
    conn: &mut MySqlConnection,
    target: Target,
) -> Result<Status, MigrateError> {
    let (known, target, mut state) = prepare(conn, target, |target, current| {
        (target > current).then_some(MigrateError::TargetAboveCurrent { target, current })
    })
    .await?;
    for revision in known.iter().rev().filter(|r| r.version > target) {
        if !state.applied.contains_key(&revision.version) {
            continue;
        }
        set_success(conn, revision, false).await?;
        execute(conn, revision, revision.down).await?;
        sqlx::query("DELETE FROM schema_migrations WHERE version = ?")
            .bind(revision.version)
            .execute(&mut *conn)
            .await?;
        tracing::info!(version = revision.version, description = %revision.description, "reverted");
        state.applied.remove(&revision.version);
    }
    Ok(state.status(&known))
}

/// What upgrade and downgrade do first: resolve `target`, read and check the database,
/// refuse a target on the wrong side of the current revision (`wrong_way`), then make
/// `schema_migrations` ours to write (taking over alembic's, or creating it). Returns
/// the known revisions, the resolved target and the state.
async fn prepare(
    conn: &mut MySqlConnection,
    target: Target,
    wrong_way: impl FnOnce(i64, i64) -> Option<MigrateError>,
) -> Result<(Vec<Revision>, i64, State), MigrateError> {
    let known = revisions();
    let target = target.resolve(&known)?;
    let mut state = read_state(conn).await?;
    state.check(&known)?;
    if let Some(error) = wrong_way(target, state.current()) {
        return Err(error);
    }
    if state.source == Source::Alembic {
        take_over_alembic(conn, &state).await?;
        state.source = Source::Ours;
    } else {
        create_table(conn).await?;
    }
    Ok((known, target, state))
}

/// Runs one way of a revision; a failure names the revision.
async fn execute(
    conn: &mut MySqlConnection,
    revision: &Revision,
    migration: &'static Migration,
) -> Result<(), MigrateError> {
    sqlx::raw_sql(migration.sql.as_ref())
        .execute(&mut *conn)
        .await
        .map_err(|source| MigrateError::Revision {
            version: revision.version,
            source,
        })?;
    Ok(())
}

/// Marks a revision as started: if it fails halfway, the row says so.
async fn begin(conn: &mut MySqlConnection, revision: &Revision) -> Result<(), MigrateError> {
    sqlx::query(
        "INSERT INTO schema_migrations (version, description, checksum, success, source) \
         VALUES (?, ?, ?, 0, 'migrate')",
    )
    .bind(revision.version)
    .bind(&revision.description)
    .bind(revision.up.checksum.as_ref())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks a revision's row done (`true`, after its `up` ran) or not (`false`, before its
/// `down` runs: if that fails halfway, the row says so).
async fn set_success(
    conn: &mut MySqlConnection,
    revision: &Revision,
    success: bool,
) -> Result<(), MigrateError> {
    sqlx::query("UPDATE schema_migrations SET success = ? WHERE version = ?")
        .bind(success)
        .bind(revision.version)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Also the privilege gate of `upgrade` and `downgrade`: it needs CREATE even when the
/// table exists, so an account without DDL rights stops here, before any revision is
/// marked as started.
pub(super) async fn create_table(conn: &mut MySqlConnection) -> Result<(), MigrateError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT NOT NULL PRIMARY KEY,
            description VARCHAR(255) NOT NULL,
            checksum VARBINARY(64) NOT NULL,
            success BOOL NOT NULL,
            source VARCHAR(16) NOT NULL,
            applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
    )
    .execute(&mut *conn)
    .await
    .map_err(|error| match privilege_denial(&error) {
        Some(message) => MigrateError::PrivilegeMissing { message },
        None => MigrateError::Database(error),
    })?;
    Ok(())
}
