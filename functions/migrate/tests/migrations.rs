//! Schema revisions against a real MariaDB: the contract of "Migrations" in docs/api.md.
//!
//! Every test gets a fresh database (`testkit::TestDb`) on the server in `DATABASE_URL`.
//! Schemas are compared as `information_schema` shows them (see [`Schema`]), rows as
//! text (see [`Contents`]).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use shared::platform::migrations::{self, Command, MigrateError, Status, Target};
use sqlx::mysql::MySqlRow;
use sqlx::{Column, MySqlConnection, Row};
use testkit::{LambdaProcess, Outcome, TestDb};

/// What `alembic upgrade f2b7ce2c8874` ran on the old server's database.
const ALEMBIC_F2B7CE2C8874: &str = include_str!("fixtures/alembic_f2b7ce2c8874.sql");
/// What `alembic upgrade c8dea6766159` then ran.
const ALEMBIC_C8DEA6766159: &str = include_str!("fixtures/alembic_c8dea6766159.sql");

/// The old server's tables, sorted by name.
const ALEMBIC_TABLES: [&str; 6] = [
    "position",
    "position_user_association",
    "sns_account",
    "team",
    "team_user_association",
    "user",
];

/// Tables that record revisions rather than hold data.
const BOOKKEEPING: [&str; 2] = ["alembic_version", "schema_migrations"];

#[tokio::test]
async fn upgrade_downgrade_upgrade_leaves_the_same_schema() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;

    let status = upgrade(&mut conn, Target::Head)
        .await
        .expect("upgrade to head");
    assert_eq!(status, at_head());
    let at_head_schema = schema(&mut conn).await.without(&["schema_migrations"]);
    let tables = at_head_schema.table_names();
    for table in ALEMBIC_TABLES {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing at head: {tables:?}"
        );
    }
    assert!(at_head_schema.has_column("user", "generation"));

    let status = downgrade(&mut conn, Target::Base)
        .await
        .expect("downgrade to base");
    assert_eq!(status, at_base());
    assert_eq!(schema(&mut conn).await.table_names(), ["schema_migrations"]);
    assert_eq!(recorded(&mut conn).await, []);

    let status = upgrade(&mut conn, Target::Head)
        .await
        .expect("upgrade to head again");
    assert_eq!(status, at_head());
    assert_same_schema(
        &schema(&mut conn).await.without(&["schema_migrations"]),
        &at_head_schema,
        "after base and back",
    );
}

#[tokio::test]
async fn revisions_one_and_two_reproduce_the_alembic_schema() {
    let alembic_db = TestDb::new().await;
    let ours_db = TestDb::new().await;
    let mut alembic = alembic_db.connect().await;
    let mut ours = ours_db.connect().await;

    for (sql, revision, version) in [
        (ALEMBIC_F2B7CE2C8874, "f2b7ce2c8874", 1),
        (ALEMBIC_C8DEA6766159, "c8dea6766159", 2),
    ] {
        as_old_server(&alembic_db, sql).await;
        upgrade(&mut ours, Target::Version(version))
            .await
            .unwrap_or_else(|e| panic!("upgrade to revision {version}: {e:?}"));
        let alembic_schema = schema(&mut alembic).await.without(&BOOKKEEPING);
        assert_eq!(alembic_schema.table_names(), ALEMBIC_TABLES);
        // Revision 2 (c8dea6766159) added the column.
        assert_eq!(
            alembic_schema.has_column("user", "generation"),
            version >= 2,
            "{revision}"
        );
        assert_same_schema(
            &schema(&mut ours).await.without(&BOOKKEEPING),
            &alembic_schema,
            &format!("at revision {version} and {revision}"),
        );
    }
}

/// Takes over the Alembic database on `conn` at `alembic` (our revision `version`):
/// `status` shows that revision before, and head after an upgrade that records the
/// take-over. Returns the rows before and after.
async fn take_over(
    conn: &mut MySqlConnection,
    alembic: &str,
    version: i64,
) -> (Contents, Contents) {
    assert_eq!(alembic_version(conn).await, [alembic]);
    let before = contents(conn).await;
    assert_eq!(
        status(conn).await.expect("status before the take-over"),
        at_version(version)
    );

    let status_after = upgrade(conn, Target::Head)
        .await
        .expect("take over and upgrade");

    assert_eq!(status_after, at_head());
    assert_eq!(
        status(conn).await.expect("status after the take-over"),
        at_head()
    );
    assert_eq!(recorded(conn).await, taken_over_then_migrated(version));
    (before, contents(conn).await)
}

/// After a take-over: the names keep their Korean and emoji, the schema is head's, and
/// the database goes to base and back.
async fn assert_taken_over_cleanly(conn: &mut MySqlConnection) {
    assert_user_names_keep_their_korean_and_emoji(conn).await;
    assert_same_schema(
        &schema(conn).await.without(&BOOKKEEPING),
        &head_schema().await,
        "after the take-over",
    );

    assert_goes_to_base_and_back(conn).await;
}

