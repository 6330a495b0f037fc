//! The audit function against a real MariaDB: docs/api.md's "Audit log" section.

use std::collections::BTreeSet;

use axum::Router;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::audit::{Action, Actor, Changes, Entity};
use sqlx::{MySql, QueryBuilder};
use testkit::http::{TestResponse, get, request};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The SSO id of the admin every test reads the log as.
const ADMIN: &str = "1";

testkit::test_app!(App, audit::router);

/// The audit function on a fresh database with one admin, `ADMIN`.
async fn app() -> App {
    let app = App::new().await;
    app.db
        .insert_user(ADMIN, &format!("user{ADMIN}"), true)
        .await;
    app
}

impl App {
    /// Appends an entry the way every writer does.
    async fn record(&self, actor: &str, action: Action, entity: Entity, id: &str, changes: Value) {
        let actor = match actor {
            "slack-sync" => Actor::SlackSync,
            sso => Actor::User(sso.to_owned()),
        };
        let changes = Changes::between(&json!({}), &changes);
        let mut conn = self.db.connect().await;
        shared::domain::audit::record(&mut conn, &actor, action, entity, id, &changes)
            .await
            .expect("record an entry");
    }

    /// `count` entries in one statement; entry `i` (from 0) is about `entity(i)`.
    async fn seed(&self, count: usize, entity: impl Fn(usize) -> &'static str) {
        let mut sql = QueryBuilder::<MySql>::new(
            "INSERT INTO audit_log (actor, action, entity, entity_id, changes) ",
        );
        sql.push_values(0..count, |mut row, i| {
            row.push_bind("1001")
                .push_bind("update")
                .push_bind(entity(i))
                .push_bind(i.to_string())
                .push_bind(json!({"n": [i, i + 1]}).to_string());
        });
        let mut conn = self.db.connect().await;
        sql.build().execute(&mut conn).await.expect("seed entries");
    }

    /// Ids of the entries matching `condition`, newest first, as the database holds them.
    async fn ids(&self, condition: &str) -> Vec<i64> {
        let mut conn = self.db.connect().await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM audit_log WHERE {condition} ORDER BY id DESC"
        )))
        .fetch_all(&mut conn)
        .await
        .expect("read ids")
    }

    /// `GET /api/v1/audit-logs?<query>` as the admin.
    async fn list(&self, query: &str) -> TestResponse {
        get(&format!("/api/v1/audit-logs?{query}"))
            .as_user(ADMIN)
            .send(&self.router)
            .await
    }

    /// The page's body, which must be a 200.
    async fn page(&self, query: &str) -> Value {
        let response = self.list(query).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{query}: {}",
            response.json()
        );
        response.json()
    }

    /// Every page of `query` with `limit`, following `next_cursor` until it is null:
    /// the ids of each page.
    async fn walk(&self, query: &str, limit: u32) -> Vec<Vec<i64>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("{query}&limit={limit}");
            if let Some(cursor) = &cursor {
                q.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.page(&q).await;
            pages.push(ids(&page));
            match &page["next_cursor"] {
                Value::String(next) => cursor = Some(next.clone()),
                Value::Null => return pages,
                other => panic!("next_cursor is {other}"),
            }
            assert!(pages.len() < 100, "paging does not end");
        }
    }
}

/// The entries of a page.
fn items(page: &Value) -> &[Value] {
    page["items"].as_array().expect("items is an array")
}

fn ids(page: &Value) -> Vec<i64> {
    items(page)
        .iter()
        .map(|e| e["id"].as_i64().expect("an integer id"))
        .collect()
}

fn is_newest_first(ids: &[i64]) -> bool {
    ids.windows(2).all(|w| w[0] > w[1])
}

// --- Who may read -------------------------------------------------------------------

#[tokio::test]
async fn only_admins_read_the_log() {
    let app = app().await;
    app.db.insert_user("2", "user2", false).await;
    app.record(
        ADMIN,
        Action::Create,
        Entity::Team,
        "1",
        json!({"name": "와플"}),
    )
    .await;

    let anonymous = get("/api/v1/audit-logs").send(&app.router).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(anonymous.json()["detail"].is_string());

    for sso in ["2", "999"] {
        let response = get("/api/v1/audit-logs")
            .as_user(sso)
            .send(&app.router)
            .await;
        assert_eq!(
            response.status,
            StatusCode::FORBIDDEN,
            "{sso}: registered non-admin or unregistered"
        );
        assert_eq!(
            response.json(),
            json!({"detail": "only admins may do this"})
        );
    }

    let admin = get("/api/v1/audit-logs")
        .as_user(ADMIN)
        .send(&app.router)
        .await;
    assert_eq!(admin.status, StatusCode::OK);
    assert_eq!(admin.json()["items"].as_array().map(Vec::len), Some(1));
    assert!(admin.header("x-request-id").is_some());
}

