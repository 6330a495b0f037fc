//! The Slack sync against a real MariaDB and a fake Slack Web API: docs/api.md's "Slack
//! member sync" section, and the function binary under the Lambda Runtime API.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Value, json};
use shared::AppState;
use shared::domain::batch::{self, Enqueued, RunStatus, SLACK_SYNC, Trigger};
use shared::domain::users::repo;
use slack_sync::{Outcome, SlackSettings};
use testkit::slack::{self, FakeSlack, member, profile};
use testkit::{LambdaProcess, RuntimeApi, TestDb};

// Fields drop in order: the state (and its pool) before the database.
struct Env {
    state: AppState,
    slack: FakeSlack,
    db: TestDb,
}

async fn env() -> Env {
    let db = TestDb::migrated().await;
    Env {
        state: db.state().await,
        slack: FakeSlack::start().await,
        db,
    }
}

/// [`env`] with one member on the fake, `U1` (`A B`, a@example.com).
async fn env_with_u1() -> Env {
    let env = env().await;
    env.slack
        .add(member("U1"), profile("A", "B", "a@example.com"));
    env
}

/// Quick retries, so that tests of them take milliseconds.
fn settings(slack: &FakeSlack, token: &str) -> SlackSettings {
    let mut settings = SlackSettings::new(slack.base_url(), Some(SecretString::from(token)));
    settings.base_delay = Duration::from_millis(10);
    settings.max_attempts = 3;
    settings
}

impl Env {
    /// The function's binary on this database and fake Slack, with `token`.
    async fn start_binary(&self, token: &str) -> (RuntimeApi, LambdaProcess) {
        let base_url = self.slack.base_url();
        LambdaProcess::start(
            env!("CARGO_BIN_EXE_slack-sync"),
            &[
                ("DATABASE_URL", &self.db.url),
                ("SLACK_API_BASE_URL", &base_url),
                ("SLACK_API_TOKEN", token),
            ],
        )
        .await
    }

    /// A manual run with the fake's token, carried out to the end.
    async fn sync(&self) -> Outcome {
        self.sync_with(&settings(&self.slack, slack::TOKEN)).await
    }

    async fn sync_with(&self, settings: &SlackSettings) -> Outcome {
        slack_sync::scheduled(&self.state, settings, Trigger::Manual, None)
            .await
            .expect("the run is recorded")
    }

    /// The user with Slack id `slack_id`, as the audit log sees it, plus `is_member`.
    async fn user(&self, slack_id: &str) -> Value {
        let mut conn = self.db.connect().await;
        let id: i32 = sqlx::query_scalar("SELECT id FROM `user` WHERE slack_id = ?")
            .bind(slack_id)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("no user for {slack_id}: {e}"));
        repo::audit_state(&mut conn, id)
            .await
            .expect("read the user")
            .expect("the user exists")
    }

    /// Every user row, whole (timestamps included), with its positions.
    async fn snapshot(&self) -> Vec<Value> {
        let mut conn = self.db.connect().await;
        let ids: Vec<i32> = sqlx::query_scalar("SELECT id FROM `user` ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("ids");
        let mut rows = Vec::new();
        for id in ids {
            let row = repo::find(&mut conn, id).await.expect("find").expect("row");
            let mut state = repo::audit_state(&mut conn, id)
                .await
                .expect("state")
                .expect("row");
            state["updated_at"] = json!(row.detail.updated_at.to_string());
            state["created_at"] = json!(row.detail.created_at.to_string());
            rows.push(state);
        }
        rows
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = self.db.connect().await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .expect("a number")
    }

    async fn run(&self, id: i64) -> batch::Run {
        let mut conn = self.db.connect().await;
        batch::get(&mut conn, id)
            .await
            .expect("read")
            .expect("the run")
    }
}

fn stats(created: u32, updated: u32, unchanged: u32, skipped: u32, failed: u32) -> Value {
    json!({"created": created, "updated": updated, "unchanged": unchanged, "skipped": skipped, "failed": failed})
}

