//! Races through the real local server over TCP: many requests for one thing at once,
//! and what the contract says must come out.
//!
//! Under `--lambdas` (`WADOT_LOCAL_MODE=lambdas`): the template's limits with the
//! throttles raised (`common::UNTHROTTLED`): 50 registrations at once would otherwise
//! meet `POST /api/v1/users`' burst of 5, and these tests are about what the database
//! lets through, not the throttle (lambdas.rs tests the bursts under the template's own
//! limits).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{UNTHROTTLED, at_once, fresh_local, fresh_local_with_admin, slack_with_members};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::TestDb;

const ADMIN: &str = "1";

async fn scalar(db: &TestDb, sql: &'static str, bind: &str) -> i64 {
    let mut conn = db.connect().await;
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&mut conn)
        .await
        .expect("query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_registrations_of_one_username_give_one_201_and_forty_nine_409s() {
    let (db, _server, api) = fresh_local(&[UNTHROTTLED]).await;

    let replies = at_once(50, |i| {
        let api = api.clone();
        async move {
            let sso = format!("{}", 5000 + i);
            let body = json!({"username": "contested", "first_name": "A", "last_name": "B"});
            api.post("/api/v1/users", &sso, &body).await
        }
    })
    .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let conflicts: Vec<_> = replies.iter().filter(|r| r.status == 409).collect();
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(created, 1, "{statuses:?}");
    assert_eq!(conflicts.len(), 49, "{statuses:?}");
    for conflict in conflicts {
        assert_eq!(
            conflict.body["detail"], "username is already taken",
            "{}",
            conflict.body
        );
    }
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM `user` WHERE username = ?",
            "contested"
        )
        .await,
        1
    );
    // Only the winner's write is audited; the losers' transactions left nothing.
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM audit_log WHERE entity = 'user' AND action = ?",
            "create"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_patches_leave_one_of_them_and_fifty_chained_audit_entries() {
    let (db, _server, api) = fresh_local_with_admin(ADMIN, &[UNTHROTTLED]).await;
    let id = api.register("77", "target").await;

    // Half from the user themself, half from the admin. Each sets two columns, the
    // position links and the SNS accounts, so a user mixing two requests would show.
    const POSITIONS: [&str; 5] = ["iOS", "안드로이드", "프론트엔드", "백엔드", "디자이너"];
    let results = at_once(50, |i| {
        let api = api.clone();
        async move {
            let positions: Vec<&str> = (0..5)
                .filter(|bit| (i + 1) & (1 << bit) != 0)
                .map(|bit| POSITIONS[bit])
                .collect();
            let body = json!({
                "first_name": format!("Name{i}"),
                "introduction": format!("intro {i}"),
                "positions": positions,
                "sns_accounts": [{"name": "blog", "url": format!("https://blog.example/{i}")}],
            });
            let sso = if i % 2 == 0 { "77" } else { ADMIN };
            let reply = api
                .send(
                    Method::PATCH,
                    &format!("/api/v1/users/{id}"),
                    Some(sso),
                    Some(&body),
                )
                .await;
            (body, reply)
        }
    })
    .await;
    for (body, reply) in &results {
        assert_eq!(reply.status, 200, "{body}: {}", reply.body);
    }

    // What a request set, and what the user shows, in one comparable form.
    let sorted = |names: Vec<String>| {
        let mut names = names;
        names.sort();
        names
    };
    let sent: Vec<Value> = results
        .iter()
        .map(|(body, _)| {
            let positions = body["positions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect();
            json!([
                body["first_name"],
                body["introduction"],
                sorted(positions),
                body["sns_accounts"]
            ])
        })
        .collect();
    let user = api.get(&format!("/api/v1/users/{id}"), Some(ADMIN)).await;
    let positions = user.body["positions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let shown = json!([
        user.body["first_name"],
        user.body["introduction"],
        sorted(positions),
        user.body["sns_accounts"]
    ]);
    assert!(
        sent.contains(&shown),
        "the user {shown} is none of the requests"
    );
    let first_name = user.body["first_name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let mut conn = db.connect().await;
    let entries: Vec<(String,)> = sqlx::query_as(
        "SELECT CAST(changes AS CHAR) FROM audit_log \
         WHERE entity = 'user' AND action = 'update' AND entity_id = ? ORDER BY id",
    )
    .bind(id.to_string())
    .fetch_all(&mut conn)
    .await
    .expect("audit entries");
    assert_eq!(entries.len(), 50);
    // Updates were serialised: each entry starts where the previous one ended, and the
    // last one ends at the row.
    let mut current = json!("Waffle");
    for (changes,) in &entries {
        let changes: Value = serde_json::from_str(changes).expect("JSON changes");
        assert_eq!(changes["first_name"][0], current, "{changes}");
        current = changes["first_name"][1].clone();
    }
    assert_eq!(current, json!(first_name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_force_runs_start_one_run() {
    let slack = slack_with_members(5, "RACE").await;
    // The member list answers slowly, so the run is still active while the burst lands.
    slack.stall_next("users.list", Duration::from_secs(2));
    let (db, _server, api) = fresh_local_with_admin(
        ADMIN,
        &[("SLACK_API_BASE_URL", &slack.base_url()), UNTHROTTLED],
    )
    .await;

    let replies = at_once(30, |i| {
        let api = api.clone();
        async move {
            let query = if i % 2 == 0 {
                "name=slack-sync"
            } else {
                "tag=slack"
            };
            api.send(
                Method::POST,
                &format!("/api/v1/batch/force-run?{query}"),
                Some(ADMIN),
                None,
            )
            .await
        }
    })
    .await;
    let mut queued = 0;
    let mut run_ids = HashSet::new();
    for reply in &replies {
        assert_eq!(reply.status, 202, "{}", reply.body);
        let result = &reply.body["results"][0];
        match result["status"].as_str() {
            Some("queued") => queued += 1,
            Some("already_running") => {}
            other => panic!("unexpected status {other:?}: {}", reply.body),
        }
        run_ids.insert(result["run_id"].as_i64().expect("a run id"));
    }
    assert_eq!(queued, 1, "exactly one force-run queues a run");
    assert_eq!(
        run_ids.len(),
        1,
        "every answer names the same run: {run_ids:?}"
    );
    let run_id = run_ids.into_iter().next().unwrap_or_default();
    assert_eq!(
        scalar(
            &db,
            "SELECT COUNT(*) FROM batch_run WHERE job = ?",
            "slack-sync"
        )
        .await,
        1
    );

    let run = api
        .finished_run(ADMIN, run_id, Duration::from_secs(60))
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["stats"]["created"], 5, "{run}");
    assert_eq!(slack.count("users.list"), 1, "the run read Slack once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_of_one_user_give_one_204_and_one_audit_entry() {
    let (db, _server, api) = fresh_local_with_admin(ADMIN, &[UNTHROTTLED]).await;
    let mut conn = db.connect().await;
    // The window is narrow: several rounds, each a fresh user.
    for round in 0..10 {
        let id = api
            .register(&format!("{}", 8800 + round), &format!("doomed{round}"))
            .await;
        // A PATCH of the same user rides along: it lands before the delete or meets a 404.
        let patch = {
            let api = api.clone();
            tokio::spawn(async move {
                api.send(
                    Method::PATCH,
                    &format!("/api/v1/users/{id}"),
                    Some(ADMIN),
                    Some(&json!({"first_name": "Last"})),
                )
                .await
            })
        };
        let path = format!("/api/v1/users/{id}");
        let deletes = at_once(20, |_| {
            let (api, path) = (api.clone(), path.clone());
            async move { api.send(Method::DELETE, &path, Some(ADMIN), None).await }
        })
        .await;
        let statuses: Vec<u16> = deletes.iter().map(|reply| reply.status).collect();
        let patched = patch.await.expect("task");
        let deleted = statuses.iter().filter(|s| **s == 204).count();
        let missing = statuses.iter().filter(|s| **s == 404).count();
        assert_eq!((deleted, missing), (1, 19), "round {round}: {statuses:?}");
        assert!(matches!(patched.status, 200 | 404), "{}", patched.body);

        let deletions: Vec<(String,)> = sqlx::query_as(
            "SELECT CAST(changes AS CHAR) FROM audit_log \
             WHERE entity = 'user' AND action = 'delete' AND entity_id = ?",
        )
        .bind(id.to_string())
        .fetch_all(&mut conn)
        .await
        .expect("entries");
        assert_eq!(deletions.len(), 1, "round {round}: {deletions:?}");
        // The entry holds the user as deleted: with the PATCH, if that came first.
        let changes: Value = serde_json::from_str(&deletions[0].0).expect("JSON");
        let expected = if patched.status == 200 {
            "Last"
        } else {
            "Waffle"
        };
        assert_eq!(
            changes["first_name"],
            json!([expected, null]),
            "round {round}: {changes}"
        );
    }
}
