//! The users function against a real MariaDB: docs/api.md's "Users" section, row by row.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::PrivateMariaDb;
use testkit::http::{
    INVALID_IDS, TestResponse, apigw_event, assert_admin_only, assert_raw_bodies, get, race,
    request,
};

testkit::test_app!(App, users::router);

async fn app() -> App {
    App::new().await
}

/// [`app`] where SSO id `1` has registered as `username`: the app and their detail.
async fn app_with_user(username: &str) -> (App, Value) {
    let app = app().await;
    let user = app.register("1", username).await;
    (app, user)
}

impl App {
    /// Registers `sso` with `username` and returns the answer's body.
    async fn register(&self, sso: &str, username: &str) -> Value {
        let response = self
            .post_user(
                Some(sso),
                json!({"username": username, "first_name": "Waffle", "last_name": "Kim"}),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.json());
        response.json()
    }

    /// Registers `sso` and makes them an admin (directly: no admin exists yet to do it).
    async fn admin(&self, sso: &str) -> Value {
        let user = self.register(sso, &format!("admin{sso}")).await;
        self.db
            .sql(&format!(
                "UPDATE `user` SET is_admin = TRUE WHERE sso_id = '{sso}'"
            ))
            .await;
        user
    }

    /// `POST /api/v1/users` with `body` as `sso` (no caller for `None`).
    async fn post_user(&self, sso: Option<&str>, body: Value) -> TestResponse {
        request(Method::POST, "/api/v1/users")
            .as_caller(sso)
            .json(&body)
            .send(&self.router)
            .await
    }

    /// `DELETE path` as `sso` (no caller for `None`).
    async fn delete(&self, sso: Option<&str>, path: &str) -> TestResponse {
        request(Method::DELETE, path)
            .as_caller(sso)
            .send(&self.router)
            .await
    }

    /// `GET uri` accepting `encodings` (an `accept-encoding` header).
    async fn get_accepting(&self, uri: &str, encodings: &str) -> TestResponse {
        get(uri)
            .header("accept-encoding", encodings)
            .send(&self.router)
            .await
    }

    /// `GET /api/v1/users`, anonymously: the answer, which must be a 200.
    async fn list(&self) -> TestResponse {
        let response = get("/api/v1/users").send(&self.router).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.json());
        response
    }

    /// `GET /api/v1/users/me` as `sso`.
    async fn me(&self, sso: &str) -> TestResponse {
        get("/api/v1/users/me")
            .as_user(sso)
            .send(&self.router)
            .await
    }

    async fn patch(&self, sso: &str, id: &Value, body: Value) -> TestResponse {
        request(Method::PATCH, &format!("/api/v1/users/{id}"))
            .as_user(sso)
            .json(&body)
            .send(&self.router)
            .await
    }
}

/// The least a registration sends: `username`, and a first and a last name.
fn registration(username: &str) -> Value {
    json!({"username": username, "first_name": "A", "last_name": "B"})
}

const SUMMARY_KEYS: [&str; 14] = [
    "id",
    "username",
    "first_name",
    "last_name",
    "image_url",
    "positions",
    "github_id",
    "slack_id",
    "introduction",
    "generation",
    "is_active",
    "is_member",
    "sns_accounts",
    "teams",
];

const DETAIL_ONLY_KEYS: [&str; 12] = [
    "sso_id",
    "department",
    "college",
    "phone_number",
    "github_email",
    "slack_email",
    "notion_email",
    "apple_email",
    "is_rookie",
    "is_admin",
    "created_at",
    "updated_at",
];

fn keys(user: &Value) -> BTreeSet<String> {
    user.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn summary_keys() -> BTreeSet<String> {
    SUMMARY_KEYS.iter().map(|k| k.to_string()).collect()
}

fn detail_keys() -> BTreeSet<String> {
    SUMMARY_KEYS
        .iter()
        .chain(DETAIL_ONLY_KEYS.iter())
        .map(|k| k.to_string())
        .collect()
}

// --- Registration -------------------------------------------------------------------

#[tokio::test]
async fn registration_takes_the_sso_id_from_the_token_only() {
    let app = app().await;
    let response = request(Method::POST, "/api/v1/users")
        .as_user("1234")
        .header("waffle-user-id", "9999")
        .json(&json!({
            "username": "waffle.kim",
            "first_name": "와플",
            "last_name": "김",
            "phone_number": "+82 10-1234-5678",
            "positions": ["백엔드", "ios"],
            "sns_accounts": [{"name": "blog", "url": "https://blog.example.com"}],
            "generation": "19.5",
        }))
        .send(&app.router)
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.json());
    let user = response.json();
    assert_eq!(keys(&user), detail_keys());
    assert_eq!(user["sso_id"], "1234");
    assert_eq!(user["phone_number"], "01012345678");
    assert_eq!(user["is_admin"], false);
    assert_eq!(user["is_active"], true);
    let positions: Vec<&str> = user["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        positions,
        ["iOS", "백엔드"],
        "matched by name, shown as stored, in id order"
    );
    assert_eq!(
        user["sns_accounts"],
        json!([{"name": "blog", "url": "https://blog.example.com"}])
    );
    assert_eq!(
        response.header("location"),
        Some(format!("/api/v1/users/{}", user["id"]).as_str())
    );
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        app.db
            .count_where("user", "sso_id = '1234' AND username = 'waffle.kim'")
            .await,
        1
    );
}