#[tokio::test]
async fn takes_over_an_alembic_database_at_f2b7ce2c8874() {
    let db = old_server_database(&[ALEMBIC_F2B7CE2C8874, ROWS_THE_OLD_SERVER_WROTE]).await;
    let mut conn = db.connect().await;
    let (before, mut after) = take_over(&mut conn, "f2b7ce2c8874", 1).await;
    for user in after.get_mut("user").expect("the user table") {
        // Revision 2 added the column; nobody has filled it in yet.
        assert_eq!(user.remove("generation"), Some(None), "{user:?}");
    }
    assert_rows_survive(&before, &after);
    assert_taken_over_cleanly(&mut conn).await;
}

#[tokio::test]
async fn takes_over_an_alembic_database_at_c8dea6766159() {
    let (_db, mut conn) = old_server_at_c8dea6766159(
        "UPDATE user SET generation = '20.5' WHERE id = 1;
         UPDATE user SET generation = '21기' WHERE id = 9;",
    )
    .await;
    let (before, after) = take_over(&mut conn, "c8dea6766159", 2).await;
    assert_rows_survive(&before, &after);
    let generations: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT id, generation FROM user ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("read generations");
    assert_eq!(
        generations,
        [
            (1, Some("20.5".to_owned())),
            (2, None),
            (9, Some("21기".to_owned()))
        ]
    );
    assert_taken_over_cleanly(&mut conn).await;
}

#[tokio::test]
async fn refuses_an_unknown_alembic_revision_and_changes_nothing() {
    // A revision the old server made after this code was written.
    let (_db, mut conn) =
        old_server_at_c8dea6766159("UPDATE alembic_version SET version_num = '0123456789ab'").await;
    let schema_before = schema(&mut conn).await;
    let rows_before = contents(&mut conn).await;
    assert!(
        !schema_before
            .table_names()
            .contains(&"schema_migrations".to_owned())
    );

    for (command, result) in [
        ("upgrade", upgrade(&mut conn, Target::Head).await),
        ("upgrade 1", upgrade(&mut conn, Target::Version(1)).await),
        ("downgrade", downgrade(&mut conn, Target::Base).await),
        ("status", status(&mut conn).await),
    ] {
        let error = result.expect_err(command);
        assert!(
            matches!(&error, MigrateError::UnknownAlembicRevision(rev) if rev == "0123456789ab"),
            "{command}: {error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("0123456789ab"), "{command}: {message}");
        assert!(
            message.contains("Nothing was changed"),
            "{command}: {message}"
        );
    }

    assert_same_schema(
        &schema(&mut conn).await,
        &schema_before,
        "after the refusals",
    );
    assert_eq!(contents(&mut conn).await, rows_before, "no row is touched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upgrades_apply_each_revision_once() {
    let db = TestDb::new().await;
    let mut first = db.connect().await;
    let mut second = db.connect().await;

    // Both ask for the lock before either has an answer; the server serialises them.
    let (first, second) = tokio::join!(
        upgrade(&mut first, Target::Head),
        upgrade(&mut second, Target::Head)
    );

    assert_eq!(first.expect("the first concurrent upgrade"), at_head());
    assert_eq!(second.expect("the second concurrent upgrade"), at_head());
    let mut conn = db.connect().await;
    let expected: Vec<(i64, String, bool)> = all_versions()
        .into_iter()
        .map(|v| (v, "migrate".to_owned(), true))
        .collect();
    assert_eq!(recorded(&mut conn).await, expected);
    assert_same_schema(
        &schema(&mut conn).await.without(&["schema_migrations"]),
        &head_schema().await,
        "after concurrent upgrades",
    );
}

#[tokio::test]
async fn a_run_waits_while_another_holds_the_migration_lock() {
    let db = TestDb::new().await;
    let mut holder = db.connect().await;
    let locked: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK('waffledotcom.schema_migrations', 60)")
            .fetch_one(&mut holder)
            .await
            .expect("take the migration lock");
    assert_eq!(locked, Some(1));

    let mut conn = db.connect().await;
    let finished = Cell::new(false);
    let run = async {
        let result = upgrade(&mut conn, Target::Head).await;
        finished.set(true);
        result
    };
    let hold_then_release = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !finished.get(),
            "the upgrade ran while another run held the lock"
        );
        assert_eq!(
            schema(&mut holder).await.table_names(),
            Vec::<String>::new()
        );
        sqlx::query("SELECT RELEASE_LOCK('waffledotcom.schema_migrations')")
            .execute(&mut holder)
            .await
            .expect("release the migration lock");
    };
    let (status, ()) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(run, hold_then_release)
    })
    .await
    .expect("the upgrade goes on once the lock is free");
    assert_eq!(status.expect("upgrade to head"), at_head());
}

