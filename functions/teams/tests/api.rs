//! The teams function against a real MariaDB: docs/api.md's "Teams" section, with the audit
//! entry of every write.

use http::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::QueryCounter;
use testkit::db::{ADMIN, MEMBER, audit_entry};
use testkit::http::{
    Collection, TestRequest, TestResponse, assert_admin_only, assert_raw_bodies, get, race, request,
};

testkit::test_app!(App, teams::router);

/// A migrated database with an admin (SSO id `ADMIN`) and a registered non-admin
/// (`MEMBER`).
async fn app() -> App {
    App::with_admin_and_member().await
}

/// [`app`] with a team "Web" (with `introduction`) and a user kim (SSO id 1) in no team;
/// returns the app and their ids.
async fn app_with_team_and_kim(introduction: Option<&str>) -> (App, i64, i64) {
    let app = app().await;
    let team = app.team("Web", introduction).await;
    let kim = app.user("1", "kim", false).await;
    (app, team, kim)
}

impl Collection for App {
    const PATH: &'static str = "/api/v1/teams";

    fn router(&self) -> &axum::Router {
        &self.router
    }
}

impl App {
    /// Inserts a user and returns their id.
    async fn user(&self, sso: &str, username: &str, is_admin: bool) -> i64 {
        let image = "https://img.example.com/a.png";
        self.db
            .insert_user_named(sso, username, is_admin, "와플", Some(image))
            .await
    }

    /// Inserts a team and returns its id.
    async fn team(&self, name: &str, introduction: Option<&str>) -> i64 {
        let mut conn = self.db.connect().await;
        let result = sqlx::query("INSERT INTO team (name, introduction) VALUES (?, ?)")
            .bind(name)
            .bind(introduction)
            .execute(&mut conn)
            .await
            .expect("insert a team");
        result.last_insert_id() as i64
    }

    async fn join(&self, team: i64, user: i64) {
        self.db
            .sql(&format!(
                "INSERT INTO team_user_association (team_id, user_id) VALUES ({team}, {user})"
            ))
            .await;
    }

    async fn memberships(&self) -> Vec<(i64, i64)> {
        let mut conn = self.db.connect().await;
        let rows: Vec<(i32, i32)> = sqlx::query_as(
            "SELECT team_id, user_id FROM team_user_association ORDER BY team_id, user_id",
        )
        .fetch_all(&mut conn)
        .await
        .expect("memberships");
        rows.into_iter()
            .map(|(t, u)| (i64::from(t), i64::from(u)))
            .collect()
    }

    async fn send(&self, request: TestRequest, sso: Option<&str>) -> TestResponse {
        request.as_caller(sso).send(&self.router).await
    }

    async fn membership(
        &self,
        method: Method,
        sso: Option<&str>,
        team: impl std::fmt::Display,
        user: impl std::fmt::Display,
    ) -> TestResponse {
        let path = format!("/api/v1/teams/{team}/members/{user}");
        self.send(request(method, &path), sso).await
    }

    async fn show(&self, id: i64) -> Value {
        let response = get(&format!("/api/v1/teams/{id}")).send(&self.router).await;
        assert_eq!(response.status, StatusCode::OK);
        response.json()
    }
}

fn member(id: i64, username: &str) -> Value {
    json!({
        "id": id,
        "username": username,
        "first_name": "와플",
        "last_name": "Kim",
        "image_url": "https://img.example.com/a.png",
    })
}

// --- Reading ------------------------------------------------------------------------

#[tokio::test]
async fn anyone_lists_teams_in_id_order_with_member_counts() {
    let app = app().await;
    let empty = get("/api/v1/teams").send(&app.router).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.json(), json!({"items": []}));

    let web = app.team("Web", Some("와플스튜디오 웹")).await;
    let app_team = app.team("App", None).await;
    let kim = app.user("1", "kim", false).await;
    let lee = app.user("2", "lee", false).await;
    app.join(web, kim).await;
    app.join(web, lee).await;
    app.join(app_team, lee).await;

    for caller in [None, Some(MEMBER), Some(ADMIN)] {
        let response = app.send(get("/api/v1/teams"), caller).await;
        assert_eq!(response.status, StatusCode::OK, "{caller:?}");
        assert_eq!(
            response.json(),
            json!({"items": [
                {"id": web, "name": "Web", "introduction": "와플스튜디오 웹", "member_count": 2},
                {"id": app_team, "name": "App", "introduction": null, "member_count": 1},
            ]}),
            "{caller:?}"
        );
    }
}