#[tokio::test]
async fn registration_needs_an_identity() {
    let app = app().await;
    let response = app
        .post_user(
            None,
            json!({"username": "nobody", "first_name": "N", "last_name": ""}),
        )
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response.json()["detail"].is_string());
    assert_eq!(app.db.count("user").await, 0);
}

#[tokio::test]
async fn registering_twice_or_a_taken_username_is_a_conflict() {
    let app = app().await;
    app.register("1", "waffle").await;
    let again = app.post_user(Some("1"), registration("other")).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.json(),
        json!({"detail": "you are already registered"})
    );

    let taken = app
        .post_user(
            Some("2"),
            json!({"username": "WAFFLE", "first_name": "A", "last_name": "B"}),
        )
        .await;
    assert_eq!(
        taken.status,
        StatusCode::CONFLICT,
        "usernames compare case-insensitively"
    );
    assert_eq!(taken.json(), json!({"detail": "username is already taken"}));
    assert_eq!(app.db.count("user").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_registrations_of_one_username_let_exactly_one_win() {
    let app = app().await;
    let ssos: Vec<String> = (0..10).map(|i| format!("{}", 100 + i)).collect();
    let attempts = ssos
        .iter()
        .map(|sso| app.post_user(Some(sso), registration("contested")));
    let statuses = race(attempts).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        9,
        "{statuses:?}"
    );
    assert_eq!(app.db.count("user").await, 1);
}

#[tokio::test]
async fn registration_reports_every_bad_field_at_once() {
    let app = app().await;
    let response = request(Method::POST, "/api/v1/users")
        .as_user("1")
        .json(&json!({
            "username": "ab",
            "first_name": "가".repeat(31),
            "image_url": "ftp://example.com/a.png",
            "phone_number": "02-123-4567",
            "github_id": "-bad-",
            "slack_email": "not-an-email",
            "generation": "19.7",
            "introduction": 42,
            "sns_accounts": [{"name": "x", "url": "https://x.com", "extra": 1}],
            "nickname": "unknown field",
        }))
        .send(&app.router)
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    let locs = response.detail("loc");
    for expected in [
        json!(["body", "username"]),
        json!(["body", "first_name"]),
        json!(["body", "image_url"]),
        json!(["body", "phone_number"]),
        json!(["body", "github_id"]),
        json!(["body", "slack_email"]),
        json!(["body", "generation"]),
        json!(["body", "introduction"]),
        json!(["body", "sns_accounts", 0, "extra"]),
        json!(["body", "nickname"]),
        json!(["body", "last_name"]),
    ] {
        assert!(locs.contains(&expected), "{expected} missing from {locs:?}");
    }
    for error in response.json()["detail"].as_array().unwrap() {
        assert!(
            error["msg"].is_string() && error["type"].is_string(),
            "{error}"
        );
    }
    assert_eq!(app.db.count("user").await, 0);
}

#[tokio::test]
async fn lengths_count_characters_and_emoji_round_trip() {
    let app = app().await;
    let name = "가".repeat(30);
    let intro = "🧇".repeat(1000);
    let response = app.post_user(Some("1"), json!({"username": "korean", "first_name": name, "last_name": "", "introduction": intro})).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.json());
    let id = response.json()["id"].clone();
    let shown = get(&format!("/api/v1/users/{id}"))
        .send(&app.router)
        .await
        .json();
    assert_eq!(shown["first_name"], json!(name));
    assert_eq!(shown["introduction"], json!(intro));
}

#[tokio::test]
async fn admin_only_fields_cannot_be_set_at_registration() {
    let app = app().await;
    let response = app
        .post_user(
            Some("1"),
            json!({"username": "sneaky", "first_name": "A", "last_name": "B", "is_admin": true}),
        )
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(
        response.json(),
        json!({"detail": "only admins may set is_admin"})
    );
    assert_eq!(app.db.count("user").await, 0);
}

#[tokio::test]
async fn unknown_positions_are_refused_by_index() {
    let app = app().await;
    let response = app.post_user(Some("1"), json!({"username": "posit", "first_name": "A", "last_name": "B", "positions": ["백엔드", "Astronaut"]})).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(response.detail("loc"), [json!(["body", "positions", 1])]);
    assert_eq!(app.db.count("user").await, 0, "nothing half-written");
}

// --- Reading ------------------------------------------------------------------------

#[tokio::test]
async fn me_is_the_callers_detail() {
    let app = app().await;
    let created = app.register("77", "me.myself").await;
    let response = app.me("77").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), created);

    let unregistered = app.me("78").await;
    assert_eq!(unregistered.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unregistered.json(),
        json!({"detail": "you are not registered"})
    );

    let anonymous = get("/api/v1/users/me").send(&app.router).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn one_user_is_a_summary_except_for_themself_and_admins() {
    let (app, user) = app_with_user("subject").await;
    app.register("2", "bystander").await;
    app.admin("3").await;
    let path = format!("/api/v1/users/{}", user["id"]);

    let anonymous = get(&path).send(&app.router).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert_eq!(keys(&anonymous.json()), summary_keys());
    let other = get(&path).as_user("2").send(&app.router).await;
    assert_eq!(keys(&other.json()), summary_keys());
    let unregistered = get(&path).as_user("999").send(&app.router).await;
    assert_eq!(keys(&unregistered.json()), summary_keys());

    let own = get(&path).as_user("1").send(&app.router).await;
    assert_eq!(keys(&own.json()), detail_keys());
    let admin = get(&path).as_user("3").send(&app.router).await;
    assert_eq!(keys(&admin.json()), detail_keys());
    assert_eq!(admin.json()["sso_id"], "1");
}