#[tokio::test]
async fn a_revision_that_failed_halfway_blocks_further_runs() {
    // Someone added the column by hand, so revision 2 fails on it.
    let alter = "ALTER TABLE user ADD COLUMN generation VARCHAR(30) NULL";
    let (_db, mut conn) = database_at_then(1, alter).await;

    assert_revision_fails(&mut conn, 2).await;
    assert_eq!(
        recorded(&mut conn).await,
        [
            (1, "migrate".to_owned(), true),
            (2, "migrate".to_owned(), false)
        ]
    );

    for (command, result) in [
        ("upgrade", upgrade(&mut conn, Target::Head).await),
        ("downgrade", downgrade(&mut conn, Target::Base).await),
    ] {
        let error = result.expect_err(command);
        assert!(
            matches!(error, MigrateError::Dirty { version: 2 }),
            "{command}: {error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("UPDATE schema_migrations SET success = 1 WHERE version = 2"),
            "{command}: {message}"
        );
    }
    // The dirty revision is neither applied nor pending: `dirty` names it.
    assert_dirty_at(&mut conn, 2).await;
    assert!(
        has_column(&mut conn, "user", "generation").await,
        "nothing was undone"
    );

    // The repair the message describes: the column is there, so revision 2 is complete.
    execute(
        &mut conn,
        "UPDATE schema_migrations SET success = 1 WHERE version = 2",
    )
    .await;
    assert_eq!(
        status(&mut conn).await.expect("status after the repair"),
        at_version(2)
    );
    assert_upgrades_to_head(&mut conn, "upgrade after the repair").await;
}

#[tokio::test]
async fn a_revision_that_fails_midway_is_recorded_as_dirty() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    // A leftover table: revision 1 creates `position`, then fails on `team`.
    execute(&mut conn, "CREATE TABLE team (id INT PRIMARY KEY)").await;

    assert_revision_fails(&mut conn, 1).await;
    assert!(
        has_column(&mut conn, "position", "name").await,
        "revision 1 ran up to `team`"
    );
    assert!(
        !has_column(&mut conn, "user", "id").await,
        "revision 1 stopped at `team`"
    );
    assert_eq!(
        recorded(&mut conn).await,
        [(1, "migrate".to_owned(), false)]
    );

    let error = upgrade(&mut conn, Target::Head)
        .await
        .expect_err("a dirty database");
    assert!(
        matches!(error, MigrateError::Dirty { version: 1 }),
        "{error:?}"
    );
    assert_dirty_at(&mut conn, 1).await;

    // The other repair the message describes: undo by hand, forget the revision.
    execute(
        &mut conn,
        "DROP TABLE position; DROP TABLE team; DELETE FROM schema_migrations WHERE version = 1;",
    )
    .await;
    assert_upgrades_to_head(&mut conn, "upgrade after the repair").await;
}

#[tokio::test]
async fn upgrade_to_a_version_and_downgrade_to_a_version() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;

    let status_at_1 = upgrade(&mut conn, Target::Version(1))
        .await
        .expect("upgrade to 1");
    assert_eq!(status_at_1, at_version(1));
    assert_eq!(status_at_1.pending, all_versions()[1..]);
    assert!(!has_column(&mut conn, "user", "generation").await);
    // Upgrading to the current revision changes nothing.
    assert_upgrades(&mut conn, Target::Version(1), at_version(1)).await;

    assert_upgrades(&mut conn, Target::Version(2), at_version(2)).await;
    assert!(has_column(&mut conn, "user", "generation").await);
    assert_upgrades_to_head(&mut conn, "upgrade to head").await;

    let error = upgrade(&mut conn, Target::Version(1))
        .await
        .expect_err("upgrade below current");
    assert!(
        matches!(error, MigrateError::TargetBelowCurrent { target: 1, current } if current == migrations::head()),
        "{error:?}"
    );

    assert_downgrades(&mut conn, Target::Version(1), at_version(1)).await;
    assert!(!has_column(&mut conn, "user", "generation").await);
    let error = downgrade(&mut conn, Target::Version(2))
        .await
        .expect_err("downgrade above current");
    assert!(
        matches!(
            error,
            MigrateError::TargetAboveCurrent {
                target: 2,
                current: 1
            }
        ),
        "{error:?}"
    );

    let schema_at_1 = schema(&mut conn).await;
    for (command, result) in [
        (
            "upgrade 999",
            upgrade(&mut conn, Target::Version(999)).await,
        ),
        (
            "downgrade 999",
            downgrade(&mut conn, Target::Version(999)).await,
        ),
    ] {
        let error = result.expect_err(command);
        assert!(
            matches!(&error, MigrateError::UnknownRevision(999, known) if *known == all_versions()),
            "{command}: {error:?}"
        );
        assert!(error.to_string().contains("999"), "{command}: {error}");
    }
    assert_same_schema(
        &schema(&mut conn).await,
        &schema_at_1,
        "after the refused targets",
    );
    assert_eq!(status(&mut conn).await.expect("status"), at_version(1));

    assert_downgrades(&mut conn, Target::Version(0), at_base()).await;
    assert_eq!(schema(&mut conn).await.table_names(), ["schema_migrations"]);
}

