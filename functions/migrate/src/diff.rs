//! `migrate diff`: what `alembic revision --autogenerate` gave the old team. It compares
//! a live database with the schema the revisions produce at the revision the database
//! records, and writes the difference as SQL: the statements that bring the revisions'
//! schema to the live one (a new revision's `up`) and back (its `down`).
//!
//! The expected schema is built for real, not modelled: the revisions up to the recorded
//! one are applied to a scratch database on the same server (same version, same
//! defaults), which is dropped afterwards. Both schemas are then read the same way:
//! the tables and triggers from `information_schema`, and each table's columns, keys and
//! constraints as the server's own `SHOW CREATE TABLE` writes them. Those definitions are
//! already the syntax `ALTER TABLE` takes, and they are written the same way for both
//! databases, where `information_schema.COLUMNS.COLUMN_DEFAULT` is written differently
//! by MariaDB and MySQL.
//!
//! Compared: tables (and their options, AUTO_INCREMENT aside), columns (type,
//! nullability, default, collation, extra), keys and indexes, foreign keys and checks,
//! triggers. Not compared: column order alone, views, routines, events, rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use shared::platform::config::DbConfig;
use shared::platform::migrations::{self, Command, MigrateError, Target};
use sqlx::mysql::MySqlRow;
use sqlx::{Connection, MySqlConnection, Row};

/// Tables that record revisions rather than hold the schema.
const BOOKKEEPING: [&str; 2] = ["schema_migrations", "alembic_version"];

/// Why a diff could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "revision {0} is dirty (it failed halfway); repair it first (`migrate status` says how)"
    )]
    Dirty(i64),
    #[error(
        "the database is at revision {current}, newer than this code's head {head}: run the diff with the code that wrote it"
    )]
    NewerThanCode { current: i64, head: i64 },
    #[error(
        "could not create the scratch database {name} next to the live one: {source}. \
         `migrate diff` builds the expected schema there: run it with an account that may \
         CREATE and DROP databases (MIGRATOR_DATABASE_URL)"
    )]
    Scratch { name: String, source: sqlx::Error },
}

/// A database's schema, as compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
    pub triggers: BTreeMap<String, Trigger>,
}

/// One table, from `SHOW CREATE TABLE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Name and definition (`varchar(50) NOT NULL DEFAULT 'x'`, name included), in order.
    pub columns: Vec<(String, String)>,
    /// `PRIMARY` or the index's name → its definition (`UNIQUE KEY `n` (`c`)`).
    pub keys: BTreeMap<String, String>,
    /// Foreign keys and checks: name → `CONSTRAINT `n` ...`.
    pub constraints: BTreeMap<String, String>,
    /// Lines this reader does not know (a partition clause, a period): compared, never
    /// written as SQL.
    pub other: Vec<String>,
    /// The table options (`ENGINE=InnoDB DEFAULT CHARSET=...`), AUTO_INCREMENT left out.
    pub options: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub table: String,
    /// `BEFORE` or `AFTER`.
    pub timing: String,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub event: String,
    pub statement: String,
}

/// The result: the live database's revision and the SQL both ways.
#[derive(Debug, Clone)]
pub struct Diff {
    pub revision: i64,
    /// From the revisions' schema to the live one.
    pub up: Vec<String>,
    /// From the live schema back to the revisions' one.
    pub down: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.up.is_empty() && self.down.is_empty()
    }
}

/// Compares the database `live` names with what the revisions produce at its revision.
pub async fn diff(live: &DbConfig) -> Result<Diff, DiffError> {
    let mut conn = MySqlConnection::connect_with(&live.connect_options(None)).await?;
    let status = migrations::status(&mut conn).await?;
    if let Some(version) = status.dirty {
        return Err(DiffError::Dirty(version));
    }
    let revision = status.current.unwrap_or(0);
    let head = migrations::head();
    if revision > head {
        return Err(DiffError::NewerThanCode {
            current: revision,
            head,
        });
    }
    let actual = read_schema(&mut conn).await?;
    let expected = expected_schema(&mut conn, live, revision).await?;
    Ok(Diff {
        revision,
        up: plan(&expected, &actual),
        down: plan(&actual, &expected),
    })
}