fn fields(github: &str, positions: &str, generation: &str) -> Value {
    json!({
        "Xf01UD0C7526": {"value": github, "alt": ""},
        "Xf01UD0AM3S6": {"value": positions, "alt": ""},
        "Xf02CN9EEQCD": {"value": generation, "alt": ""}
    })
}

#[tokio::test]
async fn members_are_read_page_by_page_following_the_cursor() {
    let env = env().await;
    for i in 0..450 {
        let id = format!("U{i:05}");
        env.slack.add(
            member(&id),
            profile("이름", "성", &format!("m{i}@example.com")),
        );
    }
    let outcome = env.sync().await;
    assert_eq!(outcome.status, "succeeded", "{outcome:?}");
    assert_eq!(json!(outcome.stats), stats(450, 0, 0, 0, 0));
    let pages: Vec<Option<String>> = env
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "users.list")
        .map(|c| c.param)
        .collect();
    assert_eq!(
        pages,
        [None, Some("dXNlcjo200".into()), Some("dXNlcjo400".into())],
        "three pages of 200, each asked with the previous page's cursor"
    );
    assert_eq!(env.slack.count("users.profile.get"), 450);
    assert_eq!(
        env.scalar("SELECT COUNT(*) FROM `user` WHERE is_member")
            .await,
        450
    );
    // Created in Slack's order.
    assert_eq!(
        env.scalar("SELECT MIN(id) FROM `user` WHERE slack_id = 'U00449'")
            .await
            - env
                .scalar("SELECT MIN(id) FROM `user` WHERE slack_id = 'U00000'")
                .await,
        449
    );
}

