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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Acquire, MySqlConnection, Row};

static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The named lock that serialises runs across processes and machines.
const LOCK_NAME: &str = "waffledotcom.schema_migrations";
/// How long a run waits for another to finish. A Lambda function may run 15 minutes.
const LOCK_WAIT_SECS: i64 = 600;

/// alembic revisions of the old server, and the revisions of ours they correspond to.
const ALEMBIC_REVISIONS: &[(&str, i64)] = &[("f2b7ce2c8874", 1), ("c8dea6766159", 2)];

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
fn privilege_denial(error: &sqlx::Error) -> Option<String> {
    let db = error
        .as_database_error()?
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?;
    PRIVILEGE_ERRORS
        .contains(&db.number())
        .then(|| format!("{} (MySQL error {})", db.message(), db.number()))
}

/// One revision: its SQL both ways.
#[derive(Debug, Clone)]
pub struct Revision {
    pub version: i64,
    pub description: String,
    up: &'static Migration,
    down: &'static Migration,
}

/// Every revision this code knows, in order.
pub fn revisions() -> Vec<Revision> {
    let mut by_version: BTreeMap<i64, (Option<&Migration>, Option<&Migration>)> = BTreeMap::new();
    for migration in MIGRATOR.iter() {
        let entry = by_version.entry(migration.version).or_default();
        match migration.migration_type {
            MigrationType::ReversibleUp => entry.0 = Some(migration),
            MigrationType::ReversibleDown => entry.1 = Some(migration),
            // The build refuses simple migrations (see the test below): all are reversible.
            MigrationType::Simple => {}
        }
    }
    by_version
        .into_iter()
        .filter_map(|(version, pair)| match pair {
            (Some(up), Some(down)) => Some(Revision {
                version,
                description: up.description.to_string(),
                up,
                down,
            }),
            _ => None,
        })
        .collect()
}

/// The newest revision this code knows.
pub fn head() -> i64 {
    revisions().last().map_or(0, |r| r.version)
}

/// What `migrate` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Command {
    Upgrade {
        #[serde(default = "head_target")]
        target: Target,
    },
    Downgrade {
        target: Target,
    },
    Status,
}

fn head_target() -> Target {
    Target::Head
}

/// `head`, `base`, or a revision number (written as `status` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Head,
    Base,
    Version(i64),
}

impl Target {
    pub fn parse(s: &str) -> Result<Self, MigrateError> {
        match s.trim() {
            "head" => Ok(Self::Head),
            "base" => Ok(Self::Base),
            other => other.parse().map(Self::Version).map_err(|_| {
                MigrateError::UnknownTarget(other.to_owned(), "head, base or a revision number")
            }),
        }
    }