#[tokio::test]
async fn unknown_and_invalid_ids() {
    let app = app().await;
    let missing = get("/api/v1/users/424242").send(&app.router).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json(), json!({"detail": "user not found"}));
    for bad in INVALID_IDS.into_iter().chain(["%F0%9F%A7%87"]) {
        let response = get(&format!("/api/v1/users/{bad}")).send(&app.router).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(response.detail("loc"), [json!(["path", "id"])], "{bad}");
    }
}

// --- Updating -----------------------------------------------------------------------

#[tokio::test]
async fn patch_changes_only_what_is_sent_and_null_clears() {
    let (app, user) = app_with_user("patchme").await;
    let id = &user["id"];
    let set = app
        .patch("1", id, json!({"image_url": "https://img.example.com/a.png", "department": "컴퓨터공학부", "github_id": "waffle-kim"}))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.json());
    let set = set.json();
    assert_eq!(set["image_url"], "https://img.example.com/a.png");
    assert_eq!(set["first_name"], user["first_name"], "absent fields stay");

    let cleared = app.patch("1", id, json!({"image_url": null})).await.json();
    assert_eq!(cleared["image_url"], Value::Null);
    assert_eq!(cleared["department"], "컴퓨터공학부");
    assert_eq!(cleared["github_id"], "waffle-kim");

    let not_nullable = app.patch("1", id, json!({"first_name": null})).await;
    assert_eq!(not_nullable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_nullable.detail("loc"), [json!(["body", "first_name"])]);
}

#[tokio::test]
async fn patch_replaces_positions_and_sns_accounts() {
    let (app, user) = app_with_user("linked").await;
    let id = &user["id"];
    let first = app
        .patch("1", id, json!({"positions": ["프론트엔드", "디자이너"], "sns_accounts": [{"name": "a", "url": "https://a.com"}, {"name": "b", "url": "https://b.com"}]}))
        .await
        .json();
    assert_eq!(first["positions"].as_array().unwrap().len(), 2);
    assert_eq!(first["sns_accounts"].as_array().unwrap().len(), 2);
    let second = app
        .patch(
            "1",
            id,
            json!({"positions": ["백엔드"], "sns_accounts": []}),
        )
        .await
        .json();
    assert_eq!(
        second["positions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].clone())
            .collect::<Vec<_>>(),
        [json!("백엔드")]
    );
    assert_eq!(second["sns_accounts"], json!([]));
    let cleared = app.patch("1", id, json!({"positions": null})).await.json();
    assert_eq!(cleared["positions"], json!([]));

    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"name": format!("s{i}"), "url": "https://x.com"}))
        .collect();
    let too_many = app.patch("1", id, json!({"sns_accounts": eleven})).await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.db.count("sns_account").await, 0);
}

#[tokio::test]
async fn non_admin_cannot_set_admin_only_fields_and_nothing_changes() {
    let (app, user) = app_with_user("plain").await;
    for field in [
        "is_admin",
        "is_member",
        "is_active",
        "is_rookie",
        "slack_id",
        "sso_id",
    ] {
        let value = if field.starts_with("is_") {
            json!(true)
        } else {
            json!("U123")
        };
        let response = app
            .patch(
                "1",
                &user["id"],
                json!({"first_name": "Changed", field: value}),
            )
            .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{field}");
        assert_eq!(
            response.json(),
            json!({"detail": format!("only admins may set {field}")})
        );
    }
    let after = app.me("1").await.json();
    assert_eq!(after["first_name"], "Waffle");
    assert_eq!(after["is_admin"], false);
}