#[tokio::test]
async fn anyone_reads_a_team_with_its_members_in_user_id_order() {
    let (app, team, kim) = app_with_team_and_kim(Some("intro")).await;
    let lee = app.user("2", "lee", false).await;
    app.user("3", "park", false).await;
    // Joined in reverse order: the answer is still in user id order.
    app.join(team, lee).await;
    app.join(team, kim).await;

    for caller in [None, Some(MEMBER)] {
        let response = app
            .send(get(&format!("/api/v1/teams/{team}")), caller)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{caller:?}");
        assert_eq!(
            response.json(),
            json!({
                "id": team,
                "name": "Web",
                "introduction": "intro",
                "members": [member(kim, "kim"), member(lee, "lee")],
            })
        );
    }

    let missing = get("/api/v1/teams/424242").send(&app.router).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json(), json!({"detail": "team not found"}));
    for bad in ["abc", "0", "-1", "99999999999999999999", "2147483648"] {
        let response = get(&format!("/api/v1/teams/{bad}")).send(&app.router).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(response.detail("loc"), [json!(["path", "id"])], "{bad}");
    }
}

/// The list costs one SELECT and a team two, for 2 teams with a member each as for 40
/// teams with 60 members each.
#[tokio::test]
async fn reads_run_a_fixed_number_of_queries_whatever_the_number_of_teams_and_members() {
    let (mut counter, router, mut conn) = QueryCounter::start_with(teams::router).await;

    let mut list_selects = Vec::new();
    let mut show_selects = Vec::new();
    for (teams, users) in [(2, 1), (40, 60)] {
        sqlx::raw_sql("DELETE FROM team; DELETE FROM `user`")
            .execute(&mut conn)
            .await
            .expect("clear");
        let team_rows: Vec<String> = (0..teams).map(|i| format!("('team{i}', NULL)")).collect();
        let user_rows: Vec<String> = (0..users)
            .map(|i| format!("('u{teams}-{i}', 'A', 'B', 0, 1, 1, 0)"))
            .collect();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO team (name, introduction) VALUES {}; \
             INSERT INTO `user` (username, first_name, last_name, is_rookie, is_member, is_active, is_admin) VALUES {}; \
             INSERT INTO team_user_association (team_id, user_id) SELECT t.id, u.id FROM team t JOIN `user` u",
            team_rows.join(", "),
            user_rows.join(", ")
        )))
        .execute(&mut conn)
        .await
        .expect("teams, users and memberships");
        let first: i64 = sqlx::query_scalar("SELECT MIN(id) FROM team")
            .fetch_one(&mut conn)
            .await
            .expect("a team");

        // Warm the pool so that connection set-up statements are not counted.
        get("/api/v1/teams").send(&router).await;
        let (list, count) = counter.get(&router, "/api/v1/teams").await;
        assert_eq!(list.json()["items"].as_array().map(Vec::len), Some(teams));
        assert_eq!(list.json()["items"][0]["member_count"], json!(users));
        list_selects.push(count);

        let path = format!("/api/v1/teams/{first}");
        let (team, count) = counter.get(&router, &path).await;
        assert_eq!(team.json()["members"].as_array().map(Vec::len), Some(users));
        show_selects.push(count);
    }
    assert_eq!(list_selects.len(), 2, "a small and a large data set");
    testkit::queries::assert_fixed(&list_selects, 1, "GET /teams");
    testkit::queries::assert_fixed(&show_selects, 2, "GET /teams/{id}");
    counter.stop_after(router).await;
}

// --- Creating -----------------------------------------------------------------------