    fn resolve(self, known: &[Revision]) -> Result<i64, MigrateError> {
        match self {
            Self::Head => Ok(known.last().map_or(0, |r| r.version)),
            Self::Base => Ok(0),
            Self::Version(0) => Ok(0),
            Self::Version(v) if known.iter().any(|r| r.version == v) => Ok(v),
            Self::Version(v) => Err(MigrateError::UnknownRevision(
                v,
                known.iter().map(|r| r.version).collect(),
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Self::Version(n)),
            Raw::Text(t) => Self::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// The answer of every command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The newest applied revision; `null` at base.
    pub current: Option<i64>,
    pub applied: Vec<i64>,
    pub pending: Vec<i64>,
    /// A revision that failed halfway, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty: Option<i64>,
}

/// Runs `command` on `conn`, holding the migration lock throughout.
pub async fn run(conn: &mut MySqlConnection, command: &Command) -> Result<Status, MigrateError> {
    let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
        .bind(LOCK_NAME)
        .bind(LOCK_WAIT_SECS)
        .fetch_one(&mut *conn)
        .await?;
    if locked != Some(1) {
        return Err(MigrateError::LockTimeout);
    }
    let result = match command {
        Command::Status => status(conn).await,
        Command::Upgrade { target } => upgrade(conn, *target).await,
        Command::Downgrade { target } => downgrade(conn, *target).await,
    };
    // Closing the connection would release the lock too; a pooled one stays open.
    let released = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(LOCK_NAME)
        .execute(&mut *conn)
        .await;
    let status = result?;
    released?;
    Ok(status)
}

/// What the database holds now, without changing anything.
pub async fn status(conn: &mut MySqlConnection) -> Result<Status, MigrateError> {
    let state = read_state(conn).await?;
    Ok(state.status(&revisions()))
}

async fn upgrade(conn: &mut MySqlConnection, target: Target) -> Result<Status, MigrateError> {
    let known = revisions();
    let target = target.resolve(&known)?;
    let mut state = read_state(conn).await?;
    state.check(&known)?;
    let current = state.current();
    if target < current {
        return Err(MigrateError::TargetBelowCurrent { target, current });
    }
    if state.source == Source::Alembic {
        take_over_alembic(conn, &state).await?;
        state.source = Source::Ours;
    } else {
        create_table(conn).await?;
    }
    for revision in known.iter().filter(|r| r.version <= target) {
        if state.applied.contains_key(&revision.version) {
            continue;
        }
        begin(conn, revision).await?;
        sqlx::raw_sql(revision.up.sql.as_ref())
            .execute(&mut *conn)
            .await
            .map_err(|source| MigrateError::Revision {
                version: revision.version,
                source,
            })?;
        sqlx::query("UPDATE schema_migrations SET success = 1 WHERE version = ?")
            .bind(revision.version)
            .execute(&mut *conn)
            .await?;
        tracing::info!(version = revision.version, description = %revision.description, "applied");
        state
            .applied
            .insert(revision.version, applied_row(revision));
    }
    Ok(state.status(&known))
}

async fn downgrade(conn: &mut MySqlConnection, target: Target) -> Result<Status, MigrateError> {
    let known = revisions();
    let target = target.resolve(&known)?;
    let mut state = read_state(conn).await?;
    state.check(&known)?;
    let current = state.current();
    if target > current {
        return Err(MigrateError::TargetAboveCurrent { target, current });
    }
    if state.source == Source::Alembic {
        take_over_alembic(conn, &state).await?;
        state.source = Source::Ours;
    } else {
        create_table(conn).await?;
    }
    for revision in known.iter().rev().filter(|r| r.version > target) {
        if !state.applied.contains_key(&revision.version) {
            continue;
        }
        sqlx::query("UPDATE schema_migrations SET success = 0 WHERE version = ?")
            .bind(revision.version)
            .execute(&mut *conn)
            .await?;
        sqlx::raw_sql(revision.down.sql.as_ref())
            .execute(&mut *conn)
            .await
            .map_err(|source| MigrateError::Revision {
                version: revision.version,
                source,
            })?;
        sqlx::query("DELETE FROM schema_migrations WHERE version = ?")
            .bind(revision.version)
            .execute(&mut *conn)
            .await?;
        tracing::info!(version = revision.version, description = %revision.description, "reverted");
        state.applied.remove(&revision.version);
    }
    Ok(state.status(&known))
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

/// Records the alembic revisions as ours, in one transaction. `alembic_version` stays
/// (revision 1's down file removes it), so nothing the old server wrote is lost.
async fn take_over_alembic(conn: &mut MySqlConnection, state: &State) -> Result<(), MigrateError> {
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

/// Also the privilege gate of `upgrade` and `downgrade`: it needs CREATE even when the
/// table exists, so an account without DDL rights stops here, before any revision is
/// marked as started.
async fn create_table(conn: &mut MySqlConnection) -> Result<(), MigrateError> {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `schema_migrations` exists (or nothing does): ours to run.
    Ours,
    /// Only the old server's `alembic_version` exists.
    Alembic,
}

#[derive(Debug, Clone)]
struct AppliedRow {
    version: i64,
    description: String,
    checksum: Vec<u8>,
    success: bool,
}

fn applied_row(revision: &Revision) -> AppliedRow {
    AppliedRow {
        version: revision.version,
        description: revision.description.clone(),
        checksum: revision.up.checksum.to_vec(),
        success: true,
    }
}

#[derive(Debug)]
struct State {
    source: Source,
    applied: BTreeMap<i64, AppliedRow>,
}

impl State {
    fn current(&self) -> i64 {
        self.applied
            .values()
            .filter(|r| r.success)
            .map(|r| r.version)
            .max()
            .unwrap_or(0)
    }

    /// Refuses to act on a database that is half-migrated, edited or ahead of this code.
    fn check(&self, known: &[Revision]) -> Result<(), MigrateError> {
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

    fn status(&self, known: &[Revision]) -> Status {
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

async fn table_exists(conn: &mut MySqlConnection, name: &str) -> Result<bool, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = ?",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    Ok(count > 0)
}

async fn read_state(conn: &mut MySqlConnection) -> Result<State, MigrateError> {
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
    let fresh = State {
        source: Source::Ours,
        applied: BTreeMap::new(),
    };
    if !table_exists(conn, "alembic_version").await? {
        return Ok(fresh);
    }
    let alembic: Option<String> =
        sqlx::query_scalar("SELECT version_num FROM alembic_version LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    // An empty alembic_version is alembic's "base": no tables, nothing to take over.
    let Some(alembic) = alembic else {
        return Ok(fresh);
    };
    let Some(&(_, last)) = ALEMBIC_REVISIONS.iter().find(|(rev, _)| *rev == alembic) else {
        return Err(MigrateError::UnknownAlembicRevision(alembic));
    };
    let applied = revisions()
        .iter()
        .filter(|r| r.version <= last)
        .map(|r| (r.version, applied_row(r)))
        .collect();
    Ok(State {
        source: Source::Alembic,
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_revision_is_reversible_and_numbered_from_one() {
        let known = revisions();
        let versions: Vec<i64> = known.iter().map(|r| r.version).collect();
        let expected: Vec<i64> = (1..=known.len() as i64).collect();
        assert_eq!(versions, expected);
        // Every file in migrations/ belongs to an up/down pair.
        assert_eq!(MIGRATOR.iter().count(), known.len() * 2);
    }

    #[test]
    fn targets_parse_as_status_prints_them() {
        assert_eq!(Target::parse("head").unwrap(), Target::Head);
        assert_eq!(Target::parse("base").unwrap(), Target::Base);
        assert_eq!(Target::parse("2").unwrap(), Target::Version(2));
        assert!(Target::parse("latest").is_err());
        let command: Command =
            serde_json::from_str(r#"{"command": "downgrade", "target": 1}"#).unwrap();
        assert_eq!(
            command,
            Command::Downgrade {
                target: Target::Version(1)
            }
        );
        let command: Command = serde_json::from_str(r#"{"command": "upgrade"}"#).unwrap();
        assert_eq!(
            command,
            Command::Upgrade {
                target: Target::Head
            }
        );
    }

    #[test]
    fn unknown_revision_targets_are_refused() {
        let known = revisions();
        assert!(matches!(
            Target::Version(999).resolve(&known),
            Err(MigrateError::UnknownRevision(999, _))
        ));
        assert_eq!(Target::Base.resolve(&known).unwrap(), 0);
    }
}
