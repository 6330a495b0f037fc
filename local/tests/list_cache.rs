//! The directory version and the list cache through the real local server: every
//! writer moves the version, a rolled-back write does not, and two servers on one
//! database never answer a stale list once a write has answered.

mod common;

use std::time::Duration;

use common::{Server, make_admin};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::TestDb;
use testkit::slack::{FakeSlack, member, profile};

const ADMIN: &str = "1";

async fn version(db: &TestDb) -> i64 {
    db.scalar("SELECT CAST(`version` AS SIGNED) FROM directory_version WHERE id = 1")
        .await
}

/// Sends one write and checks both its status and that the version moved.
async fn moves(db: &TestDb, api: &common::Api, what: (Method, &str, Option<Value>), status: u16) {
    let (method, path, body) = what;
    let before = version(db).await;
    let reply = api
        .send(method.clone(), path, Some(ADMIN), body.as_ref())
        .await;
    assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
    assert!(
        version(db).await > before,
        "{method} {path} left the directory version at {before}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_writer_moves_the_directory_version() {
    let slack = FakeSlack::start().await;
    slack.add(
        member("U0SYNCED1"),
        profile("Synced", "Lee", "synced@snu.ac.kr"),
    );
    let db = TestDb::new().await;
    let base_url = slack.base_url();
    let server = Server::spawn(&db.url, &[("SLACK_API_BASE_URL", &base_url)]).await;
    let api = server.api();

    let before = version(&db).await;
    api.register(ADMIN, "admin").await;
    assert!(version(&db).await > before, "registration");
    make_admin(&db.url, ADMIN).await;
    let other = api.register("2", "member").await;
    let user = format!("/api/v1/users/{other}");

    // The user's own fields, positions and SNS accounts, as an admin edits them.
    moves(
        &db,
        &api,
        (Method::PATCH, &user, Some(json!({"first_name": "Changed"}))),
        200,
    )
    .await;
    moves(
        &db,
        &api,
        (Method::PATCH, &user, Some(json!({"positions": ["백엔드"]}))),
        200,
    )
    .await;
    moves(
        &db,
        &api,
        (
            Method::PATCH,
            &user,
            Some(json!({"sns_accounts": [{"name": "blog", "url": "https://b.example"}]})),
        ),
        200,
    )
    .await;
    moves(
        &db,
        &api,
        (Method::PATCH, &user, Some(json!({"is_member": true}))),
        200,
    )
    .await;

    // Positions: create, rename, delete (the delete cascades to the user's link).
    let created = api
        .send(
            Method::POST,
            "/api/v1/positions",
            Some(ADMIN),
            Some(&json!({"name": "데브옵스"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let position = format!("/api/v1/positions/{}", created.body["id"]);
    moves(
        &db,
        &api,
        (
            Method::PATCH,
            &user,
            Some(json!({"positions": ["데브옵스"]})),
        ),
        200,
    )
    .await;
    moves(
        &db,
        &api,
        (Method::PATCH, &position, Some(json!({"name": "인프라"}))),
        200,
    )
    .await;
    moves(&db, &api, (Method::DELETE, &position, None), 204).await;

    // Teams: create, rename, membership in and out, delete.
    moves(
        &db,
        &api,
        (
            Method::POST,
            "/api/v1/teams",
            Some(json!({"name": "waffle", "introduction": ""})),
        ),
        201,
    )
    .await;
    let team_id = db.scalar("SELECT CAST(MAX(id) AS SIGNED) FROM team").await;
    let team = format!("/api/v1/teams/{team_id}");
    let membership = format!("{team}/members/{other}");
    moves(&db, &api, (Method::PUT, &membership, None), 204).await;
    moves(
        &db,
        &api,
        (Method::PATCH, &team, Some(json!({"name": "pancake"}))),
        200,
    )
    .await;
    moves(&db, &api, (Method::DELETE, &membership, None), 204).await;
    moves(&db, &api, (Method::PUT, &membership, None), 204).await;
    moves(&db, &api, (Method::DELETE, &team, None), 204).await;

    // The Slack sync creates a user.
    let before = version(&db).await;
    let forced = api
        .send(
            Method::POST,
            "/api/v1/batch/force-run?name=slack-sync",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(forced.status, 202, "{}", forced.body);
    let run_id = forced.body["results"][0]["run_id"]
        .as_i64()
        .expect("a run id");
    let run = api
        .finished_run(ADMIN, run_id, Duration::from_secs(60))
        .await;
    assert_eq!(run["stats"]["created"], 1, "{run}");
    assert!(version(&db).await > before, "the Slack sync");

    // Deleting the user (and with it their positions, accounts and teams).
    moves(&db, &api, (Method::DELETE, &user, None), 204).await;

    // A write the database refuses (a taken username) moves nothing.
    let before = version(&db).await;
    let taken = api
        .send(
            Method::POST,
            "/api/v1/users",
            Some("3"),
            Some(&json!({"username": "admin", "first_name": "A", "last_name": "B"})),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert_eq!(version(&db).await, before, "a refused write");
}

#[tokio::test]
async fn a_rolled_back_write_leaves_the_version() {
    let db = TestDb::migrated().await;
    db.insert_user("9", "rolled", false).await;
    let before = version(&db).await;
    let mut conn = db.connect().await;
    sqlx::raw_sql(
        "START TRANSACTION; \
         UPDATE `user` SET first_name = 'Gone' WHERE sso_id = '9'; \
         DELETE FROM `user` WHERE sso_id = '9'; \
         ROLLBACK",
    )
    .execute(&mut conn)
    .await
    .expect("a rolled-back transaction");
    assert_eq!(version(&db).await, before);
    sqlx::raw_sql("UPDATE `user` SET first_name = 'Kept' WHERE sso_id = '9'")
        .execute(&mut conn)
        .await
        .expect("a committed update");
    assert_eq!(version(&db).await, before + 1);
}

/// The first name of `id` in the list as `api` answers it now.
async fn listed_name(api: &common::Api, query: &str, id: i64) -> String {
    let reply = api.get(&format!("/api/v1/users{query}"), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .body
        .as_array()
        .and_then(|users| users.iter().find(|u| u["id"] == id))
        .and_then(|u| u["first_name"].as_str())
        .unwrap_or("<absent>")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_never_answer_a_stale_list_after_a_write() {
    let db = TestDb::new().await;
    let a = Server::spawn(&db.url, &[]).await;
    let b = Server::spawn(&db.url, &[]).await;
    let (api_a, api_b) = (a.api(), b.api());
    api_a.register(ADMIN, "admin").await;
    make_admin(&db.url, ADMIN).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            api_b
                .register(&format!("{}", 100 + i), &format!("member{i:03}"))
                .await,
        );
    }
    // Readers hammer both servers all along, so their caches hold every version.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = [api_a.clone(), api_b.clone()]
        .into_iter()
        .map(|api| {
            let stop = stop.clone();
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    api.get("/api/v1/users?limit=10", None).await;
                    api.get("/api/v1/users", None).await;
                }
            })
        })
        .collect();
    let mut random = common::Rng::new(16);
    for round in 0..150 {
        let id = ids[random.below(ids.len() as u64) as usize];
        let name = format!("Round{round}");
        let (writer, reader) = if random.below(2) == 0 {
            (&api_a, &api_b)
        } else {
            (&api_b, &api_a)
        };
        let reply = writer
            .send(
                Method::PATCH,
                &format!("/api/v1/users/{id}"),
                Some(ADMIN),
                Some(&json!({"first_name": name})),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let query = if id <= ids[8] { "?limit=10" } else { "" };
        for api in [reader, writer] {
            assert_eq!(
                listed_name(api, query, id).await,
                name,
                "round {round}: a list after the write answered"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("a reader");
    }
}