/// The names of a user's positions, as the API shows them.
fn position_names(user: &Value) -> Vec<String> {
    user["positions"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|p| p["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn only_admins_add_or_remove_the_organisers_position() {
    let app = app().await;
    let forbidden = json!({"detail": "only admins may add or remove the position 운영팀"});

    // Registering with 운영팀: refused, no user, no audit entry.
    let response = app.post_user(Some("1"), json!({"username": "eager", "first_name": "A", "last_name": "B", "positions": ["백엔드", "운영팀"]})).await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(response.json(), forbidden);
    assert_eq!(app.db.count("user").await, 0);
    assert_eq!(app.db.count("audit_log").await, 0);

    // A member adding 운영팀 to their own positions: refused, nothing else changes either.
    let user = app.register("1", "member").await;
    let id = &user["id"];
    app.patch("1", id, json!({"positions": ["백엔드"]})).await;
    let entries = app.db.count("audit_log").await;
    for positions in [json!(["백엔드", "운영팀"]), json!(["운영팀", "운영팀"])] {
        let response = app
            .patch(
                "1",
                id,
                json!({"first_name": "Changed", "positions": positions}),
            )
            .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{positions}");
        assert_eq!(response.json(), forbidden);
    }
    let me = app.me("1").await.json();
    assert_eq!(me["first_name"], "Waffle");
    assert_eq!(position_names(&me), ["백엔드"]);
    assert_eq!(app.db.count("audit_log").await, entries);

    // An admin gives it; the member may then change their other positions, but may
    // neither drop 운영팀 (by a list without it, or by null) nor be denied it silently.
    app.admin("9").await;
    let given = app
        .patch("9", id, json!({"positions": ["백엔드", "운영팀"]}))
        .await;
    assert_eq!(given.status, StatusCode::OK, "{}", given.json());
    let kept = app
        .patch("1", id, json!({"positions": ["운영팀", "iOS", "iOS"]}))
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.json());
    let mut names = position_names(&kept.json());
    names.sort();
    assert_eq!(names, ["iOS", "운영팀"], "a repeated name counts once");
    for positions in [json!(["iOS"]), json!([]), Value::Null] {
        let response = app.patch("1", id, json!({"positions": positions})).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{positions}");
    }
    // Fields other than positions stay open to the member.
    let renamed = app.patch("1", id, json!({"first_name": "Still"})).await;
    assert_eq!(renamed.status, StatusCode::OK);
    assert_eq!(position_names(&renamed.json()).len(), 2);

    // The admin takes it away again.
    let taken = app.patch("9", id, json!({"positions": ["iOS"]})).await;
    assert_eq!(position_names(&taken.json()), ["iOS"]);
}

/// The guard follows 운영팀's identity: once an admin renames it (`PATCH
/// /positions/{id}`), the new name is guarded, and a new position that takes the old name
/// is an ordinary one.
#[tokio::test]
async fn the_organisers_guard_follows_the_position_through_a_rename() {
    let app = app().await;
    let user = app.register("1", "member").await;
    let id = &user["id"];
    app.db
        .sql(
            "UPDATE `position` SET name = '운영진' WHERE name = '운영팀'; \
             INSERT INTO `position` (name) VALUES ('운영팀')",
        )
        .await;

    let refused = app
        .patch("1", id, json!({"positions": ["백엔드", "운영진"]}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.json(),
        json!({"detail": "only admins may add or remove the position 운영진"})
    );
    assert!(position_names(&app.me("1").await.json()).is_empty());
    let response = app
        .post_user(Some("2"), json!({"username": "eager", "first_name": "A", "last_name": "B", "positions": ["운영진"]}))
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);

    // The new 운영팀 is just a name.
    let ok = app.patch("1", id, json!({"positions": ["운영팀"]})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json());
    assert_eq!(position_names(&ok.json()), ["운영팀"]);

    // An admin still gives the renamed one, and the member cannot drop it.
    app.admin("9").await;
    let given = app.patch("9", id, json!({"positions": ["운영진"]})).await;
    assert_eq!(given.status, StatusCode::OK, "{}", given.json());
    let dropped = app.patch("1", id, json!({"positions": []})).await;
    assert_eq!(dropped.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn positions_take_at_most_twenty_entries_as_sent() {
    let (app, user) = app_with_user("many").await;
    let id = &user["id"];
    let twenty: Vec<&str> = ["백엔드", "iOS"].into_iter().cycle().take(20).collect();
    let ok = app.patch("1", id, json!({"positions": twenty})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.json());
    assert_eq!(position_names(&ok.json()).len(), 2, "repeats count once");

    // 21 entries, though only two distinct names: refused, the set unchanged.
    let twenty_one: Vec<&str> = ["프론트엔드", "디자이너"]
        .into_iter()
        .cycle()
        .take(21)
        .collect();
    for body in [
        json!({"positions": twenty_one}),
        json!({"first_name": "Changed", "positions": twenty_one}),
    ] {
        let response = app.patch("1", id, body).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(response.detail("loc"), [json!(["body", "positions"])]);
        assert_eq!(response.json()["detail"][0]["type"], "too_long");
    }
    let me = app.me("1").await.json();
    let mut names = position_names(&me);
    names.sort();
    assert_eq!(names, ["iOS", "백엔드"]);
    assert_eq!(me["first_name"], "Waffle");

    let response = app.post_user(Some("2"), json!({"username": "toomany", "first_name": "A", "last_name": "B", "positions": twenty_one})).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.db.count("user").await, 1);
}

#[tokio::test]
async fn only_the_user_themself_or_an_admin_may_patch() {
    let (app, user) = app_with_user("target").await;
    app.register("2", "intruder").await;
    app.admin("3").await;

    let intruder = app
        .patch("2", &user["id"], json!({"first_name": "Hacked"}))
        .await;
    assert_eq!(intruder.status, StatusCode::FORBIDDEN);
    let unregistered = app
        .patch("999", &user["id"], json!({"first_name": "Hacked"}))
        .await;
    assert_eq!(unregistered.status, StatusCode::FORBIDDEN);
    let anonymous = request(Method::PATCH, &format!("/api/v1/users/{}", user["id"]))
        .json(&json!({"first_name": "Hacked"}))
        .send(&app.router)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let admin = app
        .patch("3", &user["id"], json!({"first_name": "Admin-set", "is_member": true, "slack_id": "U0123", "is_admin": true}))
        .await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.json());
    let admin = admin.json();
    assert_eq!(
        (
            admin["first_name"].clone(),
            admin["is_member"].clone(),
            admin["slack_id"].clone(),
            admin["is_admin"].clone()
        ),
        (json!("Admin-set"), json!(true), json!("U0123"), json!(true))
    );
}

#[tokio::test]
async fn admin_links_a_slack_synced_row_to_an_sso_id() {
    let app = app().await;
    app.admin("3").await;
    app.db.sql("INSERT INTO `user` (first_name, last_name, slack_id, is_rookie, is_member, is_active, is_admin) VALUES ('Synced', 'Row', 'U999', 0, 1, 1, 0)").await;
    let id = json!(
        app.db
            .scalar("SELECT id FROM `user` WHERE slack_id = 'U999'")
            .await
    );
    let linked = app
        .patch("3", &id, json!({"sso_id": "555", "username": "synced.row"}))
        .await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.json());
    let me = app.me("555").await;
    assert_eq!(me.json()["id"], id);

    let taken = app.patch("3", &id, json!({"sso_id": "3"})).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.json(), json!({"detail": "sso_id is already taken"}));
}