#[tokio::test]
async fn binary_answers_lambda_runtime_api_invocations() {
    let db = TestDb::new().await;
    let (runtime, mut function) =
        LambdaProcess::start(env!("CARGO_BIN_EXE_migrate"), &[("DATABASE_URL", &db.url)]).await;

    let answer = runtime.invoke(json!({"command": "status"})).await;
    assert_eq!(
        answer,
        Outcome::Response(status_json(&at_base())),
        "{}",
        function.logs()
    );

    let answer = runtime
        .invoke(json!({"command": "upgrade", "target": "head"}))
        .await;
    assert_eq!(
        answer,
        Outcome::Response(status_json(&at_head())),
        "{}",
        function.logs()
    );
    assert_eq!(answer.response()["current"], json!(migrations::head()));

    let answer = runtime
        .invoke(json!({"command": "status"}))
        .await
        .response();
    assert_eq!(answer["pending"], json!([]));
    assert_eq!(answer, status_json(&at_head()));

    for (event, error_type, word, what) in [
        (
            json!({"command": "explode"}),
            "InvalidCommand",
            "explode",
            "an invalid event",
        ),
        (
            json!({"command": "downgrade", "target": 999}),
            "MigrationFailed",
            "999",
            "a failed migration",
        ),
    ] {
        assert_error(runtime.invoke(event).await, error_type, word);
        assert!(function.is_running(), "{what} must not end the process");
    }

    let answer = runtime
        .invoke(json!({"command": "downgrade", "target": 1}))
        .await;
    assert_eq!(
        answer,
        Outcome::Response(status_json(&at_version(1))),
        "{}",
        function.logs()
    );
}

#[tokio::test]
async fn command_line_prints_status_json_and_fails_with_nonzero_exit() {
    let db = TestDb::new().await;

    let output = command_line(&db, &["status"]).await;
    assert!(output.status.success(), "{output:?}");
    let printed = stdout_json(&output);
    assert_eq!(printed["pending"], json!(all_versions()));
    assert_eq!(printed, status_json(&at_base()));

    let output = command_line(&db, &["upgrade", "head"]).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout_json(&output)["current"], json!(migrations::head()));
    let mut conn = db.connect().await;
    assert_eq!(status(&mut conn).await.expect("status"), at_head());

    let output = command_line(&db, &["downgrade", "999"]).await;
    assert!(!output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("999"),
        "{output:?}"
    );
    assert_eq!(
        status(&mut conn).await.expect("status"),
        at_head(),
        "nothing was downgraded"
    );

    let output = command_line(&db, &[]).await;
    assert!(!output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("usage"),
        "{output:?}"
    );
    assert!(output.stdout.is_empty(), "{output:?}");
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A fresh database upgraded to revision `version`, and a connection to it.
async fn database_at(version: i64) -> (TestDb, MySqlConnection) {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    upgrade(&mut conn, Target::Version(version))
        .await
        .unwrap_or_else(|e| panic!("upgrade to revision {version}: {e:?}"));
    (db, conn)
}

/// [`database_at`] `version`, where `sql` then ran.
async fn database_at_then(version: i64, sql: &str) -> (TestDb, MySqlConnection) {
    let (db, mut conn) = database_at(version).await;
    execute(&mut conn, sql).await;
    (db, conn)
}

/// An upgrade to head (`what` names it) succeeds and answers head's status.
async fn assert_upgrades_to_head(conn: &mut MySqlConnection, what: &str) {
    assert_eq!(upgrade(conn, Target::Head).await.expect(what), at_head());
}

/// An upgrade to `target` succeeds and answers `expected`.
async fn assert_upgrades(conn: &mut MySqlConnection, target: Target, expected: Status) {
    let status = upgrade(conn, target).await;
    let status = status.unwrap_or_else(|e| panic!("upgrade to {target:?}: {e:?}"));
    assert_eq!(status, expected);
}

/// A downgrade to `target` succeeds and answers `expected`.
async fn assert_downgrades(conn: &mut MySqlConnection, target: Target, expected: Status) {
    let status = downgrade(conn, target).await;
    let status = status.unwrap_or_else(|e| panic!("downgrade to {target:?}: {e:?}"));
    assert_eq!(status, expected);
}