/// The schema revisions 1..=`revision` produce, built in a scratch database on the
/// server `conn` is connected to, in the live database's character set and collation.
async fn expected_schema(
    conn: &mut MySqlConnection,
    live: &DbConfig,
    revision: i64,
) -> Result<Schema, DiffError> {
    let (charset, collation): (String, String) = sqlx::query_as(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
         FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()",
    )
    .fetch_one(&mut *conn)
    .await?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("wadot_diff_{}_{nanos}", std::process::id());
    let create = format!(
        "CREATE DATABASE {} CHARACTER SET {charset} COLLATE {collation}",
        quote(&name)
    );
    if let Err(source) = sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut *conn)
        .await
    {
        return Err(DiffError::Scratch { name, source });
    }
    let built = async {
        let mut scratch_config = live.clone();
        scratch_config.database = name.clone();
        let mut scratch =
            MySqlConnection::connect_with(&scratch_config.connect_options(None)).await?;
        if revision > 0 {
            let upgrade = Command::Upgrade {
                target: Target::Version(revision),
            };
            migrations::run(&mut scratch, &upgrade).await?;
        }
        let schema = read_schema(&mut scratch).await?;
        let _ = scratch.close().await;
        Ok::<_, DiffError>(schema)
    }
    .await;
    let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {}",
        quote(&name)
    )))
    .execute(&mut *conn)
    .await;
    let schema = built?;
    dropped?;
    Ok(schema)
}

/// The schema of the database `conn` is connected to, bookkeeping tables aside.
pub async fn read_schema(conn: &mut MySqlConnection) -> Result<Schema, sqlx::Error> {
    let names = sqlx::query(
        "SELECT TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut schema = Schema::default();
    for row in names {
        let name = text(&row, 0)?;
        if BOOKKEEPING.contains(&name.as_str()) {
            continue;
        }
        let created = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SHOW CREATE TABLE {}",
            quote(&name)
        )))
        .fetch_one(&mut *conn)
        .await?;
        schema
            .tables
            .insert(name, parse_create_table(&text(&created, 1)?));
    }
    let triggers = sqlx::query(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, \
         ACTION_STATEMENT FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in triggers {
        schema.triggers.insert(
            text(&row, 0)?,
            Trigger {
                table: text(&row, 1)?,
                timing: text(&row, 2)?,
                event: text(&row, 3)?,
                statement: text(&row, 4)?.trim().to_owned(),
            },
        );
    }
    Ok(schema)
}