#[tokio::test]
async fn a_conflicting_patch_changes_nothing() {
    let app = app().await;
    app.register("1", "first").await;
    let second = app.register("2", "second").await;
    let response = app
        .patch(
            "2",
            &second["id"],
            json!({"username": "first", "first_name": "Changed"}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CONFLICT);
    let after = app.me("2").await.json();
    assert_eq!(
        (after["username"].clone(), after["first_name"].clone()),
        (json!("second"), json!("Waffle"))
    );
}

// --- Deleting -----------------------------------------------------------------------

#[tokio::test]
async fn only_admins_delete_and_the_links_go_with_the_user() {
    let (app, user) = app_with_user("doomed").await;
    app.admin("3").await;
    let path = format!("/api/v1/users/{}", user["id"]);
    app.patch(
        "1",
        &user["id"],
        json!({"positions": ["백엔드"], "sns_accounts": [{"name": "a", "url": "https://a.com"}]}),
    )
    .await;
    app.db
        .sql("INSERT INTO team (name) VALUES ('Team A')")
        .await;
    app.db
        .sql(&format!(
            "INSERT INTO team_user_association (team_id, user_id) SELECT id, {} FROM team",
            user["id"]
        ))
        .await;

    assert_admin_only("1", async |sso| app.delete(sso, &path).await).await;
    let deleted = app.delete(Some("3"), &path).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.bytes.is_empty());
    for table in [
        "position_user_association",
        "sns_account",
        "team_user_association",
    ] {
        assert_eq!(app.db.count(table).await, 0, "{table}");
    }
    assert_eq!(app.db.count("team").await, 1, "the team stays");
    assert_eq!(
        app.delete(Some("3"), &path).await.status,
        StatusCode::NOT_FOUND
    );
}

// --- Listing ------------------------------------------------------------------------

/// [`app`] with `count` members registered through the API, each with a position, a
/// generation and a last name of their own.
async fn app_with_members(count: usize) -> App {
    let app = app().await;
    for i in 0..count {
        let sso = format!("{}", 1000 + i);
        let user = app.register(&sso, &format!("member{i:03}")).await;
        let position = if i % 2 == 0 {
            "백엔드"
        } else {
            "프론트엔드"
        };
        let generation = if i % 3 == 0 { "19" } else { "20.5" };
        app.patch(&sso, &user["id"], json!({"positions": [position], "generation": generation, "last_name": format!("Park{i}")})).await;
    }
    app
}

#[tokio::test]
async fn the_list_is_a_bare_array_of_summaries_in_id_order() {
    let app = app_with_members(5).await;
    let response = app.list().await;
    let users = response.json();
    let users = users.as_array().expect("a bare array");
    assert_eq!(users.len(), 5);
    let ids: Vec<i64> = users.iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(users.iter().all(|u| keys(u) == summary_keys()));
    assert_eq!(response.header("x-total-count"), Some("5"));
    assert_eq!(
        response.header("link"),
        None,
        "everything fits: no next page"
    );
}

#[tokio::test]
async fn filters_narrow_the_list_and_the_total() {
    let app = app_with_members(6).await;
    app.db
        .sql("UPDATE `user` SET is_active = FALSE WHERE username = 'member000'")
        .await;
    app.db
        .sql("UPDATE `user` SET is_member = TRUE WHERE username IN ('member001', 'member002')")
        .await;
    for (query, expected) in [
        (
            "position=%EB%B0%B1%EC%97%94%EB%93%9C",
            vec!["member000", "member002", "member004"],
        ),
        ("generation=19", vec!["member000", "member003"]),
        ("is_active=false", vec!["member000"]),
        ("is_member=true", vec!["member001", "member002"]),
        ("q=park3", vec!["member003"]),
        (
            "q=member00",
            vec![
                "member000",
                "member001",
                "member002",
                "member003",
                "member004",
                "member005",
            ],
        ),
        ("q=%25", vec![]),
        (
            "position=%EB%B0%B1%EC%97%94%EB%93%9C&generation=19",
            vec!["member000"],
        ),
    ] {
        let response = get(&format!("/api/v1/users?{query}"))
            .send(&app.router)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{query}");
        let names: Vec<String> = response
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, expected, "{query}");
        assert_eq!(
            response.header("x-total-count"),
            Some(expected.len().to_string().as_str()),
            "{query}"
        );
    }
}

