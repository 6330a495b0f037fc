//! Faults under the real local server: its database stopped in the middle of a load,
//! and the Slack API going down in the middle of a sync. The same process must answer
//! quickly and honestly while they are gone (503 with `Retry-After`, a failed run with
//! its error), recover by itself when they come back, and leave no write half done.
//!
//! Under `--lambdas` (`WADOT_LOCAL_MODE=lambdas`): the template's limits with the
//! throttles raised (`common::UNTHROTTLED`): the load is the fault's backdrop, not a
//! test of the throttle.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Api, Rng, Server, fresh_local_with_admin, make_admin, slack_with_members};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::PrivateMariaDb;

const ADMIN: &str = "1";
const WORKERS: u64 = 16;
/// The contract's bound on an answer while the database is away.
const ANSWER_BOUND: Duration = Duration::from_secs(4);

/// One test at a time: the outage test measures answer times against the contract's
/// bound, which a sync running beside it on two cores would blur.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `id, sso_id, first_name, introduction` of a user row.
type UserRow = (i32, Option<String>, String, Option<String>);

/// One request of the workload and its outcome.
#[derive(Debug, Clone)]
struct Sent {
    op: &'static str,
    started: Instant,
    elapsed: Duration,
    /// `None`: no HTTP answer at all.
    status: Option<u16>,
    retry_after: Option<String>,
    has_detail: bool,
    body: String,
}

/// A user a worker registered, and the PATCHes it sent for it, in order.
#[derive(Debug, Clone)]
struct Owned {
    id: i64,
    sso: String,
    /// (first_name sent, answered 2xx)
    patches: Vec<(String, bool)>,
}

#[derive(Debug, Default)]
struct Log {
    sent: Vec<Sent>,
    owned: Vec<Owned>,
    /// SSO ids whose registration answered something else than 201: it may or may not
    /// have been committed before the database went, but never half.
    uncertain: Vec<String>,
}