#[tokio::test]
async fn only_admins_create_teams_and_the_creation_is_audited() {
    let app = app().await;
    let body = json!({"name": "와플스튜디오 웹팀", "introduction": "웹을 만듭니다 🧇"});
    assert_admin_only(MEMBER, async |sso| app.create(sso, body.clone()).await).await;
    assert_eq!(app.db.count("team").await, 0);
    assert!(app.db.audit_log().await.is_empty());

    let created = app.create(Some(ADMIN), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let team = created.json();
    let id = team["id"].as_i64().expect("an id");
    assert_eq!(
        team,
        json!({"id": id, "name": "와플스튜디오 웹팀", "introduction": "웹을 만듭니다 🧇", "members": []})
    );
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/teams/{id}").as_str())
    );
    assert_eq!(app.show(id).await, team, "GET shows what POST answered");
    assert_eq!(
        app.db.audit_log().await,
        [audit_entry(
            ADMIN,
            "create",
            "team",
            id,
            json!({"name": [null, "와플스튜디오 웹팀"], "introduction": [null, "웹을 만듭니다 🧇"]})
        )]
    );

    let bare = app
        .create(Some(ADMIN), json!({"name": "App", "introduction": null}))
        .await;
    assert_eq!(bare.status, StatusCode::CREATED);
    assert_eq!(bare.json()["introduction"], Value::Null);
    let entries = app.db.audit_log().await;
    assert_eq!(
        entries[1]["changes"],
        json!({"name": [null, "App"]}),
        "no introduction, nothing recorded for it"
    );
    let same_name = app.create(Some(ADMIN), json!({"name": "App"})).await;
    assert_eq!(
        same_name.status,
        StatusCode::CREATED,
        "team names need not be unique"
    );
}

#[tokio::test]
async fn team_names_are_1_to_30_characters_and_introductions_at_most_1000() {
    let app = app().await;
    let thirty = "가".repeat(30);
    let fits = app
        .create(
            Some(ADMIN),
            json!({"name": thirty, "introduction": "🧇".repeat(1000)}),
        )
        .await;
    assert_eq!(fits.status, StatusCode::CREATED, "{}", fits.json());
    assert_eq!(fits.json()["name"], json!(thirty));
    assert_eq!(fits.json()["introduction"], json!("🧇".repeat(1000)));

    for (what, body, loc, kind) in [
        (
            "31 characters",
            json!({"name": "가".repeat(31)}),
            "name",
            "string_too_long",
        ),
        ("empty", json!({"name": ""}), "name", "string_too_short"),
        ("blank", json!({"name": "  "}), "name", "string_too_short"),
        ("missing", json!({"introduction": "x"}), "name", "missing"),
        ("null name", json!({"name": null}), "name", "missing"),
        ("a number", json!({"name": 7}), "name", "string_type"),
        (
            "1001 characters",
            json!({"name": "Web", "introduction": "가".repeat(1001)}),
            "introduction",
            "string_too_long",
        ),
        (
            "introduction a list",
            json!({"name": "Web", "introduction": ["x"]}),
            "introduction",
            "string_type",
        ),
        (
            "unknown field",
            json!({"name": "Web", "members": [1]}),
            "members",
            "extra_forbidden",
        ),
    ] {
        let response = app.create(Some(ADMIN), body).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        assert_eq!(response.detail("loc"), [json!(["body", loc])], "{what}");
        assert_eq!(response.detail("type"), [json!(kind)], "{what}");
    }
    let both = app
        .create(Some(ADMIN), json!({"name": "", "introduction": 1}))
        .await;
    assert_eq!(
        both.detail("loc").len(),
        2,
        "every bad field: {}",
        both.json()
    );
    assert_eq!(app.db.count("team").await, 1);
    assert_eq!(app.db.audit_log().await.len(), 1);
}