#[tokio::test]
async fn new_members_are_created_with_every_mapping_rule_applied() {
    let env = env().await;
    // The sample profile of the shared samples, as Slack answers it.
    let sample: Value = serde_json::from_str(include_str!("fixtures/slack-users-profile-get.json"))
        .expect("the sample is JSON");
    env.slack
        .add(member("U01AB2CD3EF"), sample["profile"].clone());

    // Phone numbers and GitHub links: as typed on the profile, and what is kept.
    let phones = [
        ("+82 10-1234-5678", json!("01012345678")),
        ("011 123 4567", json!("0111234567")),
        ("016-1234-5678", json!("01612345678")),
        ("017-123-4567", Value::Null),
        ("02-880-1234", Value::Null),
        ("call me", Value::Null),
    ];
    let github_links = [
        ("https://www.github.com/octo-cat/repo", json!("octo-cat")),
        ("https://octo.github.io/", json!("octo")),
        ("http://github.com/octo", Value::Null),
        ("https://github.com/-octo-", Value::Null),
        ("https://[::1", Value::Null),
        ("octo", Value::Null),
        ("https://gitlab.com/octo", Value::Null),
    ];
    let mut cases: Vec<(String, Value)> = Vec::new();
    for (i, (phone, _)) in phones.iter().enumerate() {
        let n = i + 1;
        let profile = json!({"first_name": format!("P{n}"), "last_name": "K", "phone": phone});
        cases.push((format!("UPHONE{n}"), profile));
    }
    for (i, (link, _)) in github_links.iter().enumerate() {
        let n = i + 1;
        let profile = json!({"first_name": format!("G{n}"), "fields": fields(link, "", "")});
        cases.push((format!("UGH{n}"), profile));
    }
    cases.extend([
        // generations
        (
            "UGEN1",
            json!({"first_name": "N1", "fields": fields("", "", "19")}),
        ),
        (
            "UGEN2",
            json!({"first_name": "N2", "fields": fields("", "", "19기")}),
        ),
        // positions: names, aliases, case, unknown names, the admins' own position
        (
            "UPOS1",
            json!({"first_name": "S1", "fields": fields("", "FE / Server, ios,AOS, 디자인, 블록체인, 운영팀", "")}),
        ),
        (
            "UPOS2",
            json!({"first_name": "S2", "fields": fields("", "PM", "")}),
        ),
        // names: missing last name, missing both
        (
            "UNAME1",
            json!({"first_name": "성없음", "email": "x@example.com"}),
        ),
        (
            "UNAME2",
            json!({"email": "nobody@example.com", "fields": []}),
        ),
        // e-mail and image that break the users' rules
        (
            "UBAD",
            json!({"first_name": "B", "email": "not-an-email", "image_192": "ftp://x/y.png"}),
        ),
    ]
    .map(|(id, profile)| (id.to_owned(), profile)));
    for (id, profile) in &cases {
        env.slack.add(member(id), profile.clone());
    }
    let outcome = env.sync().await;
    assert_eq!(outcome.status, "succeeded", "{outcome:?}");
    assert_eq!(
        json!(outcome.stats),
        stats(1 + cases.len() as u32, 0, 0, 0, 0)
    );
    assert_eq!(outcome.unknown_positions, 3, "블록체인, 운영팀, PM");

    let sample_user = env.user("U01AB2CD3EF").await;
    assert_eq!(
        sample_user,
        json!({
            "username": null, "sso_id": null,
            "first_name": "와플", "last_name": "김",
            "image_url": "https://avatars.slack-edge.example/U01AB2CD3EF_192.png",
            "department": null, "college": null,
            "phone_number": "01012345678",
            "github_id": "waffle-member", "github_email": null,
            "slack_id": "U01AB2CD3EF", "slack_email": "waffle.member@example.com",
            "notion_email": null, "apple_email": null, "introduction": null,
            "generation": "21.5",
            "is_rookie": false, "is_member": true, "is_active": true, "is_admin": false,
            "positions": ["프론트엔드", "백엔드"],
            "sns_accounts": [],
        })
    );
    for (i, (phone, kept)) in phones.iter().enumerate() {
        let id = format!("UPHONE{}", i + 1);
        assert_eq!(&env.user(&id).await["phone_number"], kept, "{id}: {phone}");
    }
    for (i, (link, login)) in github_links.iter().enumerate() {
        let id = format!("UGH{}", i + 1);
        assert_eq!(&env.user(&id).await["github_id"], login, "{id}: {link}");
    }
    assert_eq!(env.user("UGEN1").await["generation"], "19");
    assert_eq!(env.user("UGEN2").await["generation"], Value::Null);
    assert_eq!(
        env.user("UPOS1").await["positions"],
        json!(["디자이너", "iOS", "안드로이드", "프론트엔드", "백엔드"])
    );
    assert_eq!(env.user("UPOS2").await["positions"], json!([]));
    let no_last = env.user("UNAME1").await;
    assert_eq!(
        (no_last["first_name"].clone(), no_last["last_name"].clone()),
        (json!("성없음"), json!(""))
    );
    let nameless = env.user("UNAME2").await;
    assert_eq!(
        (
            nameless["first_name"].clone(),
            nameless["last_name"].clone()
        ),
        (json!(""), json!(""))
    );
    let bad = env.user("UBAD").await;
    assert_eq!(
        (bad["slack_email"].clone(), bad["image_url"].clone()),
        (Value::Null, Value::Null)
    );

    // Every create is audited as the Slack sync, with the whole new user.
    assert_eq!(
        env.scalar("SELECT COUNT(*) FROM audit_log WHERE actor = 'slack-sync' AND action = 'create' AND entity = 'user'").await,
        1 + cases.len() as i64
    );
    let mut conn = env.db.connect().await;
    let changes: String = sqlx::query_scalar(
        "SELECT CAST(a.changes AS CHAR) FROM audit_log a JOIN `user` u ON a.entity_id = u.id \
         WHERE u.slack_id = 'U01AB2CD3EF'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the entry");
    let changes: Value = serde_json::from_str(&changes).expect("JSON");
    assert_eq!(changes["slack_id"], json!([null, "U01AB2CD3EF"]));
    assert_eq!(
        changes["positions"],
        json!([null, ["프론트엔드", "백엔드"]])
    );
}

