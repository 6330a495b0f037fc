//! The database accounts of docs/deploy.md ("Database accounts"): the API runs on an
//! account with only SELECT, INSERT, UPDATE and DELETE on the application's database,
//! and `migrate` on that account stops before changing anything, naming the privilege
//! it lacks.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Api, Mode, Server, connect, make_admin};
use reqwest::Method;
use serde_json::{Value, json};
use shared::platform::migrations::{self, Command, Target};
use testkit::TestDb;
use testkit::slack::{FakeSlack, member, profile};

const ADMIN: &str = "1";
const MEMBER: &str = "2";
const DML: &str = "SELECT, INSERT, UPDATE, DELETE";

/// The test database's URL, logged in as `user` instead of the admin account.
fn url_as(db: &TestDb, user: &str, password: &str) -> String {
    let (scheme, rest) = db.url.split_once("://").expect("a mysql:// URL");
    let host_and_path = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}:{password}@{host_and_path}")
}

/// `migrate` as a command line; it sits beside `local` (scripts/test builds every binary).
fn migrate_binary() -> PathBuf {
    let local = PathBuf::from(env!("CARGO_BIN_EXE_local"));
    let path = local.with_file_name("migrate");
    assert!(
        path.is_file(),
        "{} is missing: `cargo build -p migrate` first (scripts/test builds every binary)",
        path.display()
    );
    path
}

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

async fn migrate(database_url: &str, args: &[&str]) -> Run {
    let output = tokio::process::Command::new(migrate_binary())
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("MIGRATOR_DATABASE_URL")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("APP_ENV")
        .output()
        .await
        .expect("run migrate");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `(version, success)` of every row of `schema_migrations`, as the admin sees it.
async fn revisions(db: &TestDb) -> Vec<(i64, bool)> {
    let mut conn = db.connect().await;
    sqlx::query_as("SELECT version, success FROM schema_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .expect("read schema_migrations")
}

async fn table_exists(db: &TestDb, table: &str) -> bool {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = '{}' AND TABLE_NAME = '{table}'",
        db.name
    ))
    .await
        == 1
}

fn expect(reply: &common::Reply, status: u16, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
}

async fn send(api: &Api, method: Method, path: &str, sso: &str, body: Value) -> common::Reply {
    let body = (!body.is_null()).then_some(body);
    api.send(method, path, Some(sso), body.as_ref()).await
}