#[tokio::test]
async fn malformed_bodies_are_4xx_with_a_detail_never_5xx() {
    let app = app().await;
    let team = app.team("Web", None).await;
    let huge = json!({"introduction": "x".repeat(70 * 1024)}).to_string();
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("not json", b"{name: Web".to_vec(), StatusCode::BAD_REQUEST),
        ("empty", Vec::new(), StatusCode::BAD_REQUEST),
        ("array", b"[]".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("number", b"12".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        (
            "oversized",
            huge.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    let targets = [
        (Method::POST, "/api/v1/teams".to_owned()),
        (Method::PATCH, format!("/api/v1/teams/{team}")),
    ];
    assert_raw_bodies(&app.router, ADMIN, &targets, cases).await;
    assert_eq!(app.db.count("team").await, 1);
    assert!(app.db.audit_log().await.is_empty());
}

// --- Updating -----------------------------------------------------------------------

#[tokio::test]
async fn patch_changes_only_what_is_sent_and_null_clears_the_introduction() {
    let app = app().await;
    let team = app.team("Web", Some("old intro")).await;
    let kim = app.user("1", "kim", false).await;
    app.join(team, kim).await;

    assert_admin_only(MEMBER, async |sso| {
        app.patch(sso, team, json!({"name": "X"})).await
    })
    .await;
    assert_eq!(app.show(team).await["name"], "Web", "unchanged");

    let renamed = app.patch(Some(ADMIN), team, json!({"name": "웹팀"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.json());
    assert_eq!(
        renamed.json(),
        json!({"id": team, "name": "웹팀", "introduction": "old intro", "members": [member(kim, "kim")]}),
        "absent fields stay"
    );

    let cleared = app
        .patch(Some(ADMIN), team, json!({"introduction": null}))
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.json()["introduction"], Value::Null);
    assert_eq!(cleared.json()["name"], "웹팀");
    assert_eq!(app.show(team).await, cleared.json());

    let unchanged = app.patch(Some(ADMIN), team, json!({})).await;
    assert_eq!(unchanged.status, StatusCode::OK);
    assert_eq!(unchanged.json(), cleared.json());

    assert_eq!(
        app.db.audit_log().await,
        [
            audit_entry(
                ADMIN,
                "update",
                "team",
                team,
                json!({"name": ["Web", "웹팀"]})
            ),
            audit_entry(
                ADMIN,
                "update",
                "team",
                team,
                json!({"introduction": ["old intro", null]})
            ),
        ],
        "one entry per change, none for a patch that changes nothing"
    );
}

#[tokio::test]
async fn patch_refuses_a_null_name_bad_values_and_unknown_teams() {
    let app = app().await;
    let team = app.team("Web", Some("intro")).await;
    for (what, body, loc) in [
        ("null name", json!({"name": null}), "name"),
        ("31 characters", json!({"name": "가".repeat(31)}), "name"),
        ("blank", json!({"name": " "}), "name"),
        ("wrong type", json!({"introduction": false}), "introduction"),
        (
            "1001 characters",
            json!({"introduction": "a".repeat(1001)}),
            "introduction",
        ),
        ("unknown field", json!({"leader": "kim"}), "leader"),
    ] {
        let response = app.patch(Some(ADMIN), team, body).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        assert_eq!(response.detail("loc"), [json!(["body", loc])], "{what}");
    }
    let thirty = app
        .patch(Some(ADMIN), team, json!({"name": "가".repeat(30)}))
        .await;
    assert_eq!(thirty.status, StatusCode::OK, "30 Korean characters fit");

    let missing = app.patch(Some(ADMIN), 424242, json!({"name": "X"})).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json(), json!({"detail": "team not found"}));
    for bad in ["abc", "0", "99999999999999999999"] {
        let response = app.patch(Some(ADMIN), bad, json!({"name": "X"})).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(response.detail("loc"), [json!(["path", "id"])], "{bad}");
    }
    assert_eq!(app.db.audit_log().await.len(), 1, "only the good patch");
}

// --- Deleting -----------------------------------------------------------------------

#[tokio::test]
async fn deleting_a_team_keeps_its_members_as_users() {
    let app = app().await;
    let web = app.team("Web", Some("intro")).await;
    let other = app.team("App", None).await;
    let kim = app.user("1", "kim", false).await;
    app.join(web, kim).await;
    app.join(other, kim).await;

    assert_admin_only(MEMBER, async |sso| app.delete(sso, web).await).await;
    assert_eq!(app.db.count("team").await, 2);

    let deleted = app.delete(Some(ADMIN), web).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.bytes.is_empty());
    assert_eq!(
        get(&format!("/api/v1/teams/{web}"))
            .send(&app.router)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.db.count("user").await, 3, "users stay");
    assert_eq!(
        app.memberships().await,
        [(other, kim)],
        "only the other team's"
    );
    assert_eq!(
        app.db.audit_log().await,
        [audit_entry(
            ADMIN,
            "delete",
            "team",
            web,
            json!({"name": ["Web", null], "introduction": ["intro", null]})
        )]
    );

    let again = app.delete(Some(ADMIN), web).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.json(), json!({"detail": "team not found"}));
    let bad = app.delete(Some(ADMIN), "abc").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.db.audit_log().await.len(), 1);
}

