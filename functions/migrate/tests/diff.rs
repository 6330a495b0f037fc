//! `migrate diff` and `migrate new <name> --from-diff`, run as the built binary against
//! databases on the test server (`DATABASE_URL`) that were changed by hand.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use migrate::diff::{Schema, read_schema};
use shared::platform::migrations::{self, Target};
use sqlx::MySqlConnection;
use testkit::TestDb;

/// What an operator might do by hand on a database at head: a column and its index, a
/// widened column, a dropped index, a table with a foreign key, a trigger dropped and
/// one added.
const BY_HAND: &str = "
ALTER TABLE `user` ADD COLUMN `nickname` VARCHAR(40) NULL DEFAULT 'waffle' AFTER `username`,
    ADD KEY `user_nickname` (`nickname`);
ALTER TABLE `team` MODIFY `name` VARCHAR(60) NOT NULL;
ALTER TABLE `audit_log` DROP INDEX `audit_log_actor`;
CREATE TABLE `badge` (
    `id` INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `user_id` INT NOT NULL,
    `label` VARCHAR(20) NOT NULL,
    CONSTRAINT `badge_user` FOREIGN KEY (`user_id`) REFERENCES `user` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
DROP TRIGGER `team_after_delete_directory`;
CREATE TRIGGER `badge_after_insert_directory` AFTER INSERT ON `badge` FOR EACH ROW
    UPDATE `directory_version` SET `version` = `version` + 1 WHERE `id` = 1;
";

#[tokio::test]
async fn an_untouched_database_has_no_difference_and_no_scratch_is_left() {
    let db = TestDb::migrated().await;
    let (output, pid) = run(&db, &["diff"], None).await;
    assert!(output.status.success(), "{output:?}");
    let head = migrations::head();
    assert!(
        stdout(&output).contains(&format!(
            "no difference: the database is what revisions 1..{head} produce"
        )),
        "{output:?}"
    );
    let left = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA \
             WHERE SCHEMA_NAME LIKE 'wadot\\_diff\\_{pid}\\_%'"
        ))
        .await;
    assert_eq!(left, 0, "the scratch database was dropped");
}

#[tokio::test]
async fn a_database_changed_by_hand_is_printed_as_sql_and_fails_the_command() {
    let db = TestDb::migrated().await;
    db.sql(BY_HAND).await;
    let (output, _) = run(&db, &["diff"], None).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let sql = stdout(&output);
    for expected in [
        "DROP TRIGGER `team_after_delete_directory`;",
        "CREATE TABLE `badge` (",
        "ALTER TABLE `audit_log`\n    DROP INDEX `audit_log_actor`;",
        "MODIFY COLUMN `name` varchar(60) NOT NULL",
        "ADD COLUMN `nickname` varchar(40) DEFAULT 'waffle' AFTER `username`",
        "ADD KEY `user_nickname` (`nickname`)",
        "ALTER TABLE `badge` ADD CONSTRAINT `badge_user` FOREIGN KEY (`user_id`) REFERENCES `user` (`id`) ON DELETE CASCADE;",
        "CREATE TRIGGER `badge_after_insert_directory` AFTER INSERT ON `badge` FOR EACH ROW",
    ] {
        assert!(sql.contains(expected), "{expected:?} missing from:\n{sql}");
    }
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!(
            "differs from revision {}'s schema",
            migrations::head()
        )),
        "{output:?}"
    );
}

