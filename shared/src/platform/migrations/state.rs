//! What the database holds: the revisions applied (`schema_migrations`, or alembic's
//! `alembic_version` not yet taken over), and the checks before acting on it.

use std::collections::BTreeMap;

use sqlx::{MySqlConnection, Row};

use super::alembic;
use super::command::Status;
use super::error::MigrateError;
use super::revisions::Revision;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// `schema_migrations` exists (or nothing does): ours to run.
    Ours,
    /// Only the old server's `alembic_version` exists.
    Alembic,
}

#[derive(Debug, Clone)]
pub(super) struct AppliedRow {
    pub(super) version: i64,
    pub(super) description: String,
    pub(super) checksum: Vec<u8>,
    pub(super) success: bool,
}

pub(super) fn applied_row(revision: &Revision) -> AppliedRow {
    AppliedRow {
        version: revision.version,
        description: revision.description.clone(),
        checksum: revision.up.checksum.to_vec(),
        success: true,
    }
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) source: Source,
    pub(super) applied: BTreeMap<i64, AppliedRow>,
}

impl State {
    pub(super) fn current(&self) -> i64 {
        self.applied
            .values()
            .filter(|r| r.success)
            .map(|r| r.version)
            .max()
            .unwrap_or(0)
    }

    /// Refuses to act on a database that is half-migrated, edited or ahead of this code.
    pub(super) fn check(&self, known: &[Revision]) -> Result<(), MigrateError> {
        for row in self.applied.values() {
            if !row.success {
                return Err(MigrateError::Dirty {
                    version: row.version,
                });
            }
            match known.iter().find(|r| r.version == row.version) {
                None => {
                    return Err(MigrateError::NewerThanCode {
                        version: row.version,
                    });
                }
                Some(r) if *r.up.checksum != *row.checksum => {
                    return Err(MigrateError::ChecksumMismatch {
                        version: row.version,
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    pub(super) fn status(&self, known: &[Revision]) -> Status {
        Status {
            current: Some(self.current()).filter(|&v| v > 0),
            applied: self
                .applied
                .values()
                .filter(|r| r.success)
                .map(|r| r.version)
                .collect(),
            pending: known
                .iter()
                .map(|r| r.version)
                .filter(|v| !self.applied.contains_key(v))
                .collect(),
            dirty: self
                .applied
                .values()
                .find(|r| !r.success)
                .map(|r| r.version),
        }
    }
}

pub(super) async fn table_exists(
    conn: &mut MySqlConnection,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    Ok(count > 0)
}

pub(super) async fn read_state(conn: &mut MySqlConnection) -> Result<State, MigrateError> {
    if table_exists(conn, "schema_migrations").await? {
        let rows = sqlx::query(
            "SELECT version, description, checksum, success FROM schema_migrations ORDER BY version",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut applied = BTreeMap::new();
        for row in rows {
            let version: i64 = row.try_get("version")?;
            applied.insert(
                version,
                AppliedRow {
                    version,
                    description: row.try_get("description")?,
                    checksum: row.try_get("checksum")?,
                    success: row.try_get("success")?,
                },
            );
        }
        return Ok(State {
            source: Source::Ours,
            applied,
        });
    }
    Ok(alembic::read_state(conn).await?.unwrap_or(State {
        source: Source::Ours,
        applied: BTreeMap::new(),
    }))
}