#[tokio::test]
async fn pages_visit_every_matching_user_exactly_once() {
    let app = app_with_members(7).await;
    for query in [
        "limit=2",
        "limit=3&position=%ED%94%84%EB%A1%A0%ED%8A%B8%EC%97%94%EB%93%9C",
        "limit=1&generation=20.5",
    ] {
        let everything = get(&format!(
            "/api/v1/users?{}",
            query.split_once('&').map_or("", |(_, f)| f)
        ))
        .send(&app.router)
        .await
        .json();
        let expected: Vec<Value> = everything
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].clone())
            .collect();
        let mut seen = Vec::new();
        let mut next = Some(format!("/api/v1/users?{query}"));
        let mut pages = 0;
        while let Some(url) = next.take() {
            let response = get(&url).send(&app.router).await;
            assert_eq!(response.status, StatusCode::OK, "{url}");
            assert_eq!(
                response.header("x-total-count"),
                Some(expected.len().to_string().as_str())
            );
            seen.extend(
                response
                    .json()
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["id"].clone()),
            );
            next = response.header("link").map(|link| {
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                link.trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned()
            });
            pages += 1;
            assert!(pages <= 10, "paging does not end");
        }
        assert_eq!(seen, expected, "{query}");
    }
}

#[tokio::test]
async fn etag_gives_304_until_something_changes() {
    let (app, user) = app_with_user("cached").await;
    let first = app.list().await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    let again = get("/api/v1/users")
        .header("if-none-match", &etag)
        .send(&app.router)
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.bytes.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));

    app.patch("1", &user["id"], json!({"introduction": "changed"}))
        .await;
    let changed = get("/api/v1/users")
        .header("if-none-match", &etag)
        .send(&app.router)
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
}

#[tokio::test]
async fn bad_list_parameters_are_422_naming_each() {
    let app = app().await;
    for (query, name) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("cursor=-5", "cursor"),
        ("is_active=perhaps", "is_active"),
    ] {
        let response = get(&format!("/api/v1/users?{query}"))
            .send(&app.router)
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(response.detail("loc"), [json!(["query", name])], "{query}");
    }
}

/// The list costs the same number of SELECTs for 3 users as for 60: no query per user.
#[tokio::test]
async fn the_list_runs_a_fixed_number_of_queries() {
    let mut server = PrivateMariaDb::start().await.expect("private MariaDB");
    let mut admin: sqlx::MySqlConnection =
        <sqlx::MySqlConnection as sqlx::Connection>::connect(&server.url("mysql"))
            .await
            .expect("connect");
    let url = server.create_migrated_database("app").await;
    let mut conn: sqlx::MySqlConnection =
        <sqlx::MySqlConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("connect");
    let mut config = shared::platform::config::DbConfig::from_url(&url).expect("url");
    config.max_connections = 1;
    let state = shared::AppState::new(shared::Config {
        env: shared::platform::config::AppEnv::Local,
        database: config,
        slack_token: None,
        tokens: None,
    })
    .await;
    let router = shared::platform::http::with_shared_layers(users::router(state), None);

    let mut selects_for = Vec::new();
    for total in [3, 60] {
        let have: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM `user`")
            .fetch_one(&mut conn)
            .await
            .expect("count");
        for i in have..total {
            sqlx::query("INSERT INTO `user` (username, first_name, last_name, is_rookie, is_member, is_active, is_admin) VALUES (?, 'A', 'B', 0, 1, 1, 0)")
                .bind(format!("user{i:04}"))
                .execute(&mut conn)
                .await
                .expect("insert");
            sqlx::raw_sql(
                "INSERT INTO position_user_association (position_id, user_id) \
                 SELECT MIN(id), LAST_INSERT_ID() FROM `position`; \
                 INSERT INTO sns_account (user_id, name, url) \
                 VALUES (LAST_INSERT_ID(), 'x', 'https://x.com')",
            )
            .execute(&mut conn)
            .await
            .expect("links");
        }
        // Warm the pool so connection set-up statements are not counted.
        get("/api/v1/users?limit=1").send(&router).await;
        let before = com_select(&mut admin).await;
        let response = get("/api/v1/users").send(&router).await;
        let after = com_select(&mut admin).await;
        assert_eq!(
            response.json().as_array().map(Vec::len),
            Some(total as usize)
        );
        // The counter includes this connection's own `SHOW` (one per reading).
        selects_for.push(after - before - 1);
    }
    assert_eq!(
        selects_for[0], selects_for[1],
        "SELECTs for 3 vs 60 users: {selects_for:?}"
    );
    // The first page and its count in one statement, then positions, SNS accounts, teams.
    assert!(selects_for[0] <= 4, "{selects_for:?}");
    server.stop().await.expect("stop");
}

async fn com_select(conn: &mut sqlx::MySqlConnection) -> i64 {
    let (_, value): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Com_select'")
        .fetch_one(conn)
        .await
        .expect("status");
    value.parse().expect("a number")
}

// --- Bad input ----------------------------------------------------------------------