/// An upgrade to head fails in revision `version`, which it then records as dirty.
async fn assert_revision_fails(conn: &mut MySqlConnection, version: i64) {
    match upgrade(conn, Target::Head).await {
        Err(MigrateError::Revision { version: v, .. }) if v == version => {}
        other => panic!("revision {version} fails, got {other:?}"),
    }
}

/// `status` of a database whose revision `version` failed halfway: the revisions below
/// it applied, the ones above pending, and `version` neither, named as dirty.
async fn assert_dirty_at(conn: &mut MySqlConnection, version: i64) {
    let (applied, rest): (Vec<i64>, Vec<i64>) =
        all_versions().into_iter().partition(|&v| v < version);
    let expected = Status {
        current: applied.last().copied(),
        applied,
        pending: rest.into_iter().filter(|&v| v != version).collect(),
        dirty: Some(version),
    };
    let actual = status(conn).await.expect("status of a dirty database");
    assert_eq!(actual, expected);
}

/// `outcome` is an error of type `error_type` whose message names `word`.
fn assert_error(outcome: Outcome, error_type: &str, word: &str) {
    match outcome {
        Outcome::Error(error) => {
            assert_eq!(error["errorType"], error_type, "{error}");
            let message = error["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains(word), "{message}");
        }
        other => panic!("expected an error {error_type}, got {other:?}"),
    }
}

/// `schema_migrations` after taking over alembic at `alembic_last` and upgrading to head.
fn taken_over_then_migrated(alembic_last: i64) -> Vec<(i64, String, bool)> {
    all_versions()
        .into_iter()
        .map(|v| {
            let source = if v <= alembic_last {
                "alembic"
            } else {
                "migrate"
            };
            (v, source.to_owned(), true)
        })
        .collect()
}

fn all_versions() -> Vec<i64> {
    migrations::revisions().iter().map(|r| r.version).collect()
}

/// The status at `version`, with nothing dirty.
fn at_version(version: i64) -> Status {
    let (applied, pending) = all_versions().into_iter().partition(|&v| v <= version);
    Status {
        current: Some(version).filter(|&v| v > 0),
        applied,
        pending,
        dirty: None,
    }
}

fn at_head() -> Status {
    at_version(migrations::head())
}

fn at_base() -> Status {
    at_version(0)
}

fn status_json(status: &Status) -> Value {
    serde_json::to_value(status).expect("a status serialises")
}

async fn upgrade(conn: &mut MySqlConnection, target: Target) -> Result<Status, MigrateError> {
    migrations::run(conn, &Command::Upgrade { target }).await
}

async fn downgrade(conn: &mut MySqlConnection, target: Target) -> Result<Status, MigrateError> {
    migrations::run(conn, &Command::Downgrade { target }).await
}

async fn status(conn: &mut MySqlConnection) -> Result<Status, MigrateError> {
    migrations::run(conn, &Command::Status).await
}

/// Runs one or more SQL statements.
async fn execute(conn: &mut MySqlConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"));
}

/// The rows of `schema_migrations`: version, source, success.
async fn recorded(conn: &mut MySqlConnection) -> Vec<(i64, String, bool)> {
    sqlx::query_as("SELECT version, source, success FROM schema_migrations ORDER BY version")
        .fetch_all(conn)
        .await
        .expect("read schema_migrations")
}

async fn alembic_version(conn: &mut MySqlConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT version_num FROM alembic_version")
        .fetch_all(conn)
        .await
        .expect("read alembic_version")
}

async fn has_column(conn: &mut MySqlConnection, table: &str, column: &str) -> bool {
    schema(conn).await.has_column(table, column)
}

/// The schema at head as a fresh database gets it, without the bookkeeping tables.
async fn head_schema() -> Schema {
    let db = TestDb::migrated().await;
    let mut conn = db.connect().await;
    schema(&mut conn).await.without(&BOOKKEEPING)
}

/// After a take-over: down to base (which drops `alembic_version` too) and up again
/// give the schema of a fresh database.
async fn assert_goes_to_base_and_back(conn: &mut MySqlConnection) {
    assert_eq!(
        downgrade(conn, Target::Base)
            .await
            .expect("downgrade to base"),
        at_base()
    );
    assert_eq!(schema(conn).await.table_names(), ["schema_migrations"]);
    assert_eq!(recorded(conn).await, []);
    assert_eq!(
        upgrade(conn, Target::Head)
            .await
            .expect("upgrade to head again"),
        at_head()
    );
    assert_same_schema(
        &schema(conn).await.without(&["schema_migrations"]),
        &head_schema().await,
        "after base and back",
    );
}

/// Runs `sql` on a connection like the old server's (mysqlclient under SQLAlchemy): in
/// the server's default sql_mode. sqlx asks for IGNORE_SPACE, under which alembic's
/// unquoted `position (` and `user (` parse as the functions POSITION() and USER().
/// A fresh database the old server wrote: `scripts` run as it would have, in order.
async fn old_server_database(scripts: &[&str]) -> TestDb {
    let db = TestDb::new().await;
    for sql in scripts {
        as_old_server(&db, sql).await;
    }
    db
}

/// A fresh database the old server brought to c8dea6766159 and wrote its rows in, then
/// ran `then` on; and a connection to it.
async fn old_server_at_c8dea6766159(then: &str) -> (TestDb, MySqlConnection) {
    let db = old_server_database(&[
        ALEMBIC_F2B7CE2C8874,
        ALEMBIC_C8DEA6766159,
        ROWS_THE_OLD_SERVER_WROTE,
        then,
    ])
    .await;
    let conn = db.connect().await;
    (db, conn)
}

async fn as_old_server(db: &TestDb, sql: &str) {
    let mut conn = db.connect().await;
    execute(&mut conn, "SET SESSION sql_mode = @@GLOBAL.sql_mode").await;
    execute(&mut conn, sql).await;
}

/// Rows in every table of the old schema, as the old server would have written them:
/// Korean text and emoji included, which only utf8mb4 keeps.
const ROWS_THE_OLD_SERVER_WROTE: &str = "
INSERT INTO position (id, name) VALUES (1, 'frontend'), (2, 'backend'), (5, '디자이너');
INSERT INTO team (id, name, introduction)
    VALUES (1, '와플스튜디오', '서울대 컴퓨터공학부 동아리 🧇'), (3, 'infra', NULL);
INSERT INTO user (id, sso_id, username, image_url, first_name, last_name, department,
        college, phone_number, github_id, github_email, slack_id, slack_email,
        notion_email, apple_email, is_rookie, is_member, is_active, is_admin, introduction)
    VALUES
    (1, 'sso-1', 'waffle', 'https://example.com/waffle.png', '와플', '김🧇', '컴퓨터공학부',
     '공과대학', '010-1234-5678', 'waffle-gh', 'waffle@example.com', 'U0001',
     'waffle@wafflestudio.com', 'waffle@notion.so', 'waffle@icloud.com', 0, 1, 1, 1,
     '안녕하세요! 🍓🧇'),
    (2, NULL, NULL, NULL, 'Ada', 'Lovelace', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, 1, 0, 1, 0, NULL),
    (9, 'sso-9', '🐣', NULL, '루키', '박', NULL, NULL, NULL, NULL, NULL, 'U0009', NULL, NULL,
     NULL, 1, 1, 0, 0, '');
INSERT INTO position_user_association (position_id, user_id) VALUES (1, 1), (2, 1), (5, 9);
INSERT INTO sns_account (id, user_id, name, url)
    VALUES (1, 1, 'github', 'https://github.com/waffle'), (4, 9, '인스타', 'https://instagram.com/🐣');
INSERT INTO team_user_association (team_id, user_id) VALUES (1, 1), (1, 9), (3, 2);
";

async fn assert_user_names_keep_their_korean_and_emoji(conn: &mut MySqlConnection) {
    let names: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT first_name, last_name, username FROM user ORDER BY id")
            .fetch_all(conn)
            .await
            .expect("read user names");
    assert_eq!(
        names,
        [
            (
                "와플".to_owned(),
                "김🧇".to_owned(),
                Some("waffle".to_owned())
            ),
            ("Ada".to_owned(), "Lovelace".to_owned(), None),
            ("루키".to_owned(), "박".to_owned(), Some("🐣".to_owned())),
        ]
    );
}

/// Runs the `migrate` binary as a command line on `db`.
async fn command_line(db: &TestDb, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_migrate"));
    command
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("AWS_LAMBDA_FUNCTION_NAME")
        .env_remove("APP_ENV");
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking task ran")
        .expect("run the migrate binary")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {output:?}"))
}

/// Every table's rows (`schema_migrations` aside), each row column → value as text,
/// sorted so that insertion order does not matter.
type Contents = BTreeMap<String, Vec<BTreeMap<String, Option<String>>>>;

/// Every row of `before` is in `after` with the same values. Later revisions may add
/// columns (`created_at`, ...) and rows (seeded positions); those are not compared.
fn assert_rows_survive(before: &Contents, after: &Contents) {
    for (table, rows) in before {
        let after_rows = after.get(table).map(Vec::as_slice).unwrap_or_default();
        for row in rows {
            let found = after_rows.iter().any(|candidate| {
                row.iter()
                    .all(|(column, value)| candidate.get(column) == Some(value))
            });
            assert!(found, "{table}: row {row:?} did not survive the take-over");
        }
    }
}

async fn contents(conn: &mut MySqlConnection) -> Contents {
    let tables = schema(conn)
        .await
        .without(&["schema_migrations"])
        .table_names();
    let mut contents = Contents::new();
    for table in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM `{table}`")))
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("read {table}: {e}"));
        let mut rows: Vec<BTreeMap<String, Option<String>>> = rows
            .iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .map(|column| (column.name().to_owned(), text(row, column.ordinal())))
                    .collect()
            })
            .collect();
        rows.sort();
        contents.insert(table, rows);
    }
    contents
}