/// How the database goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outage {
    /// Killed, then started again on the same data: connections break at once.
    Killed,
    /// Frozen (SIGSTOP), then thawed: connections stay open and nothing answers, as in
    /// a network partition.
    Frozen,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_killed_under_load_gives_quick_503s_then_recovery_in_the_same_process() {
    let _serial = ONE_AT_A_TIME.lock().await;
    outage_under_load(Outage::Killed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_frozen_under_load_gives_quick_503s_then_recovery_in_the_same_process() {
    let _serial = ONE_AT_A_TIME.lock().await;
    outage_under_load(Outage::Frozen).await;
}

async fn outage_under_load(outage: Outage) {
    let (mut mariadb, url) = PrivateMariaDb::with_app_database().await;
    let mut server = Server::spawn(&url, &[common::UNTHROTTLED]).await;
    let pid = server.pid();
    let api = server.api();
    api.register(ADMIN, "admin").await;
    make_admin(&url, ADMIN).await;

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let api = api.clone();
            let stop = stop.clone();
            tokio::spawn(async move { work(api, worker, stop).await })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(3)).await;
    match outage {
        Outage::Killed => mariadb.stop().await.expect("stop the database"),
        Outage::Frozen => mariadb.freeze().await.expect("freeze the database"),
    }
    let down = Instant::now();
    // Long enough that every client sends at least one whole request into the outage
    // (each waits out the pool's 3 s for a connection).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let coming_back = Instant::now();
    match outage {
        Outage::Killed => mariadb.resume().await.expect("restart the database"),
        Outage::Frozen => mariadb.thaw().await.expect("thaw the database"),
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let recovered = loop {
        let ready = api.get("/api/v1/health/ready", None).await;
        if ready.status == 200 {
            break Instant::now();
        }
        assert!(Instant::now() < deadline, "no recovery: {}", ready.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let logs: Vec<Log> = futures::future::join_all(workers)
        .await
        .into_iter()
        .map(|r| r.expect("a worker panicked"))
        .collect();

    assert!(server.is_running(), "the server process died");
    assert_eq!(server.pid(), pid, "the same process served throughout");

    let sent: Vec<&Sent> = logs.iter().flat_map(|l| &l.sent).collect();
    let mut tally: HashMap<(&str, Option<u16>), usize> = HashMap::new();
    for s in &sent {
        *tally.entry((s.op, s.status)).or_default() += 1;
    }
    let mut tally: Vec<_> = tally.into_iter().collect();
    tally.sort();
    println!(
        "{outage:?}: {} requests, {} of them wholly inside the outage; database gone for \
         {:.1?}, ready again {:.1?} after it came back",
        sent.len(),
        sent.iter()
            .filter(|s| s.started > down && s.started + s.elapsed < coming_back)
            .count(),
        coming_back - down,
        recovered - coming_back
    );
    for ((op, status), n) in &tally {
        println!("  {op:<8} {status:?}: {n}");
    }
    let slowest = sent.iter().map(|s| s.elapsed).max().unwrap_or_default();
    println!("  slowest answer: {slowest:.2?}");

    for s in &sent {
        let status = s.status.unwrap_or_else(|| panic!("no answer: {s:?}"));
        assert!(
            matches!(status, 200 | 201 | 503),
            "only successes and 503s: {} {status}: {}",
            s.op,
            s.body
        );
        assert!(s.elapsed < ANSWER_BOUND, "answered too late: {s:?}");
        if status == 503 {
            assert_eq!(s.retry_after.as_deref(), Some("2"), "{s:?}");
            assert!(s.has_detail, "{s:?}");
        }
    }
    // Sent while the database was certainly gone: every one a 503.
    let during: Vec<&&Sent> = sent
        .iter()
        .filter(|s| s.started > down && s.started + s.elapsed < coming_back)
        .collect();
    assert!(
        during.len() >= WORKERS as usize / 2,
        "only {} requests fell wholly inside the outage",
        during.len()
    );
    for s in &during {
        assert_eq!(s.status, Some(503), "while the database was down: {s:?}");
    }
    let after = sent
        .iter()
        .filter(|s| s.started > recovered && matches!(s.status, Some(200 | 201)))
        .count();
    assert!(after > 0, "successes after the recovery");

    verify_no_half_writes(&url, &logs).await;
}

async fn work(api: Api, worker: u64, stop: Arc<AtomicBool>) -> Log {
    let mut rng = Rng::new(worker + 101);
    let mut log = Log::default();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let roll = if log.owned.is_empty() {
            0
        } else {
            rng.below(100)
        };
        // The user an update aims at, by index in `log.owned`.
        let mut target = None;
        let (op, method, path, sso, body) = match roll {
            0..30 => {
                n += 1;
                let sso = format!("{}", 1_000_000 + worker * 100_000 + n);
                let body = json!({"username": format!("f{worker}x{n}"), "first_name": "New", "last_name": "User"});
                (
                    "register",
                    Method::POST,
                    "/api/v1/users".to_owned(),
                    Some(sso),
                    Some(body),
                )
            }
            30..60 => {
                let i = rng.below(log.owned.len() as u64) as usize;
                target = Some(i);
                let user = &log.owned[i];
                let name = format!("N{worker}-{}", rng.below(1_000_000));
                let body = json!({"first_name": name, "introduction": format!("{name} says hi")});
                (
                    "update",
                    Method::PATCH,
                    format!("/api/v1/users/{}", user.id),
                    Some(user.sso.clone()),
                    Some(body),
                )
            }
            60..85 => (
                "list",
                Method::GET,
                "/api/v1/users?limit=20".to_owned(),
                None,
                None,
            ),
            85..95 => {
                let user = &log.owned[rng.below(log.owned.len() as u64) as usize];
                (
                    "read",
                    Method::GET,
                    format!("/api/v1/users/{}", user.id),
                    None,
                    None,
                )
            }
            _ => (
                "ready",
                Method::GET,
                "/api/v1/health/ready".to_owned(),
                None,
                None,
            ),
        };
        let started = Instant::now();
        let reply = api
            .try_send(method, &path, sso.as_deref(), body.as_ref())
            .await;
        let entry = match &reply {
            Ok(reply) => Sent {
                op,
                started,
                elapsed: reply.elapsed,
                status: Some(reply.status),
                retry_after: reply.retry_after.clone(),
                has_detail: reply.has_detail(),
                body: reply.body.to_string(),
            },
            Err(error) => Sent {
                op,
                started,
                elapsed: started.elapsed(),
                status: None,
                retry_after: None,
                has_detail: false,
                body: error.to_string(),
            },
        };
        let ok = matches!(entry.status, Some(200 | 201));
        match op {
            "register" => {
                let sso = sso.unwrap_or_default();
                match &reply {
                    Ok(reply) if reply.status == 201 => log.owned.push(Owned {
                        id: reply.body["id"].as_i64().unwrap_or_default(),
                        sso,
                        patches: Vec::new(),
                    }),
                    _ => log.uncertain.push(sso),
                }
            }
            "update" => {
                let name = body
                    .as_ref()
                    .and_then(|b| b["first_name"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                if let Some(i) = target {
                    log.owned[i].patches.push((name, ok));
                }
            }
            _ => {}
        }
        log.sent.push(entry);
        if !ok {
            // A client that was told to retry later does not hammer.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    log
}

/// Every user has its creation entry and every creation entry its user; each user's
/// update entries chain from its creation to its row; and every write that answered
/// 2xx is there.
async fn verify_no_half_writes(url: &str, logs: &[Log]) {
    let mut conn = common::connect(url).await;
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM `user` u WHERE NOT EXISTS (SELECT 1 FROM audit_log a \
         WHERE a.entity = 'user' AND a.action = 'create' AND a.entity_id = CAST(u.id AS CHAR))",
    )
    .fetch_one(&mut conn)
    .await
    .expect("users without a creation entry");
    assert_eq!(orphans, 0, "users without their creation entry");
    let ghosts: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log a WHERE a.entity = 'user' AND NOT EXISTS \
         (SELECT 1 FROM `user` u WHERE CAST(u.id AS CHAR) = a.entity_id)",
    )
    .fetch_one(&mut conn)
    .await
    .expect("entries without a user");
    assert_eq!(ghosts, 0, "entries of users that were never written");

    let rows: Vec<UserRow> =
        sqlx::query_as("SELECT id, sso_id, first_name, introduction FROM `user`")
            .fetch_all(&mut conn)
            .await
            .expect("users");
    let entries: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT entity_id, action, CAST(changes AS CHAR) FROM audit_log \
         WHERE entity = 'user' ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("entries");
    let mut chains: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    for (id, action, changes) in entries {
        let changes: Value = serde_json::from_str(&changes).expect("JSON changes");
        chains.entry(id).or_default().push((action, changes));
    }
    let mut updates = 0;
    for (id, sso, first_name, introduction) in &rows {
        let chain = &chains[&id.to_string()];
        assert_eq!(chain[0].0, "create", "user {id}: {chain:?}");
        let mut name = chain[0].1["first_name"][1].clone();
        let mut intro = chain[0].1["introduction"][1].clone();
        for (action, changes) in &chain[1..] {
            assert_eq!(action, "update", "user {id}");
            if let Some([old, new]) = changes["first_name"].as_array().map(Vec::as_slice) {
                assert_eq!(old, &name, "user {id}: entries chain");
                name = new.clone();
            }
            if let Some([old, new]) = changes["introduction"].as_array().map(Vec::as_slice) {
                assert_eq!(old, &intro, "user {id}: entries chain");
                intro = new.clone();
            }
            updates += 1;
        }
        assert_eq!(
            name,
            json!(first_name),
            "user {id} ({sso:?}): row and entries"
        );
        assert_eq!(intro, json!(introduction), "user {id}: row and entries");
    }

    let by_id: HashMap<i64, &UserRow> = rows.iter().map(|r| (i64::from(r.0), r)).collect();
    let mut answered = 0;
    for user in logs.iter().flat_map(|l| &l.owned) {
        let row = by_id
            .get(&user.id)
            .unwrap_or_else(|| panic!("user {} answered 201 but is missing", user.id));
        assert_eq!(row.1.as_deref(), Some(user.sso.as_str()));
        // The row holds the last PATCH that answered 2xx, or one sent after it whose
        // answer was lost with the database (committed just before it went).
        let last_ok = user.patches.iter().rposition(|(_, ok)| *ok);
        let candidates: Vec<&str> = match last_ok {
            Some(i) => user.patches[i..].iter().map(|(n, _)| n.as_str()).collect(),
            None => std::iter::once("New")
                .chain(user.patches.iter().map(|(n, _)| n.as_str()))
                .collect(),
        };
        assert!(
            candidates.contains(&row.2.as_str()),
            "user {}: {} is none of {candidates:?}",
            user.id,
            row.2
        );
        let ok = user.patches.iter().filter(|(_, ok)| *ok).count();
        let chain = chains[&user.id.to_string()].len() - 1;
        assert!(
            (ok..=user.patches.len()).contains(&chain),
            "user {}: {chain} update entries for {ok} answered of {} sent",
            user.id,
            user.patches.len()
        );
        answered += ok;
    }
    let uncertain: Vec<&String> = logs.iter().flat_map(|l| &l.uncertain).collect();
    // Only a commit whose answer was lost with the database can leave one of these.
    let committed = uncertain
        .iter()
        .filter(|sso| rows.iter().any(|r| r.1.as_deref() == Some(sso.as_str())))
        .count();
    println!(
        "verified {} users and {updates} update entries ({answered} answered PATCHes); \
         {} registrations answered 503, {committed} of them committed",
        rows.len(),
        uncertain.len()
    );
}

/// Forces a Slack sync, which queues a run; its id.
async fn force_run(api: &Api) -> i64 {
    let reply = api.force_slack_sync(ADMIN).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        reply.body["results"][0]["status"], "queued",
        "{}",
        reply.body
    );
    reply.run_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slack_going_down_mid_sync_fails_the_run_cleanly_and_a_rerun_completes() {
    let _serial = ONE_AT_A_TIME.lock().await;
    const MEMBERS: usize = 450;
    let slack = slack_with_members(MEMBERS, "DOWN").await;
    // Three pages of members, then a hundred profiles, then nothing answers.
    slack.go_down_after(3 + 100);
    let (db, _server, api) = fresh_local_with_admin(
        ADMIN,
        &[
            ("SLACK_API_BASE_URL", &slack.base_url()),
            common::UNTHROTTLED,
        ],
    )
    .await;

    let first = force_run(&api).await;
    let run = api
        .finished_run(ADMIN, first, Duration::from_secs(60))
        .await;
    println!("while Slack went down: {run}");
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Slack is unreachable: users.profile.get"),
        "{run}"
    );
    assert!(run["finished_at"].is_string(), "{run}");
    assert_eq!(
        run["stats"]["created"], 0,
        "nothing is written before every profile is read"
    );
    let mut conn = db.connect().await;
    let synced: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM `user` WHERE slack_id IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(synced, 0);
    let calls = slack.calls().len();
    assert!(
        (103..MEMBERS).contains(&calls),
        "the run stopped soon after Slack went: {calls} calls"
    );

    slack.resume().await;
    let second = force_run(&api).await;
    assert_ne!(second, first, "a new run");
    let run = api
        .finished_run(ADMIN, second, Duration::from_secs(120))
        .await;
    println!("after Slack came back: {run}");
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["error"], Value::Null);
    assert_eq!(run["stats"]["created"], MEMBERS, "{run}");
    let (synced, audited): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM `user` WHERE slack_id IS NOT NULL), \
         (SELECT COUNT(*) FROM audit_log WHERE actor = 'slack-sync' AND action = 'create')",
    )
    .fetch_one(&mut conn)
    .await
    .expect("counts");
    assert_eq!((synced, audited), (MEMBERS as i64, MEMBERS as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_mid_sync_fails_the_run_and_the_job_runs_again_once_it_is_back() {
    let _serial = ONE_AT_A_TIME.lock().await;
    const MEMBERS: usize = 50;
    let slack = slack_with_members(MEMBERS, "DBDOWN").await;
    // One profile answers late: the run is reading Slack when the database goes.
    slack.stall_next("users.profile.get", Duration::from_secs(3));
    let (mut mariadb, url) = PrivateMariaDb::with_app_database().await;
    let base_url = slack.base_url();
    let server = Server::spawn(
        &url,
        &[("SLACK_API_BASE_URL", &base_url), common::UNTHROTTLED],
    )
    .await;
    let api = server.api();
    api.register(ADMIN, "admin").await;
    make_admin(&url, ADMIN).await;

    let first = force_run(&api).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let run = api
            .get(&format!("/api/v1/batch/runs/{first}"), Some(ADMIN))
            .await;
        if run.body["status"] == "running" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run never started: {}",
            run.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    mariadb.stop().await.expect("stop the database");
    // While it is away the run cannot be read, and no new one can be queued.
    let refused = api.force_slack_sync(ADMIN).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    tokio::time::sleep(Duration::from_secs(8)).await;
    mariadb.resume().await.expect("restart the database");

    // The run keeps trying to record its end for 90 s after it failed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let run = loop {
        let run = api
            .get(&format!("/api/v1/batch/runs/{first}"), Some(ADMIN))
            .await;
        if matches!(run.body["status"].as_str(), Some("succeeded" | "failed")) {
            break run.body;
        }
        assert!(
            Instant::now() < deadline,
            "run {first} still {}; server log:\n{}",
            run.body,
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("the run the outage cut short: {run}");
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("database: database unavailable"),
        "{run}"
    );
    assert_eq!(run["stats"]["created"], 0, "{run}");

    // The job is free again at once, not after the half hour an abandoned run takes.
    let second = force_run(&api).await;
    let run = api
        .finished_run(ADMIN, second, Duration::from_secs(60))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["stats"]["created"], MEMBERS, "{run}");
    verify_no_half_writes(&url, &[]).await;
}