#[tokio::test]
async fn malformed_bodies_are_4xx_with_a_detail_never_5xx() {
    let (app, user) = app_with_user("robust").await;
    let path = format!("/api/v1/users/{}", user["id"]);
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let huge = json!({"introduction": "x".repeat(70 * 1024)}).to_string();
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        (
            "not json",
            b"{username: waffle".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        ("empty", Vec::new(), StatusCode::BAD_REQUEST),
        (
            "invalid utf-8",
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
            StatusCode::BAD_REQUEST,
        ),
        (
            "array",
            b"[1, 2]".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "string",
            b"\"hello\"".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "deeply nested",
            nested.into_bytes(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong types",
            br#"{"first_name": 1, "positions": "backend", "sns_accounts": {}}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "oversized",
            huge.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    assert_raw_bodies(&app.router, "1", &[(Method::PATCH, path)], cases).await;
    let after = app.me("1").await.json();
    assert_eq!(after["first_name"], "Waffle", "nothing changed");
}

// --- Lambda -------------------------------------------------------------------------

#[tokio::test]
async fn binary_answers_api_gateway_events_through_the_runtime_api() {
    let app = app().await;
    let (runtime, mut process) = app.db.start_lambda(env!("CARGO_BIN_EXE_users")).await;

    let body = json!({"username": "lambda.user", "first_name": "Lambda", "last_name": "Kim"});
    let (status, _, created) = runtime
        .http("POST", "/api/v1/users", Some(&body), Some("4242"))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["sso_id"], "4242");

    let (status, headers, shown) = runtime
        .http(
            "GET",
            &format!("/api/v1/users/{}", created["id"]),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(keys(&shown), summary_keys());
    assert!(headers["x-request-id"].is_string());

    let (status, _, me) = runtime
        .http("GET", "/api/v1/users/me", None, Some("4242"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["username"], "lambda.user");

    let (status, headers, list) = runtime
        .http("GET", "/api/v1/users?limit=1", None, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(headers["x-total-count"], "1");
    assert!(process.is_running());
}

// --- Audit --------------------------------------------------------------------------

#[tokio::test]
async fn every_user_write_is_audited_with_its_changes() {
    let (app, user) = app_with_user("audited").await;
    app.admin("9").await;
    let id = user["id"].to_string();
    app.patch(
        "1",
        &user["id"],
        json!({"last_name": "Lee", "positions": ["백엔드"]}),
    )
    .await;
    let deleted = request(Method::DELETE, &format!("/api/v1/users/{id}"))
        .as_user("9")
        .send(&app.router)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    let entries: Vec<_> = app
        .db
        .audit_rows()
        .await
        .into_iter()
        .filter(|(_, _, _, entity_id, _)| *entity_id == id)
        .collect();
    let kinds: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|(actor, action, entity, _, _)| (actor.as_str(), action.as_str(), entity.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("1", "create", "user"),
            ("1", "update", "user"),
            ("9", "delete", "user")
        ]
    );
    assert_eq!(entries[0].4["username"], json!([null, "audited"]));
    assert_eq!(entries[0].4["sso_id"], json!([null, "1"]));
    assert_eq!(
        entries[1].4,
        json!({"last_name": ["Kim", "Lee"], "positions": [[], ["백엔드"]]}),
        "only what changed, old and new"
    );
    assert_eq!(entries[2].4["username"], json!(["audited", null]));
}

#[tokio::test]
async fn a_failed_write_leaves_no_audit_entry() {
    let app = app().await;
    app.register("1", "taken").await;
    let before = app.db.audit_rows().await.len();
    let conflict = app.post_user(Some("2"), registration("taken")).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    let invalid = app.patch("1", &json!(1), json!({"username": "x"})).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.db.audit_rows().await.len(), before);
}

#[tokio::test]
async fn when_the_audit_entry_cannot_be_written_neither_is_the_change() {
    let (app, user) = app_with_user("guarded").await;
    app.db.refuse_audit_writes("audit refused").await;
    let patched = app
        .patch("1", &user["id"], json!({"first_name": "Changed"}))
        .await;
    patched.assert_internal_error();
    let registered = app.post_user(Some("2"), registration("unsaved")).await;
    assert_eq!(registered.status, StatusCode::INTERNAL_SERVER_ERROR);

    app.db.sql("DROP TRIGGER audit_fails").await;
    let after = app.me("1").await.json();
    assert_eq!(after["first_name"], "Waffle", "the update was rolled back");
    assert_eq!(app.db.count_where("user", "sso_id = '2'").await, 0);
}

// --- Compression, absolute links, the list cache -------------------------------------

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut plain)
        .expect("a gzip body");
    plain
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    brotli::BrotliDecompress(&mut &bytes[..], &mut plain).expect("a brotli body");
    plain
}

/// [`app`] with `n` members written directly (a list of 12 is well over 1 KiB).
async fn app_with_many(n: usize) -> App {
    let app = app().await;
    for i in 0..n {
        app.db
            .insert_user(&format!("{}", 700 + i), &format!("many{i:03}"), false)
            .await;
    }
    app
}

#[tokio::test]
async fn lists_are_compressed_as_accept_encoding_allows_and_revalidate() {
    let app = app_with_many(12).await;
    let plain = app.list().await;
    assert!(plain.bytes.len() >= 1024, "{} bytes", plain.bytes.len());
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("accept-encoding"));
    let strong = plain.header("etag").expect("an ETag").to_owned();
    assert!(strong.starts_with('"'), "{strong}");

    let br = app
        .get_accepting("/api/v1/users", "gzip, deflate, br")
        .await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("vary"), Some("accept-encoding"));
    assert_eq!(unbrotli(&br.bytes), plain.bytes);
    assert!(br.bytes.len() * 3 < plain.bytes.len());
    let weak = format!("W/{strong}");
    assert_eq!(br.header("etag"), Some(weak.as_str()));
    assert_eq!(br.header("x-total-count"), Some("12"));

    let gzip = app
        .get_accepting("/api/v1/users", "br;q=0, gzip;q=0.8, identity;q=0.5")
        .await;
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&gzip.bytes), plain.bytes);

    let refused = app.get_accepting("/api/v1/users", "br;q=0, gzip;q=0").await;
    assert_eq!(refused.header("content-encoding"), None);
    assert_eq!(refused.bytes, plain.bytes);

    // Either tag revalidates the compressed answer, with nothing sent.
    for tag in [&weak, &strong] {
        let again = get("/api/v1/users")
            .header("accept-encoding", "br")
            .header("if-none-match", tag)
            .send(&app.router)
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.bytes.is_empty());
        assert_eq!(again.header("etag"), Some(weak.as_str()));
        assert_eq!(again.header("vary"), Some("accept-encoding"));
    }

    // Under 1 KiB, the answer goes as it is.
    let small = app.get_accepting("/api/v1/users?limit=1", "br").await;
    assert!(small.bytes.len() < 1024);
    assert_eq!(small.header("content-encoding"), None);
    assert!(small.json().is_array());
}