#[tokio::test]
async fn callers_who_may_not_read_learn_nothing_about_their_parameters() {
    let app = app().await;
    app.db.insert_user("2", "user2", false).await;
    let anonymous = get("/api/v1/audit-logs?limit=0").send(&app.router).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let member = get("/api/v1/audit-logs?limit=0")
        .as_user("2")
        .send(&app.router)
        .await;
    assert_eq!(member.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_log_is_read_only() {
    let app = app().await;
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let response = request(method.clone(), "/api/v1/audit-logs")
            .as_user(ADMIN)
            .send(&app.router)
            .await;
        assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
}

// --- Entries ------------------------------------------------------------------------

#[tokio::test]
async fn an_entry_says_who_changed_what_when_and_how() {
    let app = app().await;
    let before = OffsetDateTime::now_utc();
    app.record(
        "1234",
        Action::Update,
        Entity::TeamMember,
        "3:17",
        json!({"role": "lead"}),
    )
    .await;
    let page = app.page("").await;
    assert_eq!(page["next_cursor"], Value::Null);
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    let entry = &items[0];
    let keys: BTreeSet<&str> = entry
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "id",
            "at",
            "actor",
            "action",
            "entity",
            "entity_id",
            "changes"
        ])
    );
    assert_eq!(entry["id"], app.ids("TRUE").await[0]);
    assert_eq!(entry["actor"], "1234");
    assert_eq!(entry["action"], "update");
    assert_eq!(entry["entity"], "team_member");
    assert_eq!(entry["entity_id"], "3:17");
    assert_eq!(entry["changes"], json!({"role": [null, "lead"]}));

    let at = entry["at"].as_str().expect("at is a string");
    assert!(at.ends_with('Z'), "UTC: {at}");
    let at = OffsetDateTime::parse(at, &Rfc3339).expect("RFC 3339");
    let after = OffsetDateTime::now_utc();
    assert!(
        before - time::Duration::seconds(2) <= at && at <= after + time::Duration::seconds(2),
        "{at} is the time of the write"
    );
}

#[tokio::test]
async fn times_keep_their_microseconds() {
    let app = app().await;
    app.db
        .sql(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, changes) \
         VALUES ('2026-11-29 01:02:03.456789', '1', 'update', 'user', '1', '{}')",
        )
        .await;
    let page = app.page("").await;
    assert_eq!(page["items"][0]["at"], "2026-11-29T01:02:03.456789Z");
}

#[tokio::test]
async fn changes_come_back_as_json_with_korean_and_emoji_intact() {
    let app = app().await;
    let mut changes = Changes::new();
    changes
        .field("first_name", "와플", "와플🧇")
        .field(
            "introduction",
            Value::Null,
            "안녕하세요 👋 \"따옴표\"\n줄바꿈",
        )
        .field("positions", json!(["iOS"]), json!(["iOS", "백엔드"]))
        .field("is_member", false, true);
    let mut conn = app.db.connect().await;
    shared::domain::audit::record(
        &mut conn,
        &Actor::User("42".into()),
        Action::Update,
        Entity::User,
        7,
        &changes,
    )
    .await
    .expect("record");

    let page = app.page("").await;
    assert_eq!(
        page["items"][0]["changes"],
        json!({
            "first_name": ["와플", "와플🧇"],
            "introduction": [null, "안녕하세요 👋 \"따옴표\"\n줄바꿈"],
            "positions": [["iOS"], ["iOS", "백엔드"]],
            "is_member": [false, true],
        }),
        "an object, not a string"
    );
}