// --- Memberships --------------------------------------------------------------------

#[tokio::test]
async fn adding_a_member_twice_is_204_both_times_with_one_row_and_one_entry() {
    let (app, team, kim) = app_with_team_and_kim(None).await;

    assert_admin_only(MEMBER, async |sso| {
        app.membership(Method::PUT, sso, team, kim).await
    })
    .await;
    assert!(app.memberships().await.is_empty());

    for attempt in 1..=2 {
        let response = app.membership(Method::PUT, Some(ADMIN), team, kim).await;
        assert_eq!(response.status, StatusCode::NO_CONTENT, "attempt {attempt}");
        assert!(response.bytes.is_empty());
    }
    assert_eq!(app.memberships().await, [(team, kim)]);
    assert_eq!(app.show(team).await["members"], json!([member(kim, "kim")]));
    assert_eq!(
        app.db.audit_log().await,
        [audit_entry(
            ADMIN,
            "add",
            "team_member",
            format!("{team}:{kim}"),
            json!({"team_id": [null, team], "user_id": [null, kim]})
        )],
        "only the membership actually added is recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_additions_of_one_member_all_succeed_with_one_row() {
    let (app, team, kim) = app_with_team_and_kim(None).await;
    let attempts = (0..8).map(|_| app.membership(Method::PUT, Some(ADMIN), team, kim));
    let statuses = race(attempts).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::NO_CONTENT),
        "{statuses:?}"
    );
    assert_eq!(app.memberships().await, [(team, kim)]);
    assert_eq!(app.db.audit_log().await.len(), 1);
}

#[tokio::test]
async fn removing_a_member_twice_is_204_both_times_and_recorded_once() {
    let (app, team, kim) = app_with_team_and_kim(None).await;
    let lee = app.user("2", "lee", false).await;
    app.join(team, kim).await;
    app.join(team, lee).await;

    assert_admin_only(MEMBER, async |sso| {
        app.membership(Method::DELETE, sso, team, kim).await
    })
    .await;
    assert_eq!(app.memberships().await.len(), 2);

    for attempt in 1..=2 {
        let response = app.membership(Method::DELETE, Some(ADMIN), team, kim).await;
        assert_eq!(response.status, StatusCode::NO_CONTENT, "attempt {attempt}");
    }
    assert_eq!(app.memberships().await, [(team, lee)]);
    assert_eq!(app.db.count("user").await, 4, "the user stays");
    assert_eq!(
        app.db.audit_log().await,
        [audit_entry(
            ADMIN,
            "remove",
            "team_member",
            format!("{team}:{kim}"),
            json!({"team_id": [team, null], "user_id": [kim, null]})
        )]
    );
}

#[tokio::test]
async fn memberships_of_unknown_teams_or_users_are_404() {
    let (app, team, kim) = app_with_team_and_kim(None).await;
    for method in [Method::PUT, Method::DELETE] {
        for (what, team_id, user_id, detail) in [
            ("no team", 424242, kim, "team not found"),
            ("no user", team, 424242, "user not found"),
            ("neither", 424242, 434343, "team not found"),
        ] {
            let response = app
                .membership(method.clone(), Some(ADMIN), team_id, user_id)
                .await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{method} {what}");
            let expected = json!({ "detail": detail });
            assert_eq!(response.json(), expected, "{method} {what}");
        }
    }
    assert!(app.memberships().await.is_empty());
    assert!(app.db.audit_log().await.is_empty());
}