#[tokio::test]
async fn other_answers_over_1_kib_are_compressed_by_the_shared_layer() {
    let (app, user) = app_with_user("long.intro").await;
    let intro = "와플 ".repeat(300);
    app.patch("1", &user["id"], json!({"introduction": intro}))
        .await;
    let shown = get("/api/v1/users/me")
        .as_user("1")
        .header("accept-encoding", "gzip")
        .send(&app.router)
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.header("content-encoding"), Some("gzip"));
    let detail: Value = serde_json::from_slice(&gunzip(&shown.bytes)).expect("JSON");
    assert_eq!(detail["introduction"], intro.as_str());
}

#[tokio::test]
async fn next_links_are_absolute_with_the_callers_host_whatever_the_cache_holds() {
    let app = app_with_many(3).await;
    for host in ["localhost:8000", "127.0.0.1:3000", "localhost:8000"] {
        let page = get("/api/v1/users?limit=1&x=ignored")
            .header("host", host)
            .send(&app.router)
            .await;
        let link = page.header("link").expect("a next page").to_owned();
        let first = page.json()[0]["id"].clone();
        assert_eq!(
            link,
            format!("<http://{host}/api/v1/users?limit=1&cursor={first}>; rel=\"next\"")
        );
    }
    // A host that is not a host name gives a relative link rather than a broken one.
    let page = get("/api/v1/users?limit=1")
        .header("host", "a b")
        .send(&app.router)
        .await;
    assert!(
        page.header("link")
            .is_some_and(|l| l.starts_with("</api/v1/users?"))
    );
}

#[tokio::test]
async fn an_unchanged_list_is_served_from_the_cache_and_a_write_refreshes_it() {
    let app = app_with_many(2).await;
    let first = app.list().await;
    // A change behind the version's back (the triggers dropped) stays unseen: the
    // answer comes from the cache. Put back, the next write shows everything.
    app.db
        .sql("DROP TRIGGER `user_after_update_directory`; UPDATE `user` SET first_name = 'Hidden'")
        .await;
    let cached = app.list().await;
    assert_eq!(cached.bytes, first.bytes);
    app.db
        .sql("UPDATE directory_version SET version = version + 1")
        .await;
    let fresh = app.list().await;
    assert_eq!(fresh.json()[0]["first_name"], "Hidden");
}

#[tokio::test]
async fn compressed_lists_cross_api_gateway_as_base64_with_public_links() {
    use base64::Engine;
    let app = app_with_many(12).await;
    let (runtime, _process) = app.db.start_lambda(env!("CARGO_BIN_EXE_users")).await;
    let mut event = apigw_event("GET", "/api/v1/users?limit=10", None, None);
    event["requestContext"]["domainName"] = "api.wafflestudio.test".into();
    event["headers"]["host"] = "evil.example".into();
    event["headers"]["accept-encoding"] = "gzip".into();
    let payload = runtime.invoke(event.clone()).await.response();
    assert_eq!(payload["statusCode"], 200, "{payload}");
    assert_eq!(payload["isBase64Encoded"], true, "{payload}");
    assert_eq!(payload["headers"]["content-encoding"], "gzip");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload["body"].as_str().expect("a body"))
        .expect("base64");
    let users: Value = serde_json::from_slice(&gunzip(&bytes)).expect("JSON");
    assert_eq!(users.as_array().map(Vec::len), Some(10));
    let link = payload["headers"]["link"].as_str().expect("a Link");
    assert!(
        link.starts_with("<https://api.wafflestudio.test/api/v1/users?limit=10&cursor="),
        "{link}"
    );

    // Revalidation through API Gateway: 304 with the weak tag of the compressed answer.
    let etag = payload["headers"]["etag"]
        .as_str()
        .expect("an ETag")
        .to_owned();
    assert!(etag.starts_with("W/"), "{etag}");
    event["headers"]["if-none-match"] = etag.clone().into();
    let again = runtime.invoke(event).await.response();
    assert_eq!(again["statusCode"], 304, "{again}");
    assert_eq!(again["headers"]["etag"], etag.as_str());
}