#[tokio::test]
async fn entries_come_newest_first() {
    let app = app().await;
    for (i, action) in [
        Action::Create,
        Action::Update,
        Action::Update,
        Action::Delete,
    ]
    .into_iter()
    .enumerate()
    {
        app.record(ADMIN, action, Entity::Position, "5", json!({"step": i}))
            .await;
    }
    let page = app.page("").await;
    let actions: Vec<&str> = items(&page)
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["delete", "update", "update", "create"]);
    assert!(is_newest_first(&ids(&page)));
    assert_eq!(ids(&page), app.ids("TRUE").await);
}

#[tokio::test]
async fn a_stored_value_that_is_not_an_object_does_not_break_the_page() {
    let app = app().await;
    app.record(ADMIN, Action::Create, Entity::User, "1", json!({"a": 1}))
        .await;
    // Only `record` writes entries; these rows are written by hand. The server refuses
    // text that is not JSON, so the last needs its check removed first.
    app.db
        .sql(
            "INSERT INTO audit_log (actor, action, entity, entity_id, changes) \
         VALUES ('1', 'update', 'user', '1', '[1, 2]'); \
         ALTER TABLE audit_log MODIFY changes LONGTEXT NOT NULL; \
         INSERT INTO audit_log (actor, action, entity, entity_id, changes) \
         VALUES ('1', 'update', 'user', '1', 'not json');",
        )
        .await;
    let page = app.page("").await;
    let changes: Vec<&Value> = items(&page).iter().map(|e| &e["changes"]).collect();
    assert_eq!(changes, [&json!({}), &json!({}), &json!({"a": [null, 1]})]);
}

// --- Filters ------------------------------------------------------------------------

#[tokio::test]
async fn each_filter_narrows_and_filters_combine_with_and() {
    let app = app().await;
    let entries: [(&str, Action, Entity, &str); 8] = [
        ("1001", Action::Create, Entity::User, "1"),
        ("1001", Action::Update, Entity::User, "2"),
        ("1002", Action::Update, Entity::User, "1"),
        ("slack-sync", Action::Update, Entity::User, "1"),
        ("1001", Action::Create, Entity::Team, "1"),
        ("1001", Action::Add, Entity::TeamMember, "1:1"),
        ("1002", Action::Update, Entity::Position, "1"),
        ("1002", Action::Update, Entity::User, "11"),
    ];
    for (actor, action, entity, id) in entries {
        app.record(actor, action, entity, id, json!({"x": 1})).await;
    }
    let cases = [
        ("entity=user", "entity = 'user'"),
        ("entity=team", "entity = 'team'"),
        ("entity=team_member", "entity = 'team_member'"),
        ("entity_id=1", "entity_id = '1'"),
        (
            "entity=user&entity_id=1",
            "entity = 'user' AND entity_id = '1'",
        ),
        ("entity=team_member&entity_id=1%3A1", "entity_id = '1:1'"),
        ("actor=1001", "actor = '1001'"),
        ("actor=slack-sync", "actor = 'slack-sync'"),
        (
            "entity=user&entity_id=1&actor=1002",
            "entity = 'user' AND entity_id = '1' AND actor = '1002'",
        ),
        (
            "entity=user&actor=1001",
            "entity = 'user' AND actor = '1001'",
        ),
        ("entity=position&actor=1001", "FALSE"),
        ("entity_id=3", "FALSE"),
        ("actor=nobody", "FALSE"),
        ("unknown=parameter", "TRUE"),
    ];
    for (query, condition) in cases {
        let page = app.page(query).await;
        let expected = app.ids(condition).await;
        assert_eq!(ids(&page), expected, "{query}");
        assert_eq!(page["next_cursor"], Value::Null, "{query}");
    }
    // Sanity: the cases above are not vacuous.
    assert_eq!(
        app.ids("entity = 'user' AND entity_id = '1'").await.len(),
        3
    );
    assert_eq!(app.ids("actor = '1001'").await.len(), 4);
}

// --- Pages --------------------------------------------------------------------------

#[tokio::test]
async fn limit_defaults_to_100_and_goes_from_1_to_1000() {
    let app = app().await;
    app.seed(1001, |_| "user").await;
    let all = app.ids("TRUE").await;

    let default = app.page("").await;
    assert_eq!(ids(&default), all[..100]);
    assert!(default["next_cursor"].is_string());

    let one = app.page("limit=1").await;
    assert_eq!(ids(&one), all[..1]);

    let most = app.page("limit=1000").await;
    assert_eq!(ids(&most), all[..1000]);
    let cursor = most["next_cursor"].as_str().expect("one entry is left");
    let rest = app.page(&format!("limit=1000&cursor={cursor}")).await;
    assert_eq!(ids(&rest), all[1000..]);
    assert_eq!(rest["next_cursor"], Value::Null);
}