/// What revisions define, per table, as `information_schema` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Schema {
    tables: BTreeMap<String, TableSchema>,
}

type TextRow = Vec<Option<String>>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct TableSchema {
    /// TABLE_COLLATION, ENGINE.
    options: TextRow,
    /// COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,
    /// CHARACTER_SET_NAME, COLLATION_NAME.
    columns: Vec<TextRow>,
    /// INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME.
    indexes: Vec<TextRow>,
    /// CONSTRAINT_NAME, CONSTRAINT_TYPE, and for foreign keys UPDATE_RULE, DELETE_RULE.
    constraints: Vec<TextRow>,
    /// CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION, REFERENCED_TABLE_NAME,
    /// REFERENCED_COLUMN_NAME: the columns of keys, and what foreign keys point at.
    key_columns: Vec<TextRow>,
}

/// Fails with the rows that differ, table by table, rather than two schemas in full.
#[track_caller]
fn assert_same_schema(actual: &Schema, expected: &Schema, what: &str) {
    if actual == expected {
        return;
    }
    let mut names: Vec<&String> = actual.tables.keys().chain(expected.tables.keys()).collect();
    names.sort();
    names.dedup();
    let mut report = String::new();
    for name in names {
        let parts = |schema: &Schema| {
            schema
                .tables
                .get(name)
                .map(TableSchema::lines)
                .unwrap_or_default()
        };
        let (actual, expected) = (parts(actual), parts(expected));
        for line in actual.iter().filter(|l| !expected.contains(l)) {
            report.push_str(&format!("  {name}: only in actual:   {line}\n"));
        }
        for line in expected.iter().filter(|l| !actual.contains(l)) {
            report.push_str(&format!("  {name}: only in expected: {line}\n"));
        }
    }
    if report.is_empty() {
        // The same rows in another order or number.
        report = format!("  actual:   {actual:?}\n  expected: {expected:?}\n");
    }
    panic!("{what}: the schemas differ\n{report}");
}