/// A text column, whether the server sends it as text or as bytes (MySQL 8 sends some
/// `information_schema` and `SHOW` columns as binary strings).
fn text(row: &MySqlRow, index: usize) -> Result<String, sqlx::Error> {
    match row.try_get::<String, _>(index) {
        Ok(value) => Ok(value),
        Err(_) => {
            let bytes: Vec<u8> = row.try_get(index)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

/// Reads `SHOW CREATE TABLE`'s text: one definition per line between the parentheses.
pub fn parse_create_table(sql: &str) -> Table {
    let mut table = Table::default();
    let mut lines = sql.lines().skip(1).peekable();
    while let Some(line) = lines.next() {
        if lines.peek().is_none() {
            // `) ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=...`
            let options = line.trim_start_matches(')').trim();
            table.options = options
                .split_whitespace()
                .filter(|option| !option.starts_with("AUTO_INCREMENT="))
                .collect::<Vec<_>>()
                .join(" ");
            break;
        }
        let line = line.trim().trim_end_matches(',').to_owned();
        if line.starts_with('`') {
            table.columns.push((first_name(&line), line));
        } else if line.starts_with("PRIMARY KEY") {
            table.keys.insert("PRIMARY".into(), line);
        } else if line.starts_with("CONSTRAINT") {
            table.constraints.insert(first_name(&line), line);
        } else if ["UNIQUE KEY", "KEY", "FULLTEXT KEY", "SPATIAL KEY"]
            .iter()
            .any(|kind| line.starts_with(&format!("{kind} `")))
        {
            table.keys.insert(first_name(&line), line);
        } else {
            table.other.push(line);
        }
    }
    table
}

/// The first backquoted name in `line`.
fn first_name(line: &str) -> String {
    let mut parts = line.splitn(3, '`');
    parts.next();
    parts.next().unwrap_or_default().to_owned()
}

/// An identifier in backquotes.
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The statements that turn schema `from` into schema `to`, in an order the server
/// accepts: triggers and foreign keys that go or change are dropped first, tables come
/// and go, each kept table gets one `ALTER TABLE`, then foreign keys and triggers are
/// (re)created. Values a statement may lose are named in a `-- may lose ...` comment before
/// it; a difference this planner cannot write is a `TODO` statement, which the server
/// refuses, so a revision holding one cannot be applied (or pass the revision tests)
/// before someone writes it.
pub fn plan(from: &Schema, to: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    for (name, trigger) in &from.triggers {
        if to.triggers.get(name) != Some(trigger) {
            out.push(format!("DROP TRIGGER {}", quote(name)));
        }
    }
    for (table_name, table) in &from.tables {
        let kept = to.tables.get(table_name);
        for (name, definition) in &table.constraints {
            if kept.and_then(|t| t.constraints.get(name)) != Some(definition) {
                let what = if definition.contains(" FOREIGN KEY ") {
                    "FOREIGN KEY"
                } else {
                    "CONSTRAINT"
                };
                out.push(format!(
                    "ALTER TABLE {} DROP {what} {}",
                    quote(table_name),
                    quote(name)
                ));
            }
        }
    }
    for name in from.tables.keys().filter(|n| !to.tables.contains_key(*n)) {
        out.push(format!(
            "-- may lose every row of {}\nDROP TABLE {}",
            quote(name),
            quote(name)
        ));
    }
    for (name, table) in to
        .tables
        .iter()
        .filter(|(n, _)| !from.tables.contains_key(*n))
    {
        let definitions: Vec<&str> = table
            .columns
            .iter()
            .map(|(_, d)| d)
            .chain(table.keys.get("PRIMARY"))
            .chain(
                table
                    .keys
                    .iter()
                    .filter(|(k, _)| *k != "PRIMARY")
                    .map(|(_, d)| d),
            )
            .map(String::as_str)
            .collect();
        let mut create = format!(
            "CREATE TABLE {} (\n  {}\n) {}",
            quote(name),
            definitions.join(",\n  "),
            table.options
        );
        if !table.other.is_empty() {
            let _ = write!(create, ";\n{}", todo(name, &table.other));
        }
        out.push(create);
    }
    for (name, to_table) in &to.tables {
        if let Some(from_table) = from.tables.get(name) {
            out.extend(alter_table(name, from_table, to_table));
        }
    }
    for (table_name, table) in &to.tables {
        let before = from.tables.get(table_name);
        for (name, definition) in &table.constraints {
            if before.and_then(|t| t.constraints.get(name)) != Some(definition) {
                out.push(format!(
                    "ALTER TABLE {} ADD {definition}",
                    quote(table_name)
                ));
            }
        }
    }
    for (name, trigger) in &to.triggers {
        if from.triggers.get(name) != Some(trigger) {
            out.push(format!(
                "CREATE TRIGGER {} {} {} ON {} FOR EACH ROW\n    {}",
                quote(name),
                trigger.timing,
                trigger.event,
                quote(&trigger.table),
                trigger.statement
            ));
        }
    }
    out
}

/// One `ALTER TABLE` for what changed in a table both schemas have, if anything did.
fn alter_table(name: &str, from: &Table, to: &Table) -> Option<String> {
    let mut clauses = Vec::new();
    let mut losses = Vec::new();
    for (key, definition) in &from.keys {
        if to.keys.get(key) != Some(definition) {
            clauses.push(if key == "PRIMARY" {
                "DROP PRIMARY KEY".to_owned()
            } else {
                format!("DROP INDEX {}", quote(key))
            });
        }
    }
    let to_columns: BTreeMap<&str, &str> = to
        .columns
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_str()))
        .collect();
    let from_columns: BTreeMap<&str, &str> = from
        .columns
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_str()))
        .collect();
    for (column, _) in &from.columns {
        if !to_columns.contains_key(column.as_str()) {
            clauses.push(format!("DROP COLUMN {}", quote(column)));
            losses.push(format!("the values of {}.{}", quote(name), quote(column)));
        }
    }
    let mut previous: Option<&str> = None;
    for (column, definition) in &to.columns {
        match from_columns.get(column.as_str()) {
            None => {
                let place = previous.map_or("FIRST".to_owned(), |p| format!("AFTER {}", quote(p)));
                clauses.push(format!("ADD COLUMN {definition} {place}"));
            }
            Some(old) if old != definition => {
                clauses.push(format!("MODIFY COLUMN {definition}"));
                let was = old.strip_prefix(&quote(column)).unwrap_or(old).trim();
                losses.push(format!(
                    "values of {}.{} that the new definition cannot hold (was: {was})",
                    quote(name),
                    quote(column)
                ));
            }
            Some(_) => {}
        }
        previous = Some(column);
    }
    for (key, definition) in &to.keys {
        if from.keys.get(key) != Some(definition) {
            clauses.push(format!("ADD {definition}"));
        }
    }
    if from.options != to.options {
        clauses.push(to.options.clone());
    }
    if clauses.is_empty() && from.other == to.other {
        return None;
    }
    let mut statement = String::new();
    for loss in &losses {
        let _ = writeln!(statement, "-- may lose {loss}");
    }
    if !clauses.is_empty() {
        let _ = write!(
            statement,
            "ALTER TABLE {}\n    {}",
            quote(name),
            clauses.join(",\n    ")
        );
    }
    if from.other != to.other {
        if !clauses.is_empty() {
            statement.push_str(";\n");
        }
        statement.push_str(&todo(name, &to.other));
    }
    Some(statement)
}

