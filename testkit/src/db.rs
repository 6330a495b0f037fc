//! A fresh database for each test, on the server `DATABASE_URL` points at.

use std::str::FromStr;

use axum::Router;
use serde_json::{Value, json};
use shared::platform::config::DbConfig;
use shared::platform::migrations::{self, Command, Target};
use shared::{AppState, Config};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, MySqlConnection, MySqlPool};

/// The server tests run against: `DATABASE_URL` (`scripts/test` provisions one and
/// exports it), else the private server `scripts/test` and `scripts/run-local` start, on
/// `WADOT_DB_PORT` (default 3407) as they do.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        let port = std::env::var("WADOT_DB_PORT").unwrap_or_else(|_| "3407".into());
        format!("mysql://root@127.0.0.1:{port}/mysql")
    })
}

/// A database created for one test and dropped when the value goes.
pub struct TestDb {
    pub name: String,
    /// `mysql://...` URL of this database.
    pub url: String,
    users: std::sync::Mutex<Vec<String>>,
}

impl TestDb {
    /// An empty database.
    pub async fn new() -> Self {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connection().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )))
        .execute(&mut admin)
        .await
        .expect("create the test database");
        let url = with_database(&server_url(), &name);
        Self {
            name,
            url,
            users: Default::default(),
        }
    }

    /// A database at the head revision.
    pub async fn migrated() -> Self {
        let db = Self::new().await;
        migrate_to_head(&mut db.connect().await).await;
        db
    }

    pub fn db_config(&self) -> DbConfig {
        let mut config = DbConfig::from_url(&self.url).expect("a valid test database URL");
        config.max_connections = 8;
        config
    }

    pub fn config(&self) -> Config {
        Config {
            env: shared::platform::config::AppEnv::Local,
            database: self.db_config(),
            slack_token: None,
            tokens: crate::jwt::tokens(),
        }
    }

    /// The state a function is built with, on this database.
    pub async fn state(&self) -> AppState {
        AppState::new(self.config()).await
    }

    /// A connection of the test's own, for setting up and checking rows.
    pub async fn connect(&self) -> MySqlConnection {
        connect(&self.url).await
    }

    /// Runs `statements` (no binds) on a connection of its own.
    pub async fn sql(&self, statements: &str) {
        let mut conn = self.connect().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(statements))
            .execute(&mut conn)
            .await
            .expect("run the statements");
    }

    /// The one integer `query` selects.
    pub async fn scalar(&self, query: &str) -> i64 {
        let mut conn = self.connect().await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_one(&mut conn)
            .await
            .expect("run the query")
    }

    /// Makes every insert into `audit_log` fail with SQLSTATE 45000 and `message`, as an
    /// audit write that cannot be done (`DROP TRIGGER audit_fails` lifts it).
    pub async fn refuse_audit_writes(&self, message: &str) {
        self.sql(&format!(
            "CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log FOR EACH ROW \
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{message}'"
        ))
        .await;
    }

    /// Starts the function `binary` on this database (see [`LambdaProcess::start`]).
    pub async fn start_lambda(&self, binary: &str) -> (crate::RuntimeApi, crate::LambdaProcess) {
        crate::LambdaProcess::start(binary, &[("DATABASE_URL", &self.url)]).await
    }

    /// How many rows `table` holds.
    pub async fn count(&self, table: &str) -> i64 {
        self.count_where(table, "TRUE").await
    }

    /// How many rows of `table` match `condition` (SQL).
    pub async fn count_where(&self, table: &str, condition: &str) -> i64 {
        self.scalar(&format!("SELECT COUNT(*) FROM `{table}` WHERE {condition}"))
            .await
    }

    /// An admin (SSO id [`ADMIN`], username `admin`) and a registered non-admin
    /// ([`MEMBER`], `member`), as [`TestDb::insert_user`] writes them.
    pub async fn insert_admin_and_member(&self) {
        self.insert_user(ADMIN, "admin", true).await;
        self.insert_user(MEMBER, "member", false).await;
    }

    /// A registered user (`Waffle Kim`, a member), written directly so that it leaves no
    /// audit entry; returns its id.
    pub async fn insert_user(&self, sso_id: &str, username: &str, is_admin: bool) -> i64 {
        self.insert_user_named(sso_id, username, is_admin, "Waffle", None)
            .await
    }

    /// Like [`TestDb::insert_user`], with this first name and image.
    pub async fn insert_user_named(
        &self,
        sso_id: &str,
        username: &str,
        is_admin: bool,
        first_name: &str,
        image_url: Option<&str>,
    ) -> i64 {
        let mut conn = self.connect().await;
        let result = sqlx::query(
            "INSERT INTO `user` (sso_id, username, first_name, last_name, image_url, \
             is_rookie, is_member, is_active, is_admin) \
             VALUES (?, ?, ?, 'Kim', ?, FALSE, TRUE, TRUE, ?)",
        )
        .bind(sso_id)
        .bind(username)
        .bind(first_name)
        .bind(image_url)
        .bind(is_admin)
        .execute(&mut conn)
        .await
        .expect("insert a user");
        result.last_insert_id() as i64
    }

    /// A MySQL account of its own for this database, logging in with `password`
    /// (dropped with the database). Needs an admin account in `DATABASE_URL`.
    pub async fn create_user(&self, password: &str) -> String {
        self.create_user_with("u", password, "ALL PRIVILEGES").await
    }

    /// An account named after `prefix` with only `privileges` (a GRANT's list, e.g.
    /// `SELECT, INSERT, UPDATE, DELETE`) on this database.
    pub async fn create_user_with(&self, prefix: &str, password: &str, privileges: &str) -> String {
        let user = format!("{prefix}_{}", &self.name[2..18]);
        let mut admin = admin_connection().await;
        for statement in [
            format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
            format!("GRANT {privileges} ON `{}`.* TO '{user}'@'%'", self.name),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.as_str()))
                .execute(&mut admin)
                .await
                .expect("create the test account");
        }
        self.users.lock().expect("lock").push(user.clone());
        user
    }

    /// `make`'s router on this database, with the shared layers, as a function serves it.
    pub async fn router(&self, make: impl FnOnce(AppState) -> Router) -> Router {
        let state = self.state().await;
        let tokens = state.config.tokens.clone();
        shared::platform::http::with_shared_layers(make(state), tokens)
    }

    /// `(actor, action, entity, entity_id, changes)` of every audit entry, oldest first.
    pub async fn audit_rows(&self) -> Vec<(String, String, String, String, Value)> {
        let mut conn = self.connect().await;
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT actor, action, entity, entity_id, CAST(changes AS CHAR) FROM audit_log ORDER BY id",
        )
        .fetch_all(&mut conn)
        .await
        .expect("read audit_log");
        rows.into_iter()
            .map(|(actor, action, entity, entity_id, changes)| {
                let changes = serde_json::from_str(&changes).expect("changes is JSON");
                (actor, action, entity, entity_id, changes)
            })
            .collect()
    }

    /// Every audit entry, oldest first: `{actor, action, entity, entity_id, changes}`.
    pub async fn audit_log(&self) -> Vec<Value> {
        let rows = self.audit_rows().await;
        rows.into_iter()
            .map(|(actor, action, entity, entity_id, changes)| {
                audit_entry(&actor, &action, &entity, entity_id, changes)
            })
            .collect()
    }

    pub async fn pool(&self) -> MySqlPool {
        MySqlPoolOptions::new()
            .max_connections(4)
            .connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let users = std::mem::take(&mut *self.users.lock().unwrap_or_else(|e| e.into_inner()));
        // Drop cannot await; a short-lived runtime on its own thread does the cleanup.
        // It gives up rather than wait on locks that the test's own pool may still hold.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let mut admin = admin_connection().await;
                let _ = sqlx::raw_sql("SET SESSION lock_wait_timeout = 5")
                    .execute(&mut admin)
                    .await;
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS `{name}`"
                )))
                .execute(&mut admin)
                .await;
                for user in users {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP USER IF EXISTS '{user}'@'%'"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// The state a function is built with, on a pool of one connection to `url`.
pub async fn single_connection_state(url: &str) -> AppState {
    let mut database = DbConfig::from_url(url).expect("a valid database URL");
    database.max_connections = 1;
    AppState::new(Config {
        env: shared::platform::config::AppEnv::Local,
        database,
        slack_token: None,
        tokens: crate::jwt::tokens(),
    })
    .await
}

async fn admin_connection() -> MySqlConnection {
    MySqlConnectOptions::from_str(&server_url())
        .expect("DATABASE_URL is a mysql:// URL")
        .database("mysql")
        .connect()
        .await
        .expect("connect to the test database server (DATABASE_URL)")
}

/// Upgrades the database `conn` is connected to to the head revision.
pub async fn migrate_to_head(conn: &mut MySqlConnection) {
    migrations::run(
        conn,
        &Command::Upgrade {
            target: Target::Head,
        },
    )
    .await
    .expect("migrate the test database to head");
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("mysql", url));
    let (authority, query) = match rest.split_once('/') {
        Some((authority, path)) => (authority, path.split_once('?').map(|(_, q)| q)),
        None => (rest, None),
    };
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// A connection to `url` in the collation of the schema, as the product's pool connects
/// (shared::platform::config): sqlx 0.9 otherwise leaves it to the server's default for utf8mb4
/// (`utf8mb4_general_ci` in MariaDB), and comparing a `CAST(... AS CHAR)` with a column
/// then fails with "Illegal mix of collations".
pub async fn connect(url: &str) -> MySqlConnection {
    let options = MySqlConnectOptions::from_str(url)
        .expect("a MySQL URL")
        .charset("utf8mb4")
        .collation("utf8mb4_unicode_ci");
    MySqlConnection::connect_with(&options)
        .await
        .expect("connect to the test database")
}

/// The SSO id of the admin [`TestDb::insert_admin_and_member`] inserts.
pub const ADMIN: &str = "900";
/// The SSO id of the registered non-admin [`TestDb::insert_admin_and_member`] inserts.
pub const MEMBER: &str = "901";

/// An audit entry as [`TestDb::audit_log`] shows it.
pub fn audit_entry(
    actor: &str,
    action: &str,
    entity: &str,
    entity_id: impl ToString,
    changes: Value,
) -> Value {
    json!({
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id.to_string(),
        "changes": changes,
    })
}
