//! A mixed read/write workload against the real local server over TCP: 32 clients for
//! 60 s (`LOAD_TEST_SECS` to change), listing, reading, registering, updating,
//! deleting and moving users between teams. Every answer must be one the contract
//! predicts for that request (no 5xx at all), and afterwards the database must hold
//! every write that answered 2xx, each with its audit entries, and nothing of the
//! writes that were refused.
//!
//! Under `--lambdas` (`WADOT_LOCAL_MODE=lambdas`): the template's limits with the
//! throttles raised (`common::UNTHROTTLED`), since 32 clients send far more than the
//! stage's 50 a second and this suite tests answers and writes, not the throttle.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use common::{Api, Reply, Rng, Server, make_admin, seconds_from_env};
use reqwest::Method;
use serde_json::json;
use testkit::TestDb;

const ADMIN: &str = "1";
const CONCURRENCY: u64 = 32;
/// Users registered before the load, whose usernames later registrations collide with.
const SEEDS: usize = 10;
const TEAMS: usize = 4;

/// `id, sso_id, username, first_name, introduction` of a user row.
type UserRow = (i32, Option<String>, Option<String>, String, Option<String>);

/// A user a worker registered: what the database must show for it at the end.
#[derive(Debug, Clone)]
struct Owned {
    id: i64,
    sso: String,
    username: String,
    first_name: String,
    introduction: Option<String>,
    /// PATCHes that answered 200, each of which must have left one `update` entry.
    updates: usize,
    /// Teams the user is in, as the answered requests left them.
    teams: BTreeSet<i64>,
    /// Per team: memberships actually added and removed (each audited once).
    added: BTreeMap<i64, usize>,
    removed: BTreeMap<i64, usize>,
    deleted: bool,
}

