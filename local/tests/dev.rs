//! The frontend developer's kit: the `dev` binary behind `scripts/run-local` and
//! `scripts/token` (docs/frontend.md). A key made once and kept private, tokens that the
//! local server trusts, an admin on demand, and the demo directory loaded once.

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use testkit::TestDb;

/// Runs `dev args` with its key under `dir` and `DATABASE_URL` set to `db`.
fn dev(dir: &Path, db: &TestDb, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_dev"))
        .args(args)
        .env("WADOT_DEV_DIR", dir)
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("run dev")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Rows holding one of the demo's SSO ids.
const DEMO_ROWS: &str = "SELECT COUNT(*) FROM `user` WHERE sso_id LIKE '9000__' \
    AND CAST(sso_id AS UNSIGNED) BETWEEN 900001 AND 900036";

/// The whole demo is in the directory: its 36 members under their own SSO ids and
/// usernames, its 4 teams once each, and their 34 memberships.
async fn assert_demo_whole(db: &TestDb) {
    assert_eq!(db.scalar(DEMO_ROWS).await, 36);
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM `user` WHERE (sso_id, username) IN \
             (('900001', 'minjun01'), ('900003', 'yuna03'), ('900005', 'siwoo05'), \
              ('900010', 'jimin10'), ('900036', 'jimin36'))"
        )
        .await,
        5
    );
    assert_eq!(
        db.scalar(
            "SELECT COUNT(DISTINCT name) FROM team \
             WHERE name IN ('SNUTT', 'Waffle Market', 'Siksha', 'wafflestudio.com')"
        )
        .await,
        4
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM team").await, 4);
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM team_user_association a JOIN `user` u ON u.id = a.user_id \
             WHERE u.sso_id LIKE '9000__'"
        )
        .await,
        34
    );
    // SNUTT takes every third member from the first: 900001, 900004, ..., 900034.
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM team_user_association a JOIN team t ON t.id = a.team_id \
             JOIN `user` u ON u.id = a.user_id \
             WHERE t.name = 'SNUTT' AND MOD(CAST(u.sso_id AS UNSIGNED) - 900001, 3) = 0"
        )
        .await,
        12
    );
}

