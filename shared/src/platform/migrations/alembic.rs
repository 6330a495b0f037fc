//! The takeover of a database the old server's alembic migrations made.

use sqlx::{Acquire, MySqlConnection};

use super::apply::create_table;
use super::error::MigrateError;
use super::revisions::revisions;
use super::state::{Source, State, applied_row, table_exists};

/// alembic revisions of the old server, and the revisions of ours they correspond to.
const ALEMBIC_REVISIONS: &[(&str, i64)] = &[("f2b7ce2c8874", 1), ("c8dea6766159", 2)];

/// Records the alembic revisions as ours, in one transaction. `alembic_version` stays
/// (revision 1's down file removes it), so nothing the old server wrote is lost.
pub(super) async fn take_over_alembic(
    conn: &mut MySqlConnection,
    state: &State,
) -> Result<(), MigrateError> {
    create_table(conn).await?;
    let mut tx = conn.begin().await?;
    for row in state.applied.values() {
        sqlx::query(
            "INSERT INTO schema_migrations (version, description, checksum, success, source) \
             VALUES (?, ?, ?, 1, 'alembic')",
        )
        .bind(row.version)
        .bind(&row.description)
        .bind(&row.checksum)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        revisions = ?state.applied.keys().collect::<Vec<_>>(),
        "took over a database migrated by alembic"
    );
    Ok(())
}

/// What a database the old server migrated holds, read as ours: `None` when there is no
/// `alembic_version`, or an empty one (alembic's "base").
pub(super) async fn read_state(conn: &mut MySqlConnection) -> Result<Option<State>, MigrateError> {
    if !table_exists(conn, "alembic_version").await? {
        return Ok(None);
    }
    let alembic: Option<String> =
        sqlx::query_scalar("SELECT version_num FROM alembic_version LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    // An empty alembic_version is alembic's "base": no tables, nothing to take over.
    let Some(alembic) = alembic else {
        return Ok(None);
    };
    let Some(&(_, last)) = ALEMBIC_REVISIONS.iter().find(|(rev, _)| *rev == alembic) else {
        return Err(MigrateError::UnknownAlembicRevision(alembic));
    };
    let applied = revisions()
        .iter()
        .filter(|r| r.version <= last)
        .map(|r| (r.version, applied_row(r)))
        .collect();
    Ok(Some(State {
        source: Source::Alembic,
        applied,
    }))
}