#[tokio::test]
async fn pages_visit_every_entry_exactly_once_newest_first() {
    let app = app().await;
    app.seed(250, |i| if i % 3 == 0 { "team" } else { "user" })
        .await;

    let pages = app.walk("", 40).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [40, 40, 40, 40, 40, 40, 10]);
    let visited: Vec<i64> = pages.concat();
    assert_eq!(visited, app.ids("TRUE").await, "each once, newest first");

    // With a filter, the same: only the matching entries, each once.
    let teams: Vec<i64> = app.walk("entity=team", 40).await.concat();
    assert_eq!(teams, app.ids("entity = 'team'").await);
    assert_eq!(teams.len(), 84);
}

#[tokio::test]
async fn a_last_page_that_is_exactly_full_says_so() {
    let app = app().await;
    app.seed(80, |_| "user").await;
    let pages = app.walk("", 40).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [40, 40], "no empty page after the last");
}

#[tokio::test]
async fn pages_stay_stable_while_entries_are_appended() {
    let app = app().await;
    app.seed(100, |_| "user").await;
    let before = app.ids("TRUE").await;

    let mut visited = Vec::new();
    let mut cursor: Option<String> = None;
    let mut appended = 0;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("limit=30&cursor={cursor}"),
            None => "limit=30".to_owned(),
        };
        let page = app.page(&query).await;
        visited.extend(ids(&page));
        // Someone writes between every two pages.
        for _ in 0..7 {
            app.record(
                "1002",
                Action::Update,
                Entity::User,
                "1",
                json!({"n": appended}),
            )
            .await;
            appended += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        visited, before,
        "every entry of the start once; none appended since"
    );

    let newest = app.page("limit=1").await;
    assert_eq!(
        ids(&newest),
        app.ids("actor = '1002'").await[..1],
        "a new walk starts with the newest"
    );
}

#[tokio::test]
async fn bad_parameters_are_422_naming_each() {
    let app = app().await;
    let long = "가".repeat(65);
    let bad_values: [(&str, &[&str]); 5] = [
        ("limit", &["0", "1001", "-5", "ten", ""]),
        ("cursor", &["abc", "0", "-1", ""]),
        ("entity", &["users", "User", ""]),
        ("actor", &["", &long]),
        ("entity_id", &[&long]),
    ];
    let mut cases: Vec<(String, Vec<&str>)> = bad_values
        .iter()
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |v| (format!("{name}={v}"), vec![*name]))
        })
        .collect();
    cases.push((
        "entity=nope&entity_id=&actor=&limit=0&cursor=x".into(),
        vec!["entity", "entity_id", "actor", "limit", "cursor"],
    ));
    for (query, names) in cases {
        let response = app.list(&query).await;
        assert_eq!(
            response.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            response.json()
        );
        let expected: Vec<Value> = names.iter().map(|n| json!(["query", n])).collect();
        assert_eq!(response.detail("loc"), expected, "{query}");
        for error in response.json()["detail"].as_array().into_iter().flatten() {
            assert!(
                error["msg"].is_string() && error["type"].is_string(),
                "{error}"
            );
        }
    }
    assert_eq!(
        app.list("entity=nope").await.json()["detail"][0]["msg"],
        "Input should be 'user', 'position', 'team' or 'team_member'"
    );
}

// --- Writers ------------------------------------------------------------------------