#[tokio::test]
async fn a_new_checkout_following_the_readme_gets_a_private_key_trusted_tokens_an_admin_and_the_demo()
 {
    let db = TestDb::migrated().await;
    let dir = std::env::temp_dir().join(format!("wd-dev-{}", uuid::Uuid::new_v4().simple()));

    // The key: made on first use, owner-only, the same one afterwards.
    let first = dev(&dir, &db, &["key"]);
    let public_pem = stdout(&first);
    assert!(
        public_pem.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{public_pem}"
    );
    assert!(stderr(&first).contains("made a development signing key"));
    let key_file = dir.join("dev-signing-key.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file)
            .expect("the key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is readable by others");
    }
    let again = dev(&dir, &db, &["key"]);
    assert_eq!(stdout(&again), public_pem);
    assert!(!stderr(&again).contains("made"));

    // The README's "Try it", in the order a newcomer meets it: tokens while the server
    // runs without the demo, then `scripts/run-local --demo`. An admin on demand: SSO
    // id 42 (outside the demo's ids) is registered and flagged.
    let admin_token = stdout(&dev(&dir, &db, &["token", "42", "--admin"]));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM `user` WHERE sso_id = '42' AND is_admin")
            .await,
        1
    );
    let member_token = stdout(&dev(&dir, &db, &["token", "900001"]));

    // The demo directory: loaded whole, once.
    let loaded = dev(&dir, &db, &["demo"]);
    assert!(loaded.status.success(), "{loaded:?}");
    assert!(
        stderr(&loaded).contains("demo data loaded: 36 members (SSO ids 900001–900036), 4 teams"),
        "{}",
        stderr(&loaded)
    );
    assert_demo_whole(&db).await;
    let twice = dev(&dir, &db, &["demo"]);
    assert!(
        stderr(&twice).contains("demo data already there: 36 members"),
        "{}",
        stderr(&twice)
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM `user`").await, 37);
    assert_demo_whole(&db).await;

    // Bad input is refused with the usage, and nothing is printed as a token.
    let refused = dev(&dir, &db, &["token", "not-a-number"]);
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    assert!(
        stderr(&refused).contains("usage: dev"),
        "{}",
        stderr(&refused)
    );

    // The local server, trusting the development key as scripts/run-local sets it up.
    let server = common::Server::spawn(
        &db.url,
        &[
            ("WAFFLE_JWT_PUBLIC_KEY", public_pem.as_str()),
            ("WAFFLE_JWT_ISSUER", local::dev::ISSUER),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let get = |path: &str, token: &str| http.get(server.api().url(path)).bearer_auth(token).send();
    let me = get("/api/v1/users/me", &member_token)
        .await
        .expect("an answer");
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.expect("JSON");
    let positions: Vec<&str> = me["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .filter_map(|position| position["name"].as_str())
        .collect();
    assert!(positions.contains(&"운영팀"), "{me}");
    assert!(
        me["sns_accounts"].as_array().is_some_and(|a| a.len() == 2),
        "{me}"
    );

    assert_eq!(me["username"], "minjun01", "{me}");
    let list = get("/api/v1/users?limit=1000", &member_token)
        .await
        .expect("an answer");
    assert_eq!(list.headers()["x-total-count"], "37");

    // The admin's token carries admin rights: it may change another member's flags.
    let patched = http
        .patch(server.api().url(&format!("/api/v1/users/{}", me["id"])))
        .bearer_auth(&admin_token)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(patched.status(), 200);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM `user` WHERE sso_id = '900001' AND NOT is_active")
            .await,
        1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_admin_token_for_a_demo_id_before_the_demo_registers_that_member_and_the_demo_loads_the_rest()
 {
    // The README's sequence as it read before: `scripts/token 900001 --admin`, then
    // `scripts/run-local --demo`.
    let db = TestDb::migrated().await;
    let dir = std::env::temp_dir().join(format!("wd-dev-{}", uuid::Uuid::new_v4().simple()));
    let admin = dev(&dir, &db, &["token", "900001", "--admin"]);
    assert!(stdout(&admin).starts_with("ey"), "{admin:?}");
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM `user` WHERE sso_id = '900001' AND username = 'minjun01' \
             AND is_admin"
        )
        .await,
        1,
        "a demo SSO id registers as that demo member"
    );

    let demo = dev(&dir, &db, &["demo"]);
    assert!(demo.status.success(), "{demo:?}");
    assert!(
        stderr(&demo).contains(
            "demo data completed (this run added 35 members and 4 teams): \
             36 members (SSO ids 900001–900036), 4 teams"
        ),
        "{}",
        stderr(&demo)
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM `user`").await, 36);
    assert_demo_whole(&db).await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM `user` WHERE is_admin")
            .await,
        1,
        "900001 stays the one admin"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_partial_or_colliding_directory_gets_what_is_missing_and_is_told_what_stands_in_the_way()
{
    let db = TestDb::migrated().await;
    let dir = std::env::temp_dir().join(format!("wd-dev-{}", uuid::Uuid::new_v4().simple()));
    // In the way: SSO id 900003 under another username (as `scripts/token 900003 --admin`
    // wrote it before it knew the demo), and member 900005's username under SSO id 77.
    let by_sso = db.insert_user("900003", "dev-900003", true).await;
    let by_name = db.insert_user("77", "siwoo05", false).await;

    let first = dev(&dir, &db, &["demo"]);
    assert!(first.status.success(), "{first:?}");
    let report = stderr(&first);
    for line in [
        "demo data incomplete (this run added 34 members and 4 teams): 34 of 36 members \
         (SSO ids 900001–900036), 4 of 4 teams",
        &format!(
            "demo member 900003 (yuna03) not loaded: SSO id 900003 is already user {by_sso} \
             (username dev-900003)"
        ),
        &format!(
            "demo member 900005 (siwoo05) not loaded: username siwoo05 is already user \
             {by_name} (SSO id 77)"
        ),
        &format!("delete user(s) {by_sso}, {by_name}"),
        "then run scripts/run-local --demo again",
    ] {
        assert!(report.contains(line), "{line:?} in {report}");
    }
    // True to the database: the 34 members it names, the two rows it left alone.
    assert_eq!(db.scalar(DEMO_ROWS).await, 35);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM `user`").await, 36);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM `user` WHERE username IN ('dev-900003', 'siwoo05') AND first_name = 'Waffle'")
            .await,
        2
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM team").await, 4);

    // The way cleared as the report says, and some of the demo gone meanwhile: a team
    // and a member (with their memberships).
    db.sql(&format!(
        "DELETE FROM `user` WHERE id IN ({by_sso}, {by_name}, \
         (SELECT id FROM (SELECT id FROM `user` WHERE sso_id = '900010') AS m)); \
         DELETE FROM team WHERE name = 'Siksha'"
    ))
    .await;
    let second = dev(&dir, &db, &["demo"]);
    assert!(second.status.success(), "{second:?}");
    assert!(
        stderr(&second).contains(
            "demo data completed (this run added 3 members and 1 team): \
             36 members (SSO ids 900001–900036), 4 teams"
        ),
        "{}",
        stderr(&second)
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM `user`").await, 36);
    assert_demo_whole(&db).await;

    let third = dev(&dir, &db, &["demo"]);
    assert!(
        stderr(&third).contains("demo data already there: 36 members"),
        "{}",
        stderr(&third)
    );
    assert_demo_whole(&db).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Local tokens name the local issuer, which the token check configured as deployed (the
/// dev SSO's issuer) denies even with the same key, and which a deployed function
/// refuses to start with; they live 12 hours, and no longer.
#[tokio::test]
async fn local_tokens_carry_a_local_issuer_and_live_twelve_hours_at_most() {
    let db = TestDb::migrated().await;
    let dir = std::env::temp_dir().join(format!("wd-dev-{}", uuid::Uuid::new_v4().simple()));
    let public_pem = stdout(&dev(&dir, &db, &["key"]));
    let token = stdout(&dev(&dir, &db, &["token", "900001"]));

    let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()).expect("the key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS512);
    validation.set_issuer(&[shared::platform::identity::LOCAL_ISSUER]);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .expect("a local token")
        .claims;
    assert_eq!(claims["iss"], "urn:waffledotcom:local-development");
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    assert_eq!(lifetime, 12 * 3600, "{claims}");

    // As deployed in dev: the SSO's issuer, even with the local key, denies it.
    let deployed = shared::platform::token::Verifier::new(
        &public_pem,
        "https://account-api-dev.wafflestudio.com",
    )
    .expect("a verifier");
    assert!(matches!(
        deployed.verify(&token),
        Err(shared::platform::token::Denial::Issuer)
    ));

    for hours in ["13", "720"] {
        let refused = dev(&dir, &db, &["token", "900001", "--hours", hours]);
        assert!(!refused.status.success(), "--hours {hours}");
        assert!(refused.stdout.is_empty());
        assert!(stderr(&refused).contains("1 to 12"), "{}", stderr(&refused));
    }
    let short = stdout(&dev(&dir, &db, &["token", "900001", "--hours", "1"]));
    let claims = jsonwebtoken::decode::<Value>(&short, &key, &validation)
        .expect("a local token")
        .claims;
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    assert_eq!(lifetime, 3600);
    let _ = std::fs::remove_dir_all(&dir);
}
