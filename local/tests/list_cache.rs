//! The directory version and the list cache through the real local server: every
//! writer moves the version, a rolled-back write does not, and two servers on one
//! database never answer a stale list once a write has answered.

mod common;

use std::time::Duration;

use common::{Server, fresh_local, make_admin, slack_with_members};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::TestDb;

const ADMIN: &str = "1";

async fn version(db: &TestDb) -> i64 {
    db.scalar("SELECT CAST(`version` AS SIGNED) FROM directory_version WHERE id = 1")
        .await
}

/// The admin's writes, each checked for its status and for moving the version.
struct Writes<'a> {
    db: &'a TestDb,
    api: &'a common::Api,
}

impl Writes<'_> {
    /// Sends one write and checks both its status and that the version moved.
    async fn moves(&self, method: Method, path: &str, body: Option<Value>, status: u16) {
        let before = version(self.db).await;
        let reply = self
            .api
            .send(method.clone(), path, Some(ADMIN), body.as_ref())
            .await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        assert!(
            version(self.db).await > before,
            "{method} {path} left the directory version at {before}"
        );
    }

    async fn post(&self, path: &str, body: Value) {
        self.moves(Method::POST, path, Some(body), 201).await;
    }

    async fn patch(&self, path: &str, body: Value) {
        self.moves(Method::PATCH, path, Some(body), 200).await;
    }

    async fn put(&self, path: &str) {
        self.moves(Method::PUT, path, None, 204).await;
    }

    async fn delete(&self, path: &str) {
        self.moves(Method::DELETE, path, None, 204).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_writer_moves_the_directory_version() {
    let slack = slack_with_members(1, "SYNCED").await;
    let (db, _server, api) = fresh_local(&[("SLACK_API_BASE_URL", &slack.base_url())]).await;

    let before = version(&db).await;
    api.register(ADMIN, "admin").await;
    assert!(version(&db).await > before, "registration");
    make_admin(&db.url, ADMIN).await;
    let other = api.register("2", "member").await;
    let user = format!("/api/v1/users/{other}");
    let writes = Writes { db: &db, api: &api };

    // The user's own fields, positions and SNS accounts, as an admin edits them.
    writes.patch(&user, json!({"first_name": "Changed"})).await;
    writes.patch(&user, json!({"positions": ["백엔드"]})).await;
    writes
        .patch(
            &user,
            json!({"sns_accounts": [{"name": "blog", "url": "https://b.example"}]}),
        )
        .await;
    writes.patch(&user, json!({"is_member": true})).await;

    // Positions: create, rename, delete (the delete cascades to the user's link).
    let created = api
        .post("/api/v1/positions", ADMIN, &json!({"name": "데브옵스"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let position = format!("/api/v1/positions/{}", created.body["id"]);
    writes
        .patch(&user, json!({"positions": ["데브옵스"]}))
        .await;
    writes.patch(&position, json!({"name": "인프라"})).await;
    writes.delete(&position).await;

    // Teams: create, rename, membership in and out, delete.
    writes
        .post(
            "/api/v1/teams",
            json!({"name": "waffle", "introduction": ""}),
        )
        .await;
    let team_id = db.scalar("SELECT CAST(MAX(id) AS SIGNED) FROM team").await;
    let team = format!("/api/v1/teams/{team_id}");
    let membership = format!("{team}/members/{other}");
    writes.put(&membership).await;
    writes.patch(&team, json!({"name": "pancake"})).await;
    writes.delete(&membership).await;
    writes.put(&membership).await;
    writes.delete(&team).await;

    // The Slack sync creates a user.
    let before = version(&db).await;
    let forced = api.force_slack_sync(ADMIN).await;
    assert_eq!(forced.status, 202, "{}", forced.body);
    let run = api
        .finished_run(ADMIN, forced.run_id(), Duration::from_secs(60))
        .await;
    assert_eq!(run["stats"]["created"], 1, "{run}");
    assert!(version(&db).await > before, "the Slack sync");

    // Deleting the user (and with it their positions, accounts and teams).
    writes.delete(&user).await;

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