#[tokio::test]
async fn deleted_members_bots_slackbot_and_unconfirmed_emails_are_skipped() {
    let env = env().await;
    let mut deleted = member("UDELETED");
    deleted["deleted"] = json!(true);
    let mut bot = member("BBOT");
    bot["is_bot"] = json!(true);
    let mut unconfirmed = member("UUNCONFIRMED");
    unconfirmed["is_email_confirmed"] = json!(false);
    let mut unknown = member("UMISSING");
    unknown
        .as_object_mut()
        .unwrap()
        .remove("is_email_confirmed");
    // Slackbot as the sample lists it: no is_email_confirmed at all, not a bot.
    let slackbot = json!({"id": "USLACKBOT", "name": "slackbot", "deleted": false, "is_bot": false,
        "profile": {"real_name": "Slackbot", "first_name": "slackbot", "last_name": ""}});
    for m in [deleted, bot, unconfirmed, unknown, slackbot] {
        env.slack.add(m, profile("X", "Y", "x@example.com"));
    }
    env.slack.add(
        member("UREAL"),
        profile("Real", "Member", "real@example.com"),
    );
    let outcome = env.sync().await;
    assert_eq!(json!(outcome.stats), stats(1, 0, 0, 5, 0));
    assert_eq!(
        env.slack.count("users.profile.get"),
        1,
        "skipped members' profiles are not read"
    );
    assert_eq!(env.scalar("SELECT COUNT(*) FROM `user`").await, 1);
    assert_eq!(env.user("UREAL").await["first_name"], "Real");
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says_then_retries() {
    let env = env_with_u1().await;
    env.slack
        .add(member("U2"), profile("C", "D", "c@example.com"));
    env.slack.rate_limit_next("users.profile.get", 1);
    let started = Instant::now();
    let outcome = env.sync().await;
    assert_eq!(outcome.status, "succeeded", "{outcome:?}");
    assert_eq!(json!(outcome.stats), stats(2, 0, 0, 0, 0));
    let calls = env.slack.calls();
    let limited = calls.iter().find(|c| c.status == 429).expect("one 429");
    let retried = calls
        .iter()
        .rfind(|c| c.method == "users.profile.get" && c.param == limited.param && c.status == 200)
        .expect("the rate-limited profile was read after all");
    assert!(
        retried.at.duration_since(limited.at) >= Duration::from_millis(990),
        "retried {:?} after the 429",
        retried.at.duration_since(limited.at)
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(env.slack.count("users.profile.get"), 3);
}

#[tokio::test]
async fn a_5xx_is_retried_and_the_run_succeeds() {
    let env = env_with_u1().await;
    env.slack.fail_next("users.list", 500);
    env.slack.fail_next("users.profile.get", 503);
    let outcome = env.sync().await;
    assert_eq!(outcome.status, "succeeded", "{outcome:?}");
    assert_eq!(json!(outcome.stats), stats(1, 0, 0, 0, 0));
    assert_eq!(env.slack.count("users.list"), 2);
    assert_eq!(env.slack.count("users.profile.get"), 2);
}

#[tokio::test]
async fn a_timeout_is_retried_and_the_run_succeeds() {
    let env = env_with_u1().await;
    env.slack
        .stall_next("users.profile.get", Duration::from_secs(3));
    let mut quick = settings(&env.slack, slack::TOKEN);
    quick.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let outcome = env.sync_with(&quick).await;
    assert_eq!(outcome.status, "succeeded", "{outcome:?}");
    assert_eq!(json!(outcome.stats), stats(1, 0, 0, 0, 0));
    assert_eq!(
        env.slack.count("users.profile.get"),
        2,
        "timed out once, then answered"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "did not wait for the stalled answer"
    );
}

#[tokio::test]
async fn a_profile_that_never_answers_counts_failed_and_the_run_goes_on() {
    let env = env().await;
    for id in ["U1", "U2", "U3"] {
        env.slack
            .add(member(id), profile(id, "K", &format!("{id}@example.com")));
    }
    env.slack.break_profile("U2");
    let outcome = env.sync().await;
    assert_eq!(outcome.status, "succeeded", "{outcome:?}");
    assert_eq!(json!(outcome.stats), stats(2, 0, 0, 0, 1));
    let tries = env
        .slack
        .calls()
        .iter()
        .filter(|c| c.param.as_deref() == Some("U2"))
        .count();
    assert_eq!(tries, 3, "max_attempts tries, then given up");
    assert_eq!(
        env.scalar("SELECT COUNT(*) FROM `user` WHERE slack_id = 'U2'")
            .await,
        0
    );
    let run = env.run(outcome.run_id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.stats.map(|s| s.failed), Some(1));
}

#[tokio::test]
async fn invalid_auth_fails_the_run_at_once_with_a_clear_error() {
    let env = env().await;
    env.slack.add_alike(30);
    let outcome = env.sync_with(&settings(&env.slack, "xoxb-revoked")).await;
    assert_eq!(outcome.status, "failed");
    let error = outcome.error.clone().unwrap_or_default();
    assert!(error.contains("invalid_auth"), "{error}");
    assert!(error.contains("Slack refused the token"), "{error}");
    assert_eq!(
        env.slack.count("users.list"),
        1,
        "no retry of an auth error"
    );
    assert_eq!(env.slack.count("users.profile.get"), 0);
    let run = env.run(outcome.run_id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_deref(), Some(error.as_str()));
    assert!(run.finished_at.is_some());
    assert_eq!(env.scalar("SELECT COUNT(*) FROM `user`").await, 0);
    // The lock is released: the next run may start.
    let next = env.sync().await;
    assert_eq!(next.status, "succeeded");
    assert_eq!(json!(next.stats), stats(30, 0, 0, 0, 0));

    // No token at all is the same failure, named as such.
    let mut tokenless = settings(&env.slack, "");
    tokenless.token = None;
    let outcome = env.sync_with(&tokenless).await;
    assert_eq!(outcome.status, "failed");
    assert!(
        outcome
            .error
            .unwrap_or_default()
            .contains("no token configured")
    );
}

#[tokio::test]
async fn a_second_run_on_the_same_data_changes_nothing() {
    let env = env().await;
    let sample: Value =
        serde_json::from_str(include_str!("fixtures/slack-users-profile-get.json")).expect("JSON");
    env.slack
        .add(member("U01AB2CD3EF"), sample["profile"].clone());
    for i in 0..20 {
        env.slack.add(
            member(&format!("U{i:03}")),
            json!({"first_name": format!("n{i}"), "last_name": "K", "phone": "010 1111 2222",
                   "fields": fields("https://github.com/octo", "Backend, iOS", "20")}),
        );
    }
    let first = env.sync().await;
    assert_eq!(json!(first.stats), stats(21, 0, 0, 0, 0));
    let rows = env.snapshot().await;
    let audit = env.scalar("SELECT COUNT(*) FROM audit_log").await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    let second = env.sync().await;
    assert_eq!(second.status, "succeeded");
    assert_eq!(json!(second.stats), stats(0, 0, 21, 0, 0));
    assert_eq!(
        env.scalar("SELECT COUNT(*) FROM audit_log").await,
        audit,
        "no audit entries"
    );
    assert_eq!(
        env.snapshot().await,
        rows,
        "rows unchanged, updated_at included"
    );
}

#[tokio::test]
async fn existing_users_get_only_slacks_non_empty_values_and_keep_the_rest() {
    let env = env().await;
    let mut conn = env.db.connect().await;
    sqlx::query(
        "INSERT INTO `user` (sso_id, username, slack_id, first_name, last_name, phone_number, \
         github_id, department, is_rookie, is_member, is_active, is_admin) \
         VALUES ('1001', 'waffle', 'UOLD', 'Old', 'Kim', '01099998888', 'keep', 'CSE', \
         FALSE, FALSE, TRUE, TRUE)",
    )
    .execute(&mut conn)
    .await
    .expect("insert");
    sqlx::query(
        "INSERT INTO position_user_association (position_id, user_id) \
         SELECT p.id, u.id FROM `position` p, `user` u WHERE p.name = 'iOS' AND u.slack_id = 'UOLD'",
    )
    .execute(&mut conn)
    .await
    .expect("link");
    env.slack.add(
        member("uold"),
        json!({"first_name": "New", "last_name": "", "phone": "", "email": "new@example.com",
               "fields": fields("http://github.com/ignored", "Backend, ios", "")}),
    );
    let outcome = env.sync().await;
    assert_eq!(json!(outcome.stats), stats(0, 1, 0, 0, 0), "{outcome:?}");
    let user = env.user("UOLD").await;
    assert_eq!(user["first_name"], "New");
    assert_eq!(
        user["last_name"], "Kim",
        "an empty Slack value overwrites nothing"
    );
    assert_eq!(user["phone_number"], "01099998888");
    assert_eq!(user["github_id"], "keep");
    assert_eq!(user["slack_email"], "new@example.com");
    assert_eq!(user["department"], "CSE");
    assert_eq!(user["is_member"], true);
    assert_eq!(
        user["positions"],
        json!(["iOS", "백엔드"]),
        "added, none removed"
    );
    assert_eq!(
        (
            user["sso_id"].clone(),
            user["username"].clone(),
            user["is_admin"].clone()
        ),
        (json!("1001"), json!("waffle"), json!(true))
    );
    assert_eq!(user["slack_id"], "UOLD", "the Slack id is not rewritten");
    let changes: String = sqlx::query_scalar(
        "SELECT CAST(changes AS CHAR) FROM audit_log WHERE actor = 'slack-sync' AND action = 'update'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("one update entry");
    assert_eq!(
        serde_json::from_str::<Value>(&changes).expect("JSON"),
        json!({
            "first_name": ["Old", "New"],
            "slack_email": [null, "new@example.com"],
            "is_member": [false, true],
            "positions": [["iOS"], ["iOS", "백엔드"]],
        })
    );

    // Slack dropping a position removes nothing either.
    env.slack.set_profile(
        "uold",
        json!({"first_name": "New", "email": "new@example.com", "fields": fields("", "", "")}),
    );
    let outcome = env.sync().await;
    assert_eq!(json!(outcome.stats), stats(0, 0, 1, 0, 0));
    assert_eq!(
        env.user("UOLD").await["positions"],
        json!(["iOS", "백엔드"])
    );
}

#[tokio::test]
async fn a_run_is_not_carried_out_twice() {
    let env = env_with_u1().await;
    let pool = env.state.db.pool().await.expect("pool");
    let Enqueued::Queued(id) = batch::enqueue(pool, SLACK_SYNC, Trigger::Manual, Some("1"))
        .await
        .expect("enqueue")
    else {
        panic!("queued");
    };
    let settings = settings(&env.slack, slack::TOKEN);
    let first = slack_sync::run(&env.state, &settings, id)
        .await
        .expect("run");
    assert_eq!(first.status, "succeeded");
    let again = slack_sync::run(&env.state, &settings, id)
        .await
        .expect("run");
    assert_eq!(again.status, "succeeded", "reports the run as found");
    assert_eq!(again.stats, None, "and does nothing");
    assert_eq!(env.slack.count("users.list"), 1);
}

fn scheduler_event() -> Value {
    json!({
        "version": "0",
        "id": "5e1f8c0e-3b6a-4d3e-9a59-0f4c2d1b7a11",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": "2026-11-28T03:00:00Z",
        "region": "ap-northeast-2",
        "resources": ["arn:aws:scheduler:ap-northeast-2:123456789012:schedule/default/wadot-dev-slack-sync"],
        "detail": "{}"
    })
}

#[tokio::test]
async fn the_lambda_binary_runs_scheduled_and_forced_runs() {
    let env = env_with_u1().await;
    let (runtime, _process) = env.start_binary(slack::TOKEN).await;
    let answer = runtime.invoke(scheduler_event()).await.response();
    assert_eq!(answer["status"], "succeeded", "{answer}");
    assert_eq!(answer["stats"], stats(1, 0, 0, 0, 0));
    let scheduled = env.run(answer["run_id"].as_i64().expect("run_id")).await;
    assert_eq!(scheduled.trigger, Trigger::Schedule);
    assert_eq!(scheduled.status, RunStatus::Succeeded);

    // What the batch function's force-run sends: a run it queued.
    let pool = env.state.db.pool().await.expect("pool");
    let id = batch::enqueue(pool, SLACK_SYNC, Trigger::Manual, Some("1"))
        .await
        .expect("enqueue")
        .run_id();
    let answer = runtime.invoke(json!({"run_id": id})).await.response();
    assert_eq!(
        answer,
        json!({"run_id": id, "status": "succeeded", "stats": stats(0, 0, 1, 0, 0), "error": null, "unknown_positions": 0})
    );
    let forced = env.run(id).await;
    assert_eq!(
        (forced.trigger, forced.status),
        (Trigger::Manual, RunStatus::Succeeded)
    );
    assert_eq!(forced.requested_by.as_deref(), Some("1"));

    // A scheduled event while a run is active: logged, and a success.
    let active = batch::enqueue(pool, SLACK_SYNC, Trigger::Manual, Some("1"))
        .await
        .expect("enqueue")
        .run_id();
    let answer = runtime.invoke(scheduler_event()).await.response();
    assert_eq!(answer["status"], "already_running");
    assert_eq!(answer["run_id"], active);

    let answer = runtime.invoke(json!({"run_id": active})).await.response();
    assert_eq!(answer["status"], "succeeded");

    let bad = runtime.invoke(json!({"nothing": true})).await;
    match bad {
        testkit::Outcome::Error(error) => {
            assert_eq!(error["errorType"], "InvalidEvent", "{error}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_lambda_binary_reports_a_failed_run_as_an_error() {
    let env = env_with_u1().await;
    let (runtime, _process) = env.start_binary("xoxb-wrong").await;
    match runtime.invoke(scheduler_event()).await {
        testkit::Outcome::Error(error) => {
            assert_eq!(error["errorType"], "SyncFailed", "{error}");
            let message = error["errorMessage"].as_str().unwrap_or_default();
            assert!(message.contains("invalid_auth"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(
        env.scalar("SELECT COUNT(*) FROM batch_run WHERE status = 'failed' AND error LIKE '%invalid_auth%' AND active_job IS NULL").await,
        1
    );
}

#[test]
fn the_command_line_runs_once_and_prints_the_outcome() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (db, slack) = runtime.block_on(async {
        let db = TestDb::migrated().await;
        let slack = FakeSlack::start().await;
        slack.add(member("U1"), profile("A", "B", "a@example.com"));
        (db, slack)
    });
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_slack-sync"))
        .arg("run")
        .env("DATABASE_URL", &db.url)
        .env("SLACK_API_BASE_URL", slack.base_url())
        .env("SLACK_API_TOKEN", slack::TOKEN)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("APP_ENV")
        .output()
        .expect("run the binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_str(stdout.trim()).expect("JSON on stdout");
    assert_eq!(answer["status"], "succeeded");
    assert_eq!(answer["stats"], stats(1, 0, 0, 0, 0));

    let usage = std::process::Command::new(env!("CARGO_BIN_EXE_slack-sync"))
        .arg("sync")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("run the binary");
    assert!(!usage.status.success());
    assert!(String::from_utf8_lossy(&usage.stderr).contains("usage: slack-sync run"));
    drop(runtime);
}

/// The server's counters: statements run, and statements prepared.
async fn counters(conn: &mut sqlx::MySqlConnection) -> (i64, i64) {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_stmt_prepare')",
    )
    .fetch_all(conn)
    .await
    .expect("read the counters");
    let get = |name: &str| {
        rows.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    (get("Questions"), get("Com_stmt_prepare"))
}

/// 500 members against the fake Slack (no delay), on a private MariaDB whose counters
/// only this test moves: how long a run takes, and how many statements it sends per
/// member when it creates everyone, when nothing changed, and when a fifth changed.
#[tokio::test]
async fn five_hundred_members_sync_quickly_and_unchanged_members_cost_no_query() {
    use sqlx::Connection;
    let server = testkit::PrivateMariaDb::start()
        .await
        .expect("private MariaDB");
    let mut observer = sqlx::MySqlConnection::connect(&server.url("mysql"))
        .await
        .expect("connect");
    let url = server.create_migrated_database("app").await;
    let state = AppState::new(shared::Config {
        env: shared::platform::config::AppEnv::Local,
        database: shared::platform::config::DbConfig::from_url(&url).expect("URL"),
        slack_token: None,
        tokens: None,
    })
    .await;
    let fake = FakeSlack::start().await;
    let profile_of = |i: usize, first: &str| {
        json!({
            "first_name": first, "last_name": "김", "email": format!("m{i}@example.com"),
            "phone": format!("010-{:04}-{:04}", i / 100, i % 10_000),
            "image_192": format!("https://avatars.example/{i}.png"),
            "fields": fields(&format!("https://github.com/member-{i}"), "Backend, iOS", "21")
        })
    };
    for i in 0..500 {
        fake.add(member(&format!("U{i:05}")), profile_of(i, "와플"));
    }
    let settings = settings(&fake, slack::TOKEN);
    let mut measure = async |label: &str| {
        let before = counters(&mut observer).await;
        let started = Instant::now();
        let outcome = slack_sync::scheduled(&state, &settings, Trigger::Manual, None)
            .await
            .expect("a run");
        let elapsed = started.elapsed();
        let after = counters(&mut observer).await;
        // Minus the observer's own SHOW.
        let statements = after.0 - before.0 - 1;
        let prepares = after.1 - before.1;
        println!(
            "{label}: {elapsed:?}, {:?}, {statements} statements ({:.2} per member), {prepares} prepares",
            outcome.stats,
            statements as f64 / 500.0
        );
        assert_eq!(outcome.status, "succeeded", "{outcome:?}");
        (outcome, elapsed, statements)
    };

    let (created, elapsed, statements) = measure("500 created").await;
    assert_eq!(json!(created.stats), stats(500, 0, 0, 0, 0));
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    assert!(statements <= 500 * 16, "{statements}");

    let (unchanged, _, statements) = measure("500 unchanged").await;
    assert_eq!(json!(unchanged.stats), stats(0, 0, 500, 0, 0));
    assert!(
        statements <= 10,
        "the run's own bookkeeping only, nothing per member: {statements}"
    );

    for i in (0..500).step_by(5) {
        fake.set_profile(&format!("U{i:05}"), profile_of(i, "팬케이크"));
    }
    let (updated, _, statements) = measure("100 updated, 400 unchanged").await;
    assert_eq!(json!(updated.stats), stats(0, 100, 400, 0, 0));
    assert!(statements <= 10 + 100 * 16, "{statements}");
    drop(state);
    drop(server);
}

#[tokio::test]
async fn the_sample_answers_sync_as_documented() {
    let env = env().await;
    let list: Value =
        serde_json::from_str(include_str!("fixtures/slack-users-list.json")).expect("JSON");
    let sample: Value =
        serde_json::from_str(include_str!("fixtures/slack-users-profile-get.json")).expect("JSON");
    for listed in list["members"].as_array().expect("members") {
        env.slack.add(listed.clone(), sample["profile"].clone());
    }
    let outcome = env.sync().await;
    assert_eq!(
        json!(outcome.stats),
        stats(1, 0, 0, 1, 0),
        "Slackbot is skipped"
    );
    assert_eq!(env.user("U01AB2CD3EF").await["github_id"], "waffle-member");
    // The error sample is what the fake answers a wrong token with.
    let error: Value =
        serde_json::from_str(include_str!("fixtures/slack-error.json")).expect("JSON");
    let failed = env.sync_with(&settings(&env.slack, "xoxb-wrong")).await;
    assert!(
        failed
            .error
            .unwrap_or_default()
            .contains(error["error"].as_str().expect("an error"))
    );
}