/// A statement the server refuses: what a reviewer must write by hand.
fn todo(table: &str, lines: &[String]) -> String {
    format!(
        "TODO write by hand: table {} should end with these definitions, which migrate diff does not translate: {}",
        quote(table),
        lines.join(" / ")
    )
}

/// The statements as a file: each ends with `;`, separated by a blank line.
pub fn to_sql(statements: &[String]) -> String {
    statements
        .iter()
        .map(|s| format!("{s};\n\n"))
        .collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "CREATE TABLE `user` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(30) NOT NULL,
  `team_id` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `name` (`name`),
  KEY `team_id` (`team_id`),
  CONSTRAINT `user_ibfk_1` FOREIGN KEY (`team_id`) REFERENCES `team` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB AUTO_INCREMENT=12 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci";

    #[test]
    fn show_create_table_is_read_line_by_line() {
        let table = parse_create_table(USER);
        let names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["id", "name", "team_id"]);
        assert_eq!(table.columns[1].1, "`name` varchar(30) NOT NULL");
        assert_eq!(
            table.keys.keys().collect::<Vec<_>>(),
            ["PRIMARY", "name", "team_id"]
        );
        assert_eq!(
            table.constraints["user_ibfk_1"],
            "CONSTRAINT `user_ibfk_1` FOREIGN KEY (`team_id`) REFERENCES `team` (`id`) ON DELETE CASCADE"
        );
        assert_eq!(
            table.options,
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
        );
        assert!(table.other.is_empty());
    }

    #[test]
    fn a_changed_column_and_a_new_one_are_one_alter_both_ways() {
        let mut from = Schema::default();
        from.tables.insert("user".into(), parse_create_table(USER));
        let mut to = from.clone();
        let user = to.tables.get_mut("user").unwrap();
        user.columns[1].1 = "`name` varchar(60) NOT NULL".into();
        user.columns
            .insert(2, ("nick".into(), "`nick` varchar(10) DEFAULT 'x'".into()));
        let forth = plan(&from, &to);
        assert_eq!(forth.len(), 1, "{forth:?}");
        assert!(
            forth[0].starts_with("-- may lose values of `user`.`name`"),
            "{forth:?}"
        );
        assert!(forth[0].contains(
            "ALTER TABLE `user`\n    MODIFY COLUMN `name` varchar(60) NOT NULL,\n    \
             ADD COLUMN `nick` varchar(10) DEFAULT 'x' AFTER `name`"
        ));
        let back = plan(&to, &from);
        assert_eq!(back.len(), 1);
        assert!(back[0].contains("DROP COLUMN `nick`"), "{back:?}");
        assert!(back[0].contains("MODIFY COLUMN `name` varchar(30) NOT NULL"));
        assert!(plan(&from, &from).is_empty());
    }

    #[test]
    fn unknown_definitions_become_a_statement_the_server_refuses() {
        let mut from = Schema::default();
        from.tables.insert("user".into(), parse_create_table(USER));
        let mut to = from.clone();
        to.tables
            .get_mut("user")
            .unwrap()
            .other
            .push("PERIOD FOR `p` (`a`, `b`)".into());
        let statements = plan(&from, &to);
        assert_eq!(statements.len(), 1);
        assert!(
            statements[0].starts_with("TODO write by hand"),
            "{statements:?}"
        );
    }
}