#[tokio::test]
async fn from_diff_writes_a_pair_whose_up_makes_the_live_schema_and_whose_down_undoes_it() {
    let live = TestDb::migrated().await;
    live.sql(BY_HAND).await;
    let scratch = ScratchRepo::new();
    let (output, _) = run(
        &live,
        &["new", "hand_changes", "--from-diff"],
        Some(&scratch.0),
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let printed: Vec<PathBuf> = stdout(&output).lines().map(PathBuf::from).collect();
    let [up, down] = printed.as_slice() else {
        panic!("two paths expected: {output:?}");
    };
    let next = migrations::head() + 1;
    assert!(
        up.ends_with(format!("migrations/{next:04}_hand_changes.up.sql")),
        "{up:?}"
    );
    let up_sql = fs::read_to_string(up).expect("up written");
    let down_sql = fs::read_to_string(down).expect("down written");
    assert!(up_sql.contains("review it"), "{up_sql}");
    assert!(!up_sql.contains("TODO") && !down_sql.contains("TODO"));

    // A fresh database at head, then the new revision's up: the live schema.
    let fresh = TestDb::migrated().await;
    let mut conn = fresh.connect().await;
    let at_head = schema(&mut conn).await;
    fresh.sql(&up_sql).await;
    let mut live_conn = live.connect().await;
    assert_eq!(schema(&mut conn).await, schema(&mut live_conn).await);
    // Its down: the head schema again; and up once more, as the revision tests do.
    fresh.sql(&down_sql).await;
    assert_eq!(schema(&mut conn).await, at_head);
    fresh.sql(&up_sql).await;
    assert_eq!(schema(&mut conn).await, schema(&mut live_conn).await);
}

#[tokio::test]
async fn from_diff_refuses_a_database_behind_head_and_a_database_without_changes() {
    let behind = TestDb::new().await;
    migrations::run(
        &mut behind.connect().await,
        &migrations::Command::Upgrade {
            target: Target::Version(5),
        },
    )
    .await
    .expect("upgrade to 5");
    // `diff` compares at the recorded revision: unchanged at 5 is no difference.
    let (output, _) = run(&behind, &["diff"], None).await;
    assert!(output.status.success(), "{output:?}");
    behind
        .sql("ALTER TABLE `team` ADD COLUMN `motto` VARCHAR(20) NULL")
        .await;
    let (output, _) = run(&behind, &["diff"], None).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stdout(&output)
            .contains("ADD COLUMN `motto` varchar(20) DEFAULT NULL AFTER `introduction`")
    );

    let scratch = ScratchRepo::new();
    let before = scratch.files();
    let (output, _) = run(&behind, &["new", "motto", "--from-diff"], Some(&scratch.0)).await;
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Upgrade the database first"),
        "{output:?}"
    );
    let untouched = TestDb::migrated().await;
    let (output, _) = run(
        &untouched,
        &["new", "nothing", "--from-diff"],
        Some(&scratch.0),
    )
    .await;
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no difference"),
        "{output:?}"
    );
    assert_eq!(scratch.files(), before, "nothing written");
}

async fn schema(conn: &mut MySqlConnection) -> Schema {
    read_schema(conn).await.expect("read the schema")
}

/// Runs the `migrate` binary on `db` (from `dir` when given); its output and process id.
async fn run(db: &TestDb, args: &[&str], dir: Option<&Path>) -> (Output, u32) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_migrate"));
    command
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .env_remove("MIGRATOR_DATABASE_URL")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("APP_ENV")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    tokio::task::spawn_blocking(move || {
        let child = command.spawn().expect("start migrate");
        let pid = child.id();
        (child.wait_with_output().expect("migrate ran"), pid)
    })
    .await
    .expect("the blocking task ran")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A scratch "repository": a Cargo.toml and a copy of the real migrations/ folder.
struct ScratchRepo(PathBuf);

impl ScratchRepo {
    fn new() -> Self {
        let root =
            std::env::temp_dir().join(format!("wadot-migrate-diff-{}", uuid::Uuid::new_v4()));
        let folder = root.join("migrations");
        fs::create_dir_all(&folder).expect("scratch migrations");
        fs::write(root.join("Cargo.toml"), "[workspace]\n").expect("Cargo.toml");
        let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        for entry in fs::read_dir(real).expect("migrations/") {
            let entry = entry.expect("entry");
            fs::copy(entry.path(), folder.join(entry.file_name())).expect("copy");
        }
        Self(root)
    }

    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.0.join("migrations"))
            .expect("read")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        names
    }
}

impl Drop for ScratchRepo {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
