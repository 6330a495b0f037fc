//! The connection budget as deployed (docs/operations.md, "Connection budget"), through
//! `local --lambdas` with the template's own limits: the API functions have no reserved
//! concurrency, the database bounds their connections (the API account's
//! `MAX_USER_CONNECTIONS`), and an execution environment keeps its one connection
//! between invocations only until the server's `wait_timeout` (`DB_WAIT_TIMEOUT`, 2 s
//! here instead of 10) closes it.
//!
//! On a private MariaDB (`max_connections` 20) whose API account may hold 6
//! connections, bursts of 48 requests (reads and writes, eight times the account's
//! connections) get only contract answers: 2xx, or 503 with `detail` and `Retry-After`.
//! Every 200 write is in the database with its audit entry and every refused one left
//! nothing; an idle environment's connection is closed by the server `DB_WAIT_TIMEOUT`
//! after its last query (as it would be while Lambda keeps the environment frozen), and
//! the environment then connects again without a failed request, so traffic within the
//! budget is served whole afterwards; and while the API account is full, an
//! operator's own account, `migrate` and the Slack sync still get their connections.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Mode, Reply, Server, at_once, slack_with_members};
use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection};
use testkit::PrivateMariaDb;

/// The API account's `MAX_USER_CONNECTIONS`.
const API_CONNECTIONS: usize = 6;
/// Requests of one burst: far above the account's connections, under the stage's burst
/// (100 by default).
const BURST: usize = 48;
const WAVES: usize = 3;
/// `DB_WAIT_TIMEOUT` of the functions: how long an idle environment holds its slot.
const WAIT_TIMEOUT: Duration = Duration::from_secs(2);
/// Users the bursts read and write (ids 2..=21; id 1 is the admin).
const USERS: usize = 20;
const ADMIN: &str = "9001";

async fn root(db: &PrivateMariaDb) -> MySqlConnection {
    MySqlConnection::connect(&db.url("app"))
        .await
        .expect("connect as root")
}

/// The server with grant tables (testkit starts it without), the API's account with
/// DML rights and its connection limit, and `USERS` users plus an admin.
async fn database() -> PrivateMariaDb {
    let db = PrivateMariaDb::start_with(&["--max-connections=20"])
        .await
        .expect("start a private MariaDB");
    db.create_database("app").await.expect("create app");
    let mut conn = root(&db).await;
    for statement in [
        // Loads the grant tables: accounts and their limits count from here on.
        "FLUSH PRIVILEGES".to_owned(),
        format!(
            "CREATE USER 'api'@'%' IDENTIFIED BY 'api-pw' WITH MAX_USER_CONNECTIONS {API_CONNECTIONS}"
        ),
        "GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO 'api'@'%'".to_owned(),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .expect("set up the accounts");
    }
    db
}

async fn seed(db: &PrivateMariaDb) {
    let mut conn = root(db).await;
    sqlx::query(
        "INSERT INTO `user` (sso_id, username, first_name, last_name, is_rookie, is_member, \
         is_active, is_admin) VALUES (?, 'admin', 'Admin', 'Kim', FALSE, TRUE, TRUE, TRUE)",
    )
    .bind(ADMIN)
    .execute(&mut conn)
    .await
    .expect("the admin");
    for i in 0..USERS {
        sqlx::query(
            "INSERT INTO `user` (sso_id, username, first_name, last_name, is_rookie, \
             is_member, is_active, is_admin) VALUES (?, ?, 'Member', 'Kim', FALSE, TRUE, TRUE, FALSE)",
        )
        .bind(format!("{}", 100 + i))
        .bind(format!("member{i}"))
        .execute(&mut conn)
        .await
        .expect("a member");
    }
}

