//! The positions function against a real MariaDB: docs/api.md's "Positions" section, with the
//! audit entry of every write.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::db::{ADMIN, MEMBER, audit_entry};
use testkit::http::{Collection, INVALID_IDS, assert_admin_only, assert_raw_bodies, get, race};
use testkit::{QueryCounter, SEEDED_POSITIONS};

testkit::test_app!(App, positions::router);

/// A migrated database with an admin (SSO id `ADMIN`) and a registered non-admin
/// (`MEMBER`).
async fn app() -> App {
    App::with_admin_and_member().await
}

impl Collection for App {
    const PATH: &'static str = "/api/v1/positions";

    fn router(&self) -> &axum::Router {
        &self.router
    }
}

impl App {
    async fn position_id(&self, name: &str) -> i64 {
        let mut conn = self.db.connect().await;
        sqlx::query_scalar("SELECT id FROM `position` WHERE name = ?")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .expect("the position exists")
    }

    /// Inserts a non-admin user holding the positions named `positions`; returns its id.
    async fn holder(&self, sso: &str, username: &str, positions: &[&str]) -> i64 {
        let user_id = self.db.insert_user(sso, username, false).await;
        let mut conn = self.db.connect().await;
        for name in positions {
            sqlx::query(
                "INSERT INTO position_user_association (position_id, user_id) \
                 SELECT id, ? FROM `position` WHERE name = ?",
            )
            .bind(user_id)
            .bind(name)
            .execute(&mut conn)
            .await
            .expect("link");
        }
        user_id
    }

    async fn list(&self) -> Vec<Value> {
        let response = get("/api/v1/positions").send(&self.router).await;
        assert_eq!(response.status, StatusCode::OK);
        response.json()["items"]
            .as_array()
            .cloned()
            .expect("items is a list")
    }
}

// --- Reading ------------------------------------------------------------------------

#[tokio::test]
async fn anyone_lists_the_seeded_positions_in_id_order_with_user_counts() {
    let app = app().await;
    app.holder("1", "kim", &["백엔드"]).await;
    app.holder("2", "lee", &["백엔드", "iOS"]).await;

    for caller in [None, Some(MEMBER), Some(ADMIN)] {
        let response = get("/api/v1/positions")
            .as_caller(caller)
            .send(&app.router)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{caller:?}");
        let items = response.json()["items"].as_array().cloned().unwrap();
        let names: Vec<&str> = items.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, SEEDED_POSITIONS, "{caller:?}");
        let ids: Vec<i64> = items.iter().map(|p| p["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let counts: Vec<i64> = items
            .iter()
            .map(|p| p["user_count"].as_i64().unwrap())
            .collect();
        assert_eq!(counts, [0, 0, 1, 0, 0, 2], "{caller:?}");
        for item in &items {
            let mut keys: Vec<&String> = item.as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(keys, ["id", "name", "user_count"]);
        }
    }
}

/// The list costs the same number of SELECTs (one) for 6 positions and 3 users as for
/// 66 positions and 200 users.
#[tokio::test]
async fn the_list_runs_one_query_whatever_the_number_of_positions_and_users() {
    let (mut counter, router, mut conn) = QueryCounter::start_with(positions::router).await;

    let mut selects = Vec::new();
    for (positions, users) in [(0, 3), (60, 200)] {
        if positions > 0 {
            let values: Vec<String> = (0..positions).map(|i| format!("('extra{i}')")).collect();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "INSERT INTO `position` (name) VALUES {}",
                values.join(", ")
            )))
            .execute(&mut conn)
            .await
            .expect("positions");
        }
        let values: Vec<String> = (0..users)
            .map(|i| format!("('u{positions}-{i}', 'A', 'B', 0, 1, 1, 0)"))
            .collect();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO `user` (username, first_name, last_name, is_rookie, is_member, is_active, is_admin) VALUES {}; \
             INSERT IGNORE INTO position_user_association (position_id, user_id) \
             SELECT p.id, u.id FROM `position` p JOIN `user` u ON (p.id + u.id) % 3 = 0",
            values.join(", ")
        )))
        .execute(&mut conn)
        .await
        .expect("users and links");

        // Warm the pool so that connection set-up statements are not counted.
        get("/api/v1/positions").send(&router).await;
        let (response, count) = counter.get(&router, "/api/v1/positions").await;
        assert_eq!(response.status, StatusCode::OK);
        let items = response.json()["items"].as_array().map(Vec::len);
        assert_eq!(items, Some(6 + positions));
        selects.push(count);
    }
    assert_eq!(selects.len(), 2, "a small and a large data set");
    testkit::queries::assert_fixed(&selects, 1, "GET /positions");
    counter.stop_after(router).await;
}