#[tokio::test]
async fn the_users_functions_writes_appear_in_the_log() {
    let app = app().await;
    let state = app.db.state().await;
    let both = shared::platform::http::with_shared_layers(
        Router::new()
            .merge(users::router(state.clone()))
            .merge(audit::router(state)),
        testkit::jwt::tokens(),
    );
    let created = request(Method::POST, "/api/v1/users")
        .as_user("5150")
        .json(&json!({"username": "waffle.kim", "first_name": "Waffle", "last_name": "Kim"}))
        .send(&both)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let id = created.json()["id"].as_i64().expect("an id");
    let patched = request(Method::PATCH, &format!("/api/v1/users/{id}"))
        .as_user("5150")
        .json(&json!({"first_name": "와플🧇", "last_name": "Kim"}))
        .send(&both)
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.json());

    let response = get(&format!("/api/v1/audit-logs?entity=user&entity_id={id}"))
        .as_user(ADMIN)
        .send(&both)
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.json());
    let page = response.json();
    let items = page["items"].as_array().expect("items");
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["update", "create"], "newest first: {page}");
    for entry in items {
        assert_eq!(entry["actor"], "5150", "{entry}");
        assert_eq!(entry["entity"], "user");
        assert_eq!(entry["entity_id"], id.to_string());
    }
    let update = &items[0]["changes"];
    assert_eq!(
        update["first_name"],
        json!(["Waffle", "와플🧇"]),
        "{update}"
    );
    assert!(
        update.get("last_name").is_none(),
        "an unchanged field is not recorded: {update}"
    );
    let create = &items[1]["changes"];
    assert_eq!(create["username"], json!([null, "waffle.kim"]), "{create}");
    assert_eq!(create["first_name"], json!([null, "Waffle"]), "{create}");
}

// --- Lambda -------------------------------------------------------------------------

#[tokio::test]
async fn binary_answers_api_gateway_events_through_the_runtime_api() {
    let app = app().await;
    app.db.insert_user("2", "user2", false).await;
    for (actor, action, id, changes) in [
        ("1234", Action::Update, "7", json!({"first_name": "와플🧇"})),
        ("slack-sync", Action::Create, "8", json!({"slack_id": "U1"})),
    ] {
        app.record(actor, action, Entity::User, id, changes).await;
    }
    let (runtime, mut process) = app.db.start_lambda(env!("CARGO_BIN_EXE_audit")).await;

    let (status, headers, page) = runtime
        .http("GET", "/api/v1/audit-logs", None, Some(ADMIN))
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(headers["x-request-id"].is_string());
    assert_eq!(ids(&page), app.ids("TRUE").await);
    assert_eq!(
        page["items"][1]["changes"],
        json!({"first_name": [null, "와플🧇"]})
    );

    let (status, _, page) = runtime
        .http(
            "GET",
            "/api/v1/audit-logs?actor=slack-sync&limit=1",
            None,
            Some(ADMIN),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["actor"], "slack-sync");
    assert_eq!(page["next_cursor"], Value::Null);

    let (status, _, body) = runtime
        .http("GET", "/api/v1/audit-logs?limit=0", None, Some(ADMIN))
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "limit"]));

    runtime
        .assert_admin_only("GET", "/api/v1/audit-logs", None, "2")
        .await;
    assert!(process.is_running());
}

// --- Documentation ------------------------------------------------------------------

#[test]
fn the_route_is_documented_with_its_parameters_responses_and_admin_security() {
    let doc = serde_json::to_value(audit::openapi()).expect("the document serializes");
    let operation = &doc["paths"]["/api/v1/audit-logs"]["get"];
    assert_eq!(operation["operationId"], "audit_list");
    assert_eq!(operation["tags"], json!(["audit"]));
    assert_eq!(operation["security"], json!([{"waffle_sso": []}]));
    let params: Vec<(&str, &str)> = operation["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            (
                p["in"].as_str().unwrap_or_default(),
                p["name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        params,
        [
            ("query", "entity"),
            ("query", "entity_id"),
            ("query", "actor"),
            ("query", "limit"),
            ("query", "cursor"),
        ]
    );
    let limit = &operation["parameters"][3]["schema"];
    assert_eq!(
        (&limit["minimum"], &limit["maximum"]),
        (&json!(1), &json!(1000))
    );
    for status in ["200", "400", "401", "403", "422", "503"] {
        assert!(
            operation["responses"][status]["content"]["application/json"]["schema"].is_object(),
            "{status} has a body schema"
        );
    }

    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["AuditEntity"]["enum"],
        json!(Entity::ALL.map(Entity::as_str)),
        "the entity names are shared::domain::audit's"
    );
    assert_eq!(
        schemas["AuditPage"]["required"],
        json!(["items", "next_cursor"])
    );
    let changes = &schemas["AuditEntry"]["properties"]["changes"];
    assert_eq!(changes["type"], "object");
    let pair = &changes["additionalProperties"];
    assert_eq!(
        (&pair["type"], &pair["minItems"], &pair["maxItems"]),
        (&json!("array"), &json!(2), &json!(2))
    );
}