impl TableSchema {
    /// Every row of every part, as `part: value | value | ...`.
    fn lines(&self) -> Vec<String> {
        let parts = [
            ("table", std::slice::from_ref(&self.options)),
            ("column", &self.columns[..]),
            ("index", &self.indexes[..]),
            ("constraint", &self.constraints[..]),
            ("key column", &self.key_columns[..]),
        ];
        parts
            .iter()
            .flat_map(|(part, rows)| {
                rows.iter().map(move |row| {
                    let values: Vec<&str> =
                        row.iter().map(|v| v.as_deref().unwrap_or("∅")).collect();
                    format!("{part}: {}", values.join(" | "))
                })
            })
            .collect()
    }
}

impl Schema {
    fn without(mut self, tables: &[&str]) -> Self {
        self.tables
            .retain(|name, _| !tables.contains(&name.as_str()));
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    fn has_column(&self, table: &str, column: &str) -> bool {
        self.tables.get(table).is_some_and(|t| {
            t.columns
                .iter()
                .any(|c| c.first() == Some(&Some(column.to_owned())))
        })
    }
}

async fn schema(conn: &mut MySqlConnection) -> Schema {
    const TABLES: &str = "SELECT TABLE_NAME, TABLE_COLLATION, ENGINE FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = DATABASE()";
    const COLUMNS: &str = "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE,
            IS_NULLABLE, COLUMN_DEFAULT, EXTRA, CHARACTER_SET_NAME, COLLATION_NAME
        FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
        ORDER BY TABLE_NAME, ORDINAL_POSITION";
    const INDEXES: &str = "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME
        FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
        ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";
    const CONSTRAINTS: &str = "SELECT t.TABLE_NAME, t.CONSTRAINT_NAME, t.CONSTRAINT_TYPE,
            r.UPDATE_RULE, r.DELETE_RULE
        FROM information_schema.TABLE_CONSTRAINTS t
        LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS r
            ON r.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA AND r.TABLE_NAME = t.TABLE_NAME
            AND r.CONSTRAINT_NAME = t.CONSTRAINT_NAME
        WHERE t.TABLE_SCHEMA = DATABASE()
        ORDER BY t.TABLE_NAME, t.CONSTRAINT_NAME";
    const KEY_COLUMNS: &str = "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION,
            REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
        FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE()
        ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION";

    let mut schema = Schema::default();
    for (table, options) in text_rows(conn, TABLES).await {
        schema.tables.entry(table).or_default().options = options;
    }
    let mut add = |rows: Vec<(String, TextRow)>,
                   part: fn(&mut TableSchema) -> &mut Vec<TextRow>| {
        for (table, row) in rows {
            let table = schema
                .tables
                .get_mut(&table)
                .unwrap_or_else(|| panic!("{table} is in information_schema.TABLES"));
            part(table).push(row);
        }
    };
    add(text_rows(conn, COLUMNS).await, |t| &mut t.columns);
    add(text_rows(conn, INDEXES).await, |t| &mut t.indexes);
    add(text_rows(conn, CONSTRAINTS).await, |t| &mut t.constraints);
    add(text_rows(conn, KEY_COLUMNS).await, |t| &mut t.key_columns);
    schema
}

/// The rows of `sql`, each split into its first column (a table name) and the rest.
async fn text_rows(conn: &mut MySqlConnection, sql: &str) -> Vec<(String, TextRow)> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"));
    rows.iter()
        .map(|row| {
            let mut values: TextRow = (0..row.len()).map(|i| text(row, i)).collect();
            let table = values.remove(0).expect("a table name");
            (table, values)
        })
        .collect()
}