/// The list's `ETag`: the directory version the triggers of revision 7 move.
async fn users_etag(api: &Api) -> String {
    let response = reqwest::get(api.url("/api/v1/users"))
        .await
        .expect("GET /users");
    assert_eq!(response.status(), 200);
    response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_works_with_dml_grants_and_migrate_refuses_them_naming_the_privilege() {
    let slack = FakeSlack::start().await;
    slack.add(
        member("U0DML00001"),
        profile("Sync", "Park", "sync@snu.ac.kr"),
    );
    let db = TestDb::new().await;
    let password = uuid::Uuid::new_v4().simple().to_string();
    let user = db.create_user_with("d", &password, DML).await;
    let dml_url = url_as(&db, &user, &password);

    // The server migrates with the admin account (as `migrate` would, deployed) and
    // serves every request with the DML-only one.
    let base_url = slack.base_url();
    let server = Server::spawn_in(
        Mode::Merged,
        &dml_url,
        &[
            ("MIGRATOR_DATABASE_URL", &db.url),
            ("SLACK_API_BASE_URL", &base_url),
        ],
    )
    .await;
    let api = server.api();
    let mut check = connect(&dml_url).await;
    let grants: Vec<String> = sqlx::query_scalar("SHOW GRANTS")
        .fetch_all(&mut check)
        .await
        .expect("SHOW GRANTS");
    assert!(
        grants
            .iter()
            .any(|g| g.contains("GRANT SELECT, INSERT, UPDATE, DELETE ON")),
        "the account is DML-only: {grants:?}"
    );
    assert!(
        !grants.iter().any(|g| g.contains("ALL PRIVILEGES")),
        "{grants:?}"
    );

    // health
    let ready = api.get("/api/v1/health/ready", None).await;
    expect(&ready, 200, "ready");
    assert_eq!(
        ready.body["schema_version"],
        migrations::head(),
        "{}",
        ready.body
    );

    // users: register, read, update (positions and SNS accounts replace sets).
    let admin_id = api.register(ADMIN, "admin").await;
    make_admin(&db.url, ADMIN).await;
    let etag = users_etag(&api).await;
    let member_id = api.register(MEMBER, "member").await;
    assert_ne!(
        users_etag(&api).await,
        etag,
        "a write moves the list's version"
    );
    let me = api.get("/api/v1/users/me", Some(MEMBER)).await;
    expect(&me, 200, "me");
    assert_eq!(me.body["id"], member_id);
    let patched = send(
        &api,
        Method::PATCH,
        &format!("/api/v1/users/{member_id}"),
        MEMBER,
        json!({"introduction": "hello", "positions": ["백엔드"],
               "sns_accounts": [{"name": "blog", "url": "https://example.com"}]}),
    )
    .await;
    expect(&patched, 200, "patch self");
    assert_eq!(patched.body["positions"][0]["name"], "백엔드");

    // positions: create, rename, list, delete.
    let position = send(
        &api,
        Method::POST,
        "/api/v1/positions",
        ADMIN,
        json!({"name": "인프라"}),
    )
    .await;
    expect(&position, 201, "create a position");
    let position_id = position.body["id"].as_i64().expect("a position id");
    let position_path = format!("/api/v1/positions/{position_id}");
    let renamed = api
        .patch(&position_path, ADMIN, &json!({"name": "플랫폼"}))
        .await;
    expect(&renamed, 200, "rename a position");
    let positions = api.get("/api/v1/positions", None).await;
    expect(&positions, 200, "positions");
    assert!(
        positions.body["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|p| p["name"] == "플랫폼")),
        "{}",
        positions.body
    );
    let deleted = send(&api, Method::DELETE, &position_path, ADMIN, Value::Null).await;
    expect(&deleted, 204, "delete a position");

    // teams and memberships.
    let team = send(
        &api,
        Method::POST,
        "/api/v1/teams",
        ADMIN,
        json!({"name": "infra", "introduction": "least privilege"}),
    )
    .await;
    expect(&team, 201, "create a team");
    let team_id = team.body["id"].as_i64().expect("a team id");
    let path = format!("/api/v1/teams/{team_id}/members/{member_id}");
    expect(
        &send(&api, Method::PUT, &path, ADMIN, Value::Null).await,
        204,
        "add a member",
    );
    let shown = api.get(&format!("/api/v1/teams/{team_id}"), None).await;
    expect(&shown, 200, "a team");
    assert_eq!(shown.body["members"][0]["id"], member_id, "{}", shown.body);
    let team_path = format!("/api/v1/teams/{team_id}");
    let patched = api
        .patch(&team_path, ADMIN, &json!({"introduction": "changed"}))
        .await;
    expect(&patched, 200, "patch a team");
    expect(
        &send(&api, Method::DELETE, &path, ADMIN, Value::Null).await,
        204,
        "remove a member",
    );
    let teams = api.get("/api/v1/teams", None).await;
    expect(&teams, 200, "teams");
    assert_eq!(teams.body["items"][0]["member_count"], 0, "{}", teams.body);

    // audit: every write above is in the log, written by the same account.
    let audit = api
        .get(
            &format!("/api/v1/audit-logs?entity=team&entity_id={team_id}"),
            Some(ADMIN),
        )
        .await;
    expect(&audit, 200, "audit log");
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.len() >= 2, "{}", audit.body);

    // batch: a force-run syncs Slack into the database through the same account.
    expect(
        &api.get("/api/v1/batch/schedule", None).await,
        200,
        "schedule",
    );
    let forced = api.force_slack_sync(ADMIN).await;
    expect(&forced, 202, "force-run");
    let run = api
        .finished_run(ADMIN, forced.run_id(), Duration::from_secs(60))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["stats"]["created"], 1, "{run}");
    let runs = api.get("/api/v1/batch/runs", Some(ADMIN)).await;
    expect(&runs, 200, "runs");

    // The synced member is listed; the admin deletes the other one.
    let users = api.get("/api/v1/users", None).await;
    expect(&users, 200, "users");
    assert!(
        users
            .body
            .as_array()
            .is_some_and(|u| u.iter().any(|u| u["slack_id"] == "U0DML00001")),
        "{}",
        users.body
    );
    expect(
        &send(
            &api,
            Method::DELETE,
            &format!("/api/v1/users/{member_id}"),
            ADMIN,
            Value::Null,
        )
        .await,
        204,
        "delete a user",
    );
    expect(
        &api.get(&format!("/api/v1/users/{admin_id}"), None).await,
        200,
        "a user",
    );
    assert!(
        !server.log().contains("ERROR"),
        "errors logged: {}",
        server.log()
    );
    drop(server);

    // migrate on the DML account: reading the status works ...
    let status = migrate(&dml_url, &["status"]).await;
    assert!(status.success, "status: {}", status.stderr);
    let status: Value = serde_json::from_str(&status.stdout).expect("a JSON status");
    assert_eq!(status["current"], migrations::head());

    // ... a downgrade stops before marking anything as started ...
    let before = revisions(&db).await;
    let refused = migrate(&dml_url, &["downgrade", "6"]).await;
    assert_denied(&refused);
    assert_eq!(revisions(&db).await, before, "nothing was changed");
    assert!(table_exists(&db, "directory_version").await);

    // ... and with a revision pending, an upgrade stops before it: no dirty row, no
    // table of revision 7.
    let mut admin = db.connect().await;
    migrations::run(
        &mut admin,
        &Command::Downgrade {
            target: Target::Version(6),
        },
    )
    .await
    .expect("the admin account downgrades to 6");
    let before = revisions(&db).await;
    assert_eq!(before.last(), Some(&(6, true)));
    let refused = migrate(&dml_url, &["upgrade", "head"]).await;
    assert_denied(&refused);
    assert_eq!(revisions(&db).await, before, "nothing was changed");
    assert!(!table_exists(&db, "directory_version").await);

    // The admin account (the migrator's grants) still upgrades from there.
    let upgraded = migrate(&db.url, &["upgrade", "head"]).await;
    assert!(upgraded.success, "upgrade: {}", upgraded.stderr);
    assert_eq!(
        revisions(&db).await.last(),
        Some(&(migrations::head(), true))
    );
}

/// A command that failed as a command should: non-zero, one clear line naming the
/// privilege and the account to use, no panic.
fn assert_denied(run: &Run) {
    assert!(!run.success, "migrate succeeded: {}", run.stdout);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        run.stderr.contains("lacks a privilege migrations need")
            && run.stderr.contains("CREATE command denied")
            && run.stderr.contains("MIGRATOR_DATABASE_URL")
            && run.stderr.contains("Nothing was changed"),
        "{}",
        run.stderr
    );
}