#[tokio::test]
async fn membership_ids_are_positive_integers_each_reported() {
    let (app, team, kim) = app_with_team_and_kim(None).await;
    for method in [Method::PUT, Method::DELETE] {
        for (team_part, user_part, expected) in [
            (
                "abc".to_owned(),
                kim.to_string(),
                vec![json!(["path", "id"])],
            ),
            (
                team.to_string(),
                "0".to_owned(),
                vec![json!(["path", "user_id"])],
            ),
            (
                "99999999999999999999".to_owned(),
                "-3".to_owned(),
                vec![json!(["path", "id"]), json!(["path", "user_id"])],
            ),
        ] {
            let response = app
                .membership(method.clone(), Some(ADMIN), &team_part, &user_part)
                .await;
            assert_eq!(
                response.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {team_part}/{user_part}"
            );
            assert_eq!(
                response.detail("loc"),
                expected,
                "{method} {team_part}/{user_part}"
            );
        }
    }
    assert!(app.memberships().await.is_empty());
}

// --- Audit failures -----------------------------------------------------------------

#[tokio::test]
async fn nothing_is_written_when_the_audit_entry_cannot_be() {
    let (app, team, kim) = app_with_team_and_kim(Some("intro")).await;
    let lee = app.user("2", "lee", false).await;
    app.join(team, lee).await;
    app.db.refuse_audit_writes("forced").await;

    let created = app.create(Some(ADMIN), json!({"name": "Doomed"})).await;
    created.assert_internal_error();
    assert_eq!(app.db.count_where("team", "name = 'Doomed'").await, 0);

    let patched = app
        .patch(Some(ADMIN), team, json!({"name": "Doomed"}))
        .await;
    assert_eq!(patched.status, StatusCode::INTERNAL_SERVER_ERROR);
    let added = app.membership(Method::PUT, Some(ADMIN), team, kim).await;
    assert_eq!(added.status, StatusCode::INTERNAL_SERVER_ERROR);
    let removed = app.membership(Method::DELETE, Some(ADMIN), team, lee).await;
    assert_eq!(removed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let deleted = app.delete(Some(ADMIN), team).await;
    assert_eq!(deleted.status, StatusCode::INTERNAL_SERVER_ERROR);

    assert_eq!(
        app.show(team).await,
        json!({"id": team, "name": "Web", "introduction": "intro", "members": [member(lee, "lee")]}),
        "the team, its name and its members are as before"
    );
    assert_eq!(app.db.count("team").await, 1);
    assert_eq!(app.db.count("audit_log").await, 0);
}

// --- Lambda -------------------------------------------------------------------------

#[tokio::test]
async fn binary_answers_api_gateway_events_through_the_runtime_api() {
    let app = app().await;
    let kim = app.user("1", "kim", false).await;
    let (runtime, mut process) = app.db.start_lambda(env!("CARGO_BIN_EXE_teams")).await;

    // A non-admin with a token: 403; no token at all: 401.
    let body = json!({"name": "Lambda", "introduction": "람다"});
    let (headers, created) = runtime
        .assert_admin_creates("/api/v1/teams", &body, ADMIN, MEMBER)
        .await;
    let id = created["id"].as_i64().expect("an id");
    assert!(headers["x-request-id"].is_string());

    let path = format!("/api/v1/teams/{id}/members/{kim}");
    let (status, _, _) = runtime.http("PUT", &path, None, Some(ADMIN)).await;
    assert_eq!(status, 204);

    let (status, _, team) = runtime
        .http("GET", &format!("/api/v1/teams/{id}"), None, None)
        .await;
    assert_eq!(status, 200, "{team}");
    assert_eq!(team["members"], json!([member(kim, "kim")]));

    let (status, _, list) = runtime.http("GET", "/api/v1/teams", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["member_count"], 1);
    assert_eq!(
        app.db.audit_log().await.len(),
        2,
        "the creation and the membership"
    );
    assert!(process.is_running());
}
