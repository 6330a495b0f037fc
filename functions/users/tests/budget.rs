//! The connection budget holds (docs/operations.md, "Connection budget"): more execution
//! environments of the real `users` binary than the database has connections for, all
//! driven at once through the Lambda Runtime API. An environment that cannot get a
//! connection answers 503 with `Retry-After` within docs/api.md's 4 s (never 500, never a
//! hang), no write is half done, and once environments go away (Lambda reclaims idle
//! ones) those that were refused serve again.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use sqlx::Connection as _;
use testkit::http::{apigw_event, apigw_response};
use testkit::{LambdaProcess, PrivateMariaDb, RuntimeApi};

/// Environments started; each may hold `POOL_SIZE` connections.
const ENVIRONMENTS: usize = 14;
const POOL_SIZE: usize = 2;
/// The server's `max_connections` (MariaDB's least): the test's own connection plus 9
/// (and one more for a privileged user), far below 14 x 2.
const MAX_CONNECTIONS: usize = 10;
/// Environments kept for the recovery: what fits (4 x 2 + the test's own <= 10).
const SURVIVORS: usize = 4;
/// docs/api.md: a database that cannot serve is a 503 within 4 s.
const BOUND: Duration = Duration::from_secs(4);

struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
    /// The SSO id of a registration, `None` for a read.
    registered: Option<String>,
}

async fn invoke(runtime: &RuntimeApi, event: Value, registered: Option<String>) -> Answer {
    let started = Instant::now();
    let payload = runtime
        .invoke_within(event, Duration::from_secs(20))
        .await
        .response();
    let took = started.elapsed();
    let (status, headers, body) = apigw_response(&payload);
    Answer {
        status,
        retry_after: headers["retry-after"].as_str().map(str::to_owned),
        body,
        took,
        registered,
    }
}

/// One wave: as many requests as environments, half reads, half registrations.
async fn wave(runtime: &RuntimeApi, wave: usize, environments: usize) -> Vec<Answer> {
    join_all((0..environments).map(|i| {
        if i % 2 == 0 {
            invoke(runtime, apigw_event("GET", "/api/v1/users", None, None), None)
        } else {
            // SSO ids are decimal (a token whose `sub` is not is refused).
            let sso = format!("{}", 7_000_000 + wave * 1_000 + i);
            let body = json!({"username": format!("user.{wave}.{i}"), "first_name": "B", "last_name": "Kim"});
            let event = apigw_event("POST", "/api/v1/users", Some(&body), Some(&sso));
            invoke(runtime, event, Some(sso))
        }
    }))
    .await
}

async fn connections(admin: &mut sqlx::MySqlConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon'",
    )
    .fetch_one(admin)
    .await
    .expect("count connections")
}

#[tokio::test]
async fn more_environments_than_connections_answer_503_in_time_and_recover() {
    let server = PrivateMariaDb::start_with(&[&format!("--max-connections={MAX_CONNECTIONS}")])
        .await
        .expect("private MariaDB");
    let url = server.create_database("app").await.expect("database");
    let mut admin = sqlx::MySqlConnection::connect(&url).await.expect("connect");
    shared::platform::migrations::run(
        &mut admin,
        &shared::platform::migrations::Command::Upgrade {
            target: shared::platform::migrations::Target::Head,
        },
    )
    .await
    .expect("migrate");

    let runtime = RuntimeApi::start().await;
    let pool_size = POOL_SIZE.to_string();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("DB_MAX_CONNECTIONS", pool_size.as_str()),
    ];
    let mut processes: Vec<LambdaProcess> = (0..ENVIRONMENTS)
        .map(|_| LambdaProcess::spawn(env!("CARGO_BIN_EXE_users"), &runtime, &env))
        .collect();

    // Over budget: every environment busy at once, four times.
    let mut answers = Vec::new();
    for n in 0..4 {
        answers.extend(wave(&runtime, n, ENVIRONMENTS).await);
    }
    let refused = answers.iter().filter(|a| a.status == 503).count();
    let slowest = answers.iter().map(|a| a.took).max().unwrap_or_default();
    eprintln!(
        "over budget: {refused} of {} answered 503; slowest answer {slowest:?}",
        answers.len()
    );
    assert!(
        refused > 0,
        "14 environments x 2 connections never ran out of 10"
    );
    for answer in &answers {
        assert!(
            matches!(answer.status, 200 | 201 | 503),
            "{}: {}",
            answer.status,
            answer.body
        );
        assert!(
            answer.took < BOUND,
            "answered {} after {:?}",
            answer.status,
            answer.took
        );
        if answer.status == 503 {
            assert_eq!(answer.retry_after.as_deref(), Some("2"), "{}", answer.body);
            assert!(answer.body["detail"].is_string(), "{}", answer.body);
        }
    }
    assert!(
        processes.iter_mut().all(LambdaProcess::is_running),
        "no environment crashed"
    );

    // Lambda reclaims environments; keep some of those that were refused.
    let mut refusing: Vec<usize> = (0..ENVIRONMENTS)
        .filter(|&i| processes[i].logs().contains("answering 503"))
        .collect();
    assert!(!refusing.is_empty(), "no environment logged its 503");
    refusing.truncate(SURVIVORS);
    let keep: Vec<usize> = refusing
        .iter()
        .copied()
        .chain((0..ENVIRONMENTS).filter(|i| !refusing.contains(i)))
        .take(SURVIVORS)
        .collect();
    let mut survivors = Vec::new();
    for (i, process) in processes.into_iter().enumerate() {
        if keep.contains(&i) {
            survivors.push(process);
        } // else dropped: killed, its connections closed.
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while connections(&mut admin).await > (1 + SURVIVORS * POOL_SIZE) as i64 {
        assert!(
            Instant::now() < deadline,
            "the killed environments' connections stay open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The emulator must first see the killed processes' pending polls for an event
    // close, or it hands them the next wave's events. (The server may count their
    // connections gone before that.)
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Within budget: the environments that answered 503 serve again, every time.
    let mut recovered = Vec::new();
    for n in 10..20 {
        recovered.extend(wave(&runtime, n, SURVIVORS).await);
    }
    for answer in &recovered {
        assert!(
            matches!(answer.status, 200 | 201),
            "after recovery {}: {}",
            answer.status,
            answer.body
        );
    }
    drop(survivors);

    // Whole writes: every registration answered 201 is a user with its audit entry,
    // every one answered 503 is either absent or just as whole.
    for answer in answers.iter().chain(&recovered) {
        let Some(sso) = &answer.registered else {
            continue;
        };
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM `user` WHERE sso_id = ?")
            .bind(sso)
            .fetch_all(&mut admin)
            .await
            .expect("user rows");
        if answer.status == 201 {
            assert_eq!(rows.len(), 1, "{sso}: answered 201 but not stored");
        }
        for (id,) in rows {
            let audited: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_log WHERE entity = 'user' AND entity_id = ?",
            )
            .bind(id.to_string())
            .fetch_one(&mut admin)
            .await
            .expect("audit rows");
            assert_eq!(audited, 1, "{sso}: a user without its audit entry");
        }
    }
}