// --- Creating -----------------------------------------------------------------------

#[tokio::test]
async fn only_admins_create_positions() {
    let app = app().await;
    assert_admin_only(MEMBER, async |sso| {
        app.create(sso, json!({"name": "데브옵스"})).await
    })
    .await;
    let unregistered = app.create(Some("12345"), json!({"name": "데브옵스"})).await;
    assert_eq!(unregistered.status, StatusCode::FORBIDDEN);
    assert_eq!(app.db.count("position").await, 6, "nothing created");
    assert!(app.db.audit_log().await.is_empty());

    let created = app.create(Some(ADMIN), json!({"name": "데브옵스"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let body = created.json();
    let id = body["id"].as_i64().expect("an id");
    assert_eq!(body, json!({"id": id, "name": "데브옵스"}));
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/positions/{id}").as_str())
    );
    assert_eq!(app.position_id("데브옵스").await, id);
    let last = app.list().await.pop().unwrap();
    assert_eq!(last, json!({"id": id, "name": "데브옵스", "user_count": 0}));
}

#[tokio::test]
async fn creating_a_position_records_who_created_it() {
    let app = app().await;
    let created = app.create(Some(ADMIN), json!({"name": "DevOps"})).await;
    let id = created.json()["id"].as_i64().unwrap();
    assert_eq!(
        app.db.audit_log().await,
        [audit_entry(
            ADMIN,
            "create",
            "position",
            id,
            json!({"name": [null, "DevOps"]})
        )]
    );
}

#[tokio::test]
async fn duplicate_names_are_409_compared_case_insensitively_and_not_audited() {
    let app = app().await;
    for name in ["iOS", "IOS", "ios", "백엔드"] {
        let response = app.create(Some(ADMIN), json!({"name": name})).await;
        assert_eq!(response.status, StatusCode::CONFLICT, "{name}");
        assert_eq!(
            response.json(),
            json!({"detail": "name is already taken"}),
            "{name}"
        );
    }
    assert_eq!(app.db.count("position").await, 6);
    assert!(
        app.db.audit_log().await.is_empty(),
        "a failed write records nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creations_of_one_name_let_exactly_one_win() {
    let app = app().await;
    let attempts = (0..8).map(|_| app.create(Some(ADMIN), json!({"name": "Contested"})));
    let mut statuses = race(attempts).await;
    statuses.sort();
    let mut expected = vec![StatusCode::CONFLICT; 7];
    expected.insert(0, StatusCode::CREATED);
    assert_eq!(statuses, expected);
    assert_eq!(
        app.db.count_where("position", "name = 'Contested'").await,
        1
    );
    assert_eq!(
        app.db.audit_log().await.len(),
        1,
        "one entry for the one write"
    );
}

#[tokio::test]
async fn names_are_1_to_50_characters_and_not_blank() {
    let app = app().await;
    let fifty = "가".repeat(50);
    let fits = app.create(Some(ADMIN), json!({"name": fifty})).await;
    assert_eq!(fits.status, StatusCode::CREATED, "{}", fits.json());
    assert_eq!(
        fits.json()["name"],
        json!(fifty),
        "stored and shown unchanged"
    );
    let emoji = app.create(Some(ADMIN), json!({"name": "🧇 Waffle"})).await;
    assert_eq!(emoji.json()["name"], "🧇 Waffle");

    for (what, body, kind) in [
        ("empty", json!({"name": ""}), "string_too_short"),
        ("blank", json!({"name": "   "}), "string_too_short"),
        (
            "51 characters",
            json!({"name": "가".repeat(51)}),
            "string_too_long",
        ),
        (
            "51 ASCII",
            json!({"name": "a".repeat(51)}),
            "string_too_long",
        ),
        ("a number", json!({"name": 42}), "string_type"),
        ("a list", json!({"name": ["iOS"]}), "string_type"),
        ("null", json!({"name": null}), "missing"),
        ("missing", json!({}), "missing"),
        ("two lines", json!({"name": "a\nb"}), "value_error"),
    ] {
        let response = app.create(Some(ADMIN), body).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        assert_eq!(response.detail("loc"), [json!(["body", "name"])], "{what}");
        assert_eq!(response.detail("type"), [json!(kind)], "{what}");
        let error = &response.json()["detail"][0];
        assert!(error["msg"].is_string(), "{what}");
    }

    let unknown = app
        .create(Some(ADMIN), json!({"name": "QA", "color": "red"}))
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.detail("loc"), [json!(["body", "color"])]);
    assert_eq!(unknown.detail("type"), [json!("extra_forbidden")]);

    let both = app
        .create(Some(ADMIN), json!({"name": 1, "extra": 2}))
        .await;
    assert_eq!(
        both.detail("loc").len(),
        2,
        "every bad field at once: {}",
        both.json()
    );
    assert_eq!(app.db.count("position").await, 8, "only the two good names");
}

#[tokio::test]
async fn malformed_bodies_are_4xx_with_a_detail_never_5xx() {
    let app = app().await;
    let huge = json!({"name": "x".repeat(70 * 1024)}).to_string();
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("not json", b"{name: iOS".to_vec(), StatusCode::BAD_REQUEST),
        ("empty", Vec::new(), StatusCode::BAD_REQUEST),
        (
            "array",
            b"[\"iOS\"]".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "string",
            b"\"iOS\"".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "oversized",
            huge.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    let id = app.position_id("iOS").await;
    let targets = [
        (Method::POST, "/api/v1/positions".to_owned()),
        (Method::PATCH, format!("/api/v1/positions/{id}")),
    ];
    assert_raw_bodies(&app.router, ADMIN, &targets, cases).await;
    assert_eq!(app.db.count("position").await, 6);
    assert_eq!(
        app.list()
            .await
            .iter()
            .filter(|p| p["name"] == "iOS")
            .count(),
        1
    );
}

// --- Renaming -----------------------------------------------------------------------

#[tokio::test]
async fn renaming_keeps_the_holders_and_records_old_and_new_names() {
    let app = app().await;
    app.holder("1", "kim", &["프론트엔드"]).await;
    let id = app.position_id("프론트엔드").await;

    assert_admin_only(MEMBER, async |sso| {
        app.patch(sso, id, json!({"name": "Web"})).await
    })
    .await;
    assert_eq!(app.position_id("프론트엔드").await, id, "unchanged");

    let renamed = app
        .patch(Some(ADMIN), id, json!({"name": "웹 프론트엔드"}))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.json());
    assert_eq!(renamed.json(), json!({"id": id, "name": "웹 프론트엔드"}));
    let listed = app.list().await;
    let entry = listed.iter().find(|p| p["id"] == json!(id)).unwrap();
    assert_eq!(
        entry,
        &json!({"id": id, "name": "웹 프론트엔드", "user_count": 1})
    );
    assert_eq!(
        app.db.audit_log().await,
        [audit_entry(
            ADMIN,
            "update",
            "position",
            id,
            json!({"name": ["프론트엔드", "웹 프론트엔드"]})
        )]
    );

    let same = app
        .patch(Some(ADMIN), id, json!({"name": "웹 프론트엔드"}))
        .await;
    assert_eq!(same.status, StatusCode::OK);
    assert_eq!(app.db.audit_log().await.len(), 1, "no change, no entry");

    let recased = app
        .patch(
            Some(ADMIN),
            app.position_id("iOS").await,
            json!({"name": "IOS"}),
        )
        .await;
    assert_eq!(
        recased.status,
        StatusCode::OK,
        "a position may change the case of its own name"
    );
    assert_eq!(recased.json()["name"], "IOS");
}

#[tokio::test]
async fn renaming_to_a_taken_name_is_409_and_changes_nothing() {
    let app = app().await;
    let id = app.position_id("디자이너").await;
    let taken = app.patch(Some(ADMIN), id, json!({"name": "BACKEND"})).await;
    assert_eq!(
        taken.status,
        StatusCode::OK,
        "BACKEND is free: {}",
        taken.json()
    );
    let clash = app.patch(Some(ADMIN), id, json!({"name": "ios"})).await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert_eq!(clash.json(), json!({"detail": "name is already taken"}));
    assert_eq!(app.position_id("BACKEND").await, id, "the name stays");
    assert_eq!(
        app.db.audit_log().await.len(),
        1,
        "only the successful rename"
    );

    let invalid = app.patch(Some(ADMIN), id, json!({"name": " "})).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid.detail("loc"), [json!(["body", "name"])]);
    let unknown = app.patch(Some(ADMIN), id, json!({"title": "x"})).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.detail("loc").contains(&json!(["body", "title"])));
}