/// What one worker saw and did.
#[derive(Debug, Default)]
struct Ledger {
    owned: Vec<Owned>,
    /// SSO ids whose registration was refused with 409: they must not exist.
    refused: Vec<String>,
    statuses: BTreeMap<(&'static str, u16), usize>,
    /// Answers the contract does not predict for the request: the test fails on any.
    unexpected: Vec<String>,
    requests: usize,
}

impl Ledger {
    /// Counts the answer; `Err` unless its status is one of `expected`.
    fn check(&mut self, op: &'static str, reply: &Reply, expected: &[u16]) -> bool {
        self.requests += 1;
        *self.statuses.entry((op, reply.status)).or_default() += 1;
        let ok = expected.contains(&reply.status) && (reply.status < 400 || reply.has_detail());
        if !ok {
            self.unexpected.push(format!(
                "{op}: {} (expected {expected:?}): {}",
                reply.status, reply.body
            ));
        }
        ok && reply.status < 400
    }
}

struct Shared {
    api: Api,
    seeds: Vec<(i64, String)>,
    teams: Vec<i64>,
    deadline: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_load_answers_only_what_the_contract_predicts_and_loses_no_write() {
    let duration = seconds_from_env("LOAD_TEST_SECS", 60);
    let db = TestDb::new().await;
    let server = Server::spawn(&db.url, &[common::UNTHROTTLED]).await;
    let api = server.api();

    api.register(ADMIN, "admin").await;
    make_admin(&db.url, ADMIN).await;
    let mut seeds = Vec::new();
    for i in 0..SEEDS {
        let username = format!("seed{i:04}");
        let id = api.register(&format!("{}", 10 + i), &username).await;
        seeds.push((id, username));
    }
    let mut teams = Vec::new();
    for i in 0..TEAMS {
        let reply = api
            .send(
                Method::POST,
                "/api/v1/teams",
                Some(ADMIN),
                Some(&json!({"name": format!("team {i}"), "introduction": "load"})),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        teams.push(reply.body["id"].as_i64().expect("a team id"));
    }

    let started = Instant::now();
    let shared = Arc::new(Shared {
        api,
        seeds,
        teams,
        deadline: started + duration,
    });
    let workers = (0..CONCURRENCY).map(|worker| {
        let shared = shared.clone();
        tokio::spawn(async move { work(&shared, worker).await })
    });
    let ledgers: Vec<Ledger> = futures::future::join_all(workers)
        .await
        .into_iter()
        .map(|r| r.expect("a worker panicked"))
        .collect();
    let elapsed = started.elapsed();

    let mut statuses: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    let mut unexpected = Vec::new();
    let mut requests = 0;
    for ledger in &ledgers {
        requests += ledger.requests;
        unexpected.extend(ledger.unexpected.iter().cloned());
        for (key, n) in &ledger.statuses {
            *statuses.entry(*key).or_default() += n;
        }
    }
    println!(
        "{requests} requests in {elapsed:.1?} from {CONCURRENCY} clients ({:.0}/s)",
        requests as f64 / elapsed.as_secs_f64()
    );
    for ((op, status), n) in &statuses {
        println!("  {op:<12} {status}: {n}");
    }
    let server_errors: usize = statuses
        .iter()
        .filter(|((_, s), _)| *s >= 500)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(server_errors, 0, "5xx answers: {statuses:?}");
    assert!(
        unexpected.is_empty(),
        "{} answers the contract does not predict, e.g. {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(10)]
    );
    assert!(requests > 0);

    verify(&db, &shared, &ledgers).await;
}

async fn work(shared: &Shared, worker: u64) -> Ledger {
    let api = &shared.api;
    let mut rng = Rng::new(worker + 1);
    let mut ledger = Ledger::default();
    let mut registered = 0u64;
    while Instant::now() < shared.deadline {
        let live: Vec<usize> = (0..ledger.owned.len())
            .filter(|i| !ledger.owned[*i].deleted)
            .collect();
        let roll = if live.is_empty() { 40 } else { rng.below(100) };
        let pick = |rng: &mut Rng| live[rng.below(live.len() as u64) as usize];
        match roll {
            0..25 => {
                let path = match rng.below(4) {
                    0 => "/api/v1/users".to_owned(),
                    1 => format!("/api/v1/users?limit=50&cursor={}", rng.below(200)),
                    2 => format!("/api/v1/users?q=w{worker}u&limit=20"),
                    _ => "/api/v1/users?is_member=false&limit=100".to_owned(),
                };
                let reply = api.get(&path, None).await;
                if ledger.check("list", &reply, &[200]) {
                    assert!(reply.body.is_array(), "{path}: {}", reply.body);
                }
            }
            25..40 => {
                // Own users (deleted ones answer 404) or a seed.
                let (id, expected) = if ledger.owned.is_empty() || rng.below(3) == 0 {
                    let seed = &shared.seeds[rng.below(SEEDS as u64) as usize];
                    (seed.0, 200)
                } else {
                    let user = &ledger.owned[rng.below(ledger.owned.len() as u64) as usize];
                    (user.id, if user.deleted { 404 } else { 200 })
                };
                let reply = api.get(&format!("/api/v1/users/{id}"), None).await;
                ledger.check("read", &reply, &[expected]);
            }
            40..52 => {
                let sso = format!("{}", 100_000 + worker * 100_000 + registered);
                let username = format!("w{worker}u{registered}");
                registered += 1;
                let first_name = format!("F{worker}-{registered}");
                let reply = api
                    .send(
                        Method::POST,
                        "/api/v1/users",
                        Some(&sso),
                        Some(&json!({"username": username, "first_name": first_name, "last_name": "L"})),
                    )
                    .await;
                if ledger.check("register", &reply, &[201]) {
                    ledger.owned.push(Owned {
                        id: reply.body["id"].as_i64().unwrap_or_default(),
                        sso,
                        username,
                        first_name,
                        introduction: None,
                        updates: 0,
                        teams: BTreeSet::new(),
                        added: BTreeMap::new(),
                        removed: BTreeMap::new(),
                        deleted: false,
                    });
                }
            }
            52..55 => {
                // A username that is taken: 409, and the caller stays unregistered.
                let sso = format!("{}", 100_000 + worker * 100_000 + registered);
                registered += 1;
                let taken = &shared.seeds[rng.below(SEEDS as u64) as usize].1;
                let reply = api
                    .send(
                        Method::POST,
                        "/api/v1/users",
                        Some(&sso),
                        Some(&json!({"username": taken.to_uppercase(), "first_name": "X", "last_name": "Y"})),
                    )
                    .await;
                ledger.check("collide", &reply, &[409]);
                ledger.refused.push(sso);
            }
            55..72 => {
                let i = pick(&mut rng);
                let user = &ledger.owned[i];
                let first_name = format!("P{worker}-{}", rng.below(1_000_000));
                let introduction =
                    (rng.below(4) != 0).then(|| format!("안녕하세요 {} 🧇", rng.below(1000)));
                let reply = api
                    .send(
                        Method::PATCH,
                        &format!("/api/v1/users/{}", user.id),
                        Some(&user.sso.clone()),
                        Some(&json!({"first_name": first_name, "introduction": introduction})),
                    )
                    .await;
                if ledger.check("update", &reply, &[200]) {
                    let user = &mut ledger.owned[i];
                    user.first_name = first_name;
                    user.introduction = introduction;
                    user.updates += 1;
                }
            }
            72..75 => {
                // Invalid values: 422, nothing written.
                let user = &ledger.owned[pick(&mut rng)];
                let reply = api
                    .send(
                        Method::PATCH,
                        &format!("/api/v1/users/{}", user.id),
                        Some(&user.sso.clone()),
                        Some(&json!({"username": "no spaces!", "generation": "nineteen"})),
                    )
                    .await;
                ledger.check("bad-update", &reply, &[422]);
            }
            75..77 => {
                // Someone else's user, as a non-admin: 403.
                let user = &ledger.owned[pick(&mut rng)];
                let seed = shared.seeds[rng.below(SEEDS as u64) as usize].0;
                let reply = api
                    .send(
                        Method::PATCH,
                        &format!("/api/v1/users/{seed}"),
                        Some(&user.sso.clone()),
                        Some(&json!({"first_name": "Intruder"})),
                    )
                    .await;
                ledger.check("foreign", &reply, &[403]);
            }
            77..95 => {
                let i = pick(&mut rng);
                let team = shared.teams[rng.below(TEAMS as u64) as usize];
                let join = roll < 87;
                let method = if join { Method::PUT } else { Method::DELETE };
                let user_id = ledger.owned[i].id;
                let reply = api
                    .send(
                        method,
                        &format!("/api/v1/teams/{team}/members/{user_id}"),
                        Some(ADMIN),
                        None,
                    )
                    .await;
                if ledger.check(if join { "join" } else { "leave" }, &reply, &[204]) {
                    let user = &mut ledger.owned[i];
                    if join && user.teams.insert(team) {
                        *user.added.entry(team).or_default() += 1;
                    }
                    if !join && user.teams.remove(&team) {
                        *user.removed.entry(team).or_default() += 1;
                    }
                }
            }
            95..97 => {
                let i = pick(&mut rng);
                let id = ledger.owned[i].id;
                let reply = api
                    .send(
                        Method::DELETE,
                        &format!("/api/v1/users/{id}"),
                        Some(ADMIN),
                        None,
                    )
                    .await;
                if ledger.check("delete", &reply, &[204]) {
                    ledger.owned[i].deleted = true;
                    ledger.owned[i].teams.clear();
                }
            }
            _ => {
                let team = shared.teams[rng.below(TEAMS as u64) as usize];
                let (path, sso) = match rng.below(3) {
                    0 => (format!("/api/v1/teams/{team}"), None),
                    1 => ("/api/v1/positions".to_owned(), None),
                    _ => ("/api/v1/audit-logs?limit=20".to_owned(), Some(ADMIN)),
                };
                let reply = api.get(&path, sso).await;
                ledger.check("other-read", &reply, &[200]);
            }
        }
    }
    ledger
}

/// The database after the load: every answered write is there with its audit
/// entries, and no refused one left a trace.
async fn verify(db: &TestDb, shared: &Shared, ledgers: &[Ledger]) {
    let mut conn = db.connect().await;
    let users: Vec<UserRow> = sqlx::query_as(
        "SELECT id, sso_id, username, first_name, introduction FROM `user` ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("users");
    let users: HashMap<i64, _> = users.into_iter().map(|u| (i64::from(u.0), u)).collect();
    let audit: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT entity, action, entity_id, COUNT(*) FROM audit_log \
         GROUP BY entity, action, entity_id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("audit counts");
    let audit: HashMap<(String, String, String), i64> = audit
        .into_iter()
        .map(|(entity, action, id, n)| ((entity, action, id), n))
        .collect();
    let entries = |entity: &str, action: &str, id: String| {
        audit
            .get(&(entity.to_owned(), action.to_owned(), id))
            .copied()
            .unwrap_or(0)
    };
    let links: Vec<(i32, i32)> =
        sqlx::query_as("SELECT team_id, user_id FROM team_user_association")
            .fetch_all(&mut conn)
            .await
            .expect("memberships");
    let links: BTreeSet<(i64, i64)> = links
        .into_iter()
        .map(|(t, u)| (i64::from(t), i64::from(u)))
        .collect();

    let mut checked = (0, 0, 0);
    for user in ledgers.iter().flat_map(|l| &l.owned) {
        let id = user.id;
        assert_eq!(entries("user", "create", id.to_string()), 1, "{user:?}");
        assert_eq!(
            entries("user", "update", id.to_string()),
            user.updates as i64,
            "one update entry per answered PATCH: {user:?}"
        );
        for team in &shared.teams {
            let entity_id = format!("{team}:{id}");
            let added = user.added.get(team).copied().unwrap_or(0) as i64;
            let removed = user.removed.get(team).copied().unwrap_or(0) as i64;
            assert_eq!(entries("team_member", "add", entity_id.clone()), added);
            assert_eq!(entries("team_member", "remove", entity_id), removed);
            assert_eq!(links.contains(&(*team, id)), user.teams.contains(team));
        }
        if user.deleted {
            assert!(!users.contains_key(&id), "deleted user {id} is still there");
            assert_eq!(entries("user", "delete", id.to_string()), 1);
            checked.2 += 1;
            continue;
        }
        let row = users
            .get(&id)
            .unwrap_or_else(|| panic!("registered user {id} is missing: {user:?}"));
        assert_eq!(row.1.as_deref(), Some(user.sso.as_str()));
        assert_eq!(row.2.as_deref(), Some(user.username.as_str()));
        assert_eq!(row.3, user.first_name, "the last answered PATCH: {user:?}");
        assert_eq!(
            row.4, user.introduction,
            "the last answered PATCH: {user:?}"
        );
        checked.0 += 1;
        checked.1 += user.updates;
    }
    for sso in ledgers.iter().flat_map(|l| &l.refused) {
        assert!(
            !users.values().any(|u| u.1.as_deref() == Some(sso.as_str())),
            "refused registration of {sso} left a user"
        );
    }
    // The reverse: no user without its creation entry, and no creation entry beyond
    // the users the ledger and the setup account for.
    let registered = ledgers.iter().map(|l| l.owned.len()).sum::<usize>() + SEEDS + 1;
    let creates: i64 = audit
        .iter()
        .filter(|((entity, action, _), _)| entity == "user" && action == "create")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(creates, registered as i64);
    for id in users.keys() {
        assert_eq!(entries("user", "create", id.to_string()), 1, "user {id}");
    }
    println!(
        "verified {} live users ({} updates), {} deleted, {} memberships, {} refused registrations",
        checked.0,
        checked.1,
        checked.2,
        links.len(),
        ledgers.iter().map(|l| l.refused.len()).sum::<usize>()
    );
}