/// The contract's answers under load: a 2xx, or 503 with `detail` and `Retry-After`.
#[track_caller]
fn contract_answer(reply: &Reply, what: &str) {
    match reply.status {
        200..=299 => {}
        503 => {
            assert!(
                reply.has_detail(),
                "{what}: 503 without detail: {}",
                reply.body
            );
            assert!(
                reply.retry_after.is_some(),
                "{what}: 503 without Retry-After: {}",
                reply.body
            );
        }
        other => panic!("{what}: {other} {} is not a contract answer", reply.body),
    }
}

/// Connections the API account holds now.
async fn api_connections(db: &PrivateMariaDb) -> i64 {
    let mut conn = root(db).await;
    sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'api'")
        .fetch_one(&mut conn)
        .await
        .expect("the process list")
}

/// Waits until the environments' idle connections are closed by the server: within
/// `WAIT_TIMEOUT` of their last query, plus the server's and the process list's lag.
async fn all_slots_come_back(db: &PrivateMariaDb) {
    let deadline = std::time::Instant::now() + WAIT_TIMEOUT + Duration::from_secs(3);
    while api_connections(db).await > 0 {
        if std::time::Instant::now() >= deadline {
            let mut conn = root(db).await;
            let held: Vec<(String, i64)> = sqlx::query_as(
                "SELECT COMMAND, TIME FROM information_schema.PROCESSLIST WHERE USER = 'api'",
            )
            .fetch_all(&mut conn)
            .await
            .expect("the process list");
            panic!(
                "idle environments still hold connections {WAIT_TIMEOUT:?} after their last query: {held:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bursts_far_above_the_api_accounts_connections_get_only_contract_answers() {
    let db = database().await;
    let api_url = format!("mysql://api:api-pw@127.0.0.1:{}/app", db.port);
    let root_url = db.url("app");
    let slack = slack_with_members(3, "BG").await;
    let slack_url = slack.base_url();
    let internal = format!("127.0.0.1:{}", testkit::free_port());
    // The template's own limits: no WADOT_PARAMETER_OVERRIDES.
    let server = Server::spawn_in(
        Mode::Lambdas,
        &api_url,
        &[
            // The stand-in migrates with its own account, as deploys do.
            ("MIGRATOR_DATABASE_URL", &root_url),
            ("SLACK_API_BASE_URL", &slack_url),
            ("LAMBDA_BIND_ADDR", &internal),
            ("DB_WAIT_TIMEOUT", &WAIT_TIMEOUT.as_secs().to_string()),
        ],
    )
    .await;
    seed(&db).await;
    let api = server.api();

    // Bursts: a third reads one user, a third a page of the list, a third writes.
    let mut written: BTreeMap<i64, String> = BTreeMap::new();
    let mut patches_ok = 0;
    let mut refused = 0;
    for wave in 0..WAVES {
        let replies = at_once(BURST, |i| {
            let api = api.clone();
            async move {
                let id = 2 + (i % USERS) as i64;
                match i % 3 {
                    0 => (i, api.get(&format!("/api/v1/users/{id}"), None).await),
                    1 => (i, api.get("/api/v1/users?limit=20", None).await),
                    _ => {
                        let body = json!({"introduction": format!("wave {wave} request {i}")});
                        let path = format!("/api/v1/users/{id}");
                        (i, api.patch(&path, ADMIN, &body).await)
                    }
                }
            }
        })
        .await;
        for (i, reply) in &replies {
            contract_answer(reply, &format!("wave {wave}, request {i}"));
            refused += usize::from(reply.status == 503);
            if i % 3 == 2 && reply.status == 200 {
                let id = 2 + (i % USERS) as i64;
                written.insert(id, format!("wave {wave} request {i}"));
                patches_ok += 1;
            }
        }
        // The stage's bucket refills (50 a second) between bursts: each is admitted whole.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    assert!(
        refused > 0,
        "{BURST} requests at once never met the account's {API_CONNECTIONS} connections: \
         the test proves nothing"
    );
    assert!(patches_ok > 0, "no write got through");
    eprintln!(
        "{refused} of {} requests answered 503; {patches_ok} writes answered 200",
        WAVES * BURST
    );

    // Whole writes: each 200 is in the database with its audit entry, nothing else is.
    let mut conn = root(&db).await;
    for (id, introduction) in &written {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT introduction FROM `user` WHERE id = ?")
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .expect("the user");
        assert_eq!(stored.as_deref(), Some(introduction.as_str()), "user {id}");
    }
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE entity = 'user' AND action = 'update'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the audit log");
    assert_eq!(
        audited, patches_ok,
        "one audit entry per write answered 200, none for a refused one"
    );
    drop(conn);

    // The server closes an idle environment's connection `WAIT_TIMEOUT` after its last
    // query (nothing on the client's side does: a frozen environment could not)...
    all_slots_come_back(&db).await;
    // ... so the environments that were refused serve again, and those whose connection
    // the server closed connect anew without a failed request: traffic within the budget
    // (half the account's connections at once) gets 200 only.
    for round in 0..20 {
        let replies = at_once(API_CONNECTIONS / 2, |i| {
            let api = api.clone();
            async move {
                let id = 2 + ((round * 3 + i) % USERS) as i64;
                api.get(&format!("/api/v1/users/{id}"), None).await
            }
        })
        .await;
        for reply in replies {
            assert_eq!(reply.status, 200, "round {round}: {}", reply.body);
        }
    }

    // Between invocations an environment keeps its connection (and its prepared
    // statements) for the next one...
    let kept = api_connections(&db).await;
    assert!(
        (1..=API_CONNECTIONS as i64).contains(&kept),
        "idle environments hold {kept} connections right after serving"
    );

    // While bursts fill the API account: an operator's own account connects...
    all_slots_come_back(&db).await;
    let mut held = Vec::new();
    for _ in 0..API_CONNECTIONS {
        held.push(
            MySqlConnection::connect(&api_url)
                .await
                .expect("fill the account"),
        );
    }
    let mut operator = root(&db).await;
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut operator)
        .await
        .expect("an operator's query");
    assert_eq!(one, 1);
    let reply = api.get("/api/v1/users/2", None).await;
    assert_eq!(reply.status, 503, "the account is full: {}", reply.body);
    contract_answer(&reply, "a read while the account is full");

    // ... and migrate and the Slack sync (which log in as the API account here, as they
    // do deployed without a migrator account) wait for a connection instead of failing.
    let http = reqwest::Client::new();
    let invoke = |function: &str, body: Value, kind: &'static str| {
        http.post(format!(
            "http://{internal}/2015-03-31/functions/waffledotcom-dev-{function}/invocations"
        ))
        .header("x-amz-invocation-type", kind)
        .body(body.to_string())
        .send()
    };
    let status = tokio::spawn(invoke(
        "migrate",
        json!({"command": "status"}),
        "RequestResponse",
    ));
    let sync = invoke(
        "slack-sync",
        json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"}),
        "Event",
    )
    .await
    .expect("the sync is queued");
    assert_eq!(sync.status(), 202);
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(held);

    let status = status.await.expect("task").expect("migrate answers");
    assert_eq!(status.status(), 200);
    assert!(
        status.headers().get("x-amz-function-error").is_none(),
        "migrate failed: {}",
        status.text().await.unwrap_or_default()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let finished: Option<String> = sqlx::query_scalar(
            "SELECT status FROM batch_run WHERE job = 'slack-sync' ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&mut operator)
        .await
        .expect("batch_run");
        match finished.as_deref() {
            Some("succeeded") => break,
            Some("failed") => panic!("the sync failed: {}", server.log()),
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sync did not finish: {finished:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let synced: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM `user` WHERE slack_id LIKE 'U0BG%'")
        .fetch_one(&mut operator)
        .await
        .expect("synced users");
    assert_eq!(synced, 3);
}