// --- Deleting -----------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_position_keeps_its_users_and_removes_only_their_links() {
    let app = app().await;
    app.holder("1", "kim", &["안드로이드"]).await;
    app.holder("2", "lee", &["안드로이드", "백엔드"]).await;
    let id = app.position_id("안드로이드").await;

    assert_admin_only(MEMBER, async |sso| app.delete(sso, id).await).await;
    assert_eq!(app.db.count("position").await, 6);

    let deleted = app.delete(Some(ADMIN), id).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.bytes.is_empty());
    let names: Vec<Value> = app.list().await.iter().map(|p| p["name"].clone()).collect();
    assert!(!names.contains(&json!("안드로이드")), "{names:?}");
    assert_eq!(app.db.count("user").await, 4, "users stay");
    assert_eq!(
        app.db.count("position_user_association").await,
        1,
        "only lee's other position is left"
    );
    assert_eq!(
        app.db.audit_log().await,
        [audit_entry(
            ADMIN,
            "delete",
            "position",
            id,
            json!({"name": ["안드로이드", null]})
        )]
    );

    let again = app.delete(Some(ADMIN), id).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.json(), json!({"detail": "position not found"}));
    assert_eq!(app.db.audit_log().await.len(), 1);
}

#[tokio::test]
async fn unknown_positions_are_404_and_bad_ids_422() {
    let app = app().await;
    let rename = app.patch(Some(ADMIN), 424242, json!({"name": "x"})).await;
    assert_eq!(rename.status, StatusCode::NOT_FOUND);
    assert_eq!(rename.json(), json!({"detail": "position not found"}));
    assert_eq!(
        app.delete(Some(ADMIN), 424242).await.status,
        StatusCode::NOT_FOUND
    );

    for bad in INVALID_IDS.into_iter().chain(["2147483648"]) {
        let rename = app.patch(Some(ADMIN), bad, json!({"name": "x"})).await;
        assert_eq!(rename.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(rename.detail("loc"), [json!(["path", "id"])], "{bad}");
        let delete = app.delete(Some(ADMIN), bad).await;
        assert_eq!(delete.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(delete.detail("loc"), [json!(["path", "id"])], "{bad}");
    }
    assert!(app.db.audit_log().await.is_empty());
    assert_eq!(app.db.count("position").await, 6);
}

// --- Audit failures -----------------------------------------------------------------

#[tokio::test]
async fn nothing_is_written_when_the_audit_entry_cannot_be() {
    let app = app().await;
    app.db.refuse_audit_writes("forced").await;
    let id = app.position_id("디자이너").await;

    let created = app.create(Some(ADMIN), json!({"name": "Doomed"})).await;
    created.assert_internal_error();
    assert_eq!(app.db.count_where("position", "name = 'Doomed'").await, 0);

    let renamed = app.patch(Some(ADMIN), id, json!({"name": "Doomed"})).await;
    assert_eq!(renamed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(app.position_id("디자이너").await, id, "the old name stays");

    let deleted = app.delete(Some(ADMIN), id).await;
    assert_eq!(deleted.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(app.db.count("position").await, 6);
    assert_eq!(app.db.count("audit_log").await, 0);
}

// --- Lambda -------------------------------------------------------------------------

#[tokio::test]
async fn binary_answers_api_gateway_events_through_the_runtime_api() {
    let app = app().await;
    let (runtime, mut process) = app.db.start_lambda(env!("CARGO_BIN_EXE_positions")).await;

    let (status, headers, list) = runtime.http("GET", "/api/v1/positions", None, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(6));
    assert!(headers["x-request-id"].is_string());

    // No token, no identity: 401; a non-admin: 403.
    let body = json!({"name": "Lambda"});
    let (_, created) = runtime
        .assert_admin_creates("/api/v1/positions", &body, ADMIN, MEMBER)
        .await;
    assert_eq!(created["name"], "Lambda");
    assert_eq!(app.db.audit_log().await[0]["actor"], ADMIN);
    assert!(process.is_running());
}