/// A value as text, whatever its SQL type: strings as they are, numbers in decimal.
fn text(row: &MySqlRow, index: usize) -> Option<String> {
    if let Ok(value) = row.try_get::<Option<String>, _>(index) {
        return value;
    }
    if let Ok(value) = row.try_get::<Option<i64>, _>(index) {
        return value.map(|v| v.to_string());
    }
    if let Ok(value) = row.try_get::<Option<u64>, _>(index) {
        return value.map(|v| v.to_string());
    }
    if let Ok(value) = row.try_get::<Option<time::PrimitiveDateTime>, _>(index) {
        return value.map(|v| v.to_string());
    }
    let bytes: Option<Vec<u8>> = row
        .try_get(index)
        .unwrap_or_else(|e| panic!("column {index} is neither text, a number nor bytes: {e}"));
    bytes.map(|b| String::from_utf8_lossy(&b).into_owned())
}

#[tokio::test]
async fn seeding_positions_keeps_the_ones_that_exist() {
    let (_db, mut conn) = database_at_then(
        3,
        "INSERT INTO `position` (id, name) VALUES (40, '백엔드'), (41, 'IOS'), (42, 'Data')",
    )
    .await;
    upgrade(&mut conn, Target::Head).await.expect("seed");
    let names: Vec<(i32, String)> = sqlx::query_as("SELECT id, name FROM `position` ORDER BY name")
        .fetch_all(&mut conn)
        .await
        .expect("positions");
    let mut seen: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
    seen.sort_unstable();
    let mut expected = vec![
        "Data",
        "IOS",
        "디자이너",
        "백엔드",
        "안드로이드",
        "운영팀",
        "프론트엔드",
    ];
    expected.sort_unstable();
    assert_eq!(seen, expected, "no duplicates, nothing renamed");
    assert!(
        names.contains(&(40, "백엔드".to_owned())),
        "existing ids are kept"
    );
}

#[tokio::test]
async fn deleting_a_user_takes_its_links_and_keeps_positions_and_teams() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    upgrade(&mut conn, Target::Head).await.expect("head");
    execute(
        &mut conn,
        "INSERT INTO `user` (id, first_name, last_name, is_rookie, is_member, is_active, is_admin) \
         VALUES (1, 'A', 'B', 0, 1, 1, 0);
         INSERT INTO team (id, name) VALUES (1, 'T');
         INSERT INTO team_user_association (team_id, user_id) VALUES (1, 1);
         INSERT INTO position_user_association (position_id, user_id) SELECT MIN(id), 1 FROM `position`;
         INSERT INTO sns_account (user_id, name, url) VALUES (1, 'x', 'https://x.com');
         DELETE FROM `user` WHERE id = 1;",
    )
    .await;
    for (table, expected) in [
        ("team_user_association", 0),
        ("position_user_association", 0),
        ("sns_account", 0),
        ("team", 1),
    ] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&mut conn)
                .await
                .expect("count");
        assert_eq!(count, expected, "{table}");
    }
    // Deleting a position or a team keeps the user, only the link goes.
    execute(
        &mut conn,
        "INSERT INTO `user` (id, first_name, last_name, is_rookie, is_member, is_active, is_admin) \
         VALUES (2, 'C', 'D', 0, 1, 1, 0);
         INSERT INTO team_user_association (team_id, user_id) VALUES (1, 2);
         DELETE FROM team WHERE id = 1;",
    )
    .await;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM `user`")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(users, 1);
}
