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

#[tokio::test]
async fn a_new_checkout_gets_a_private_key_trusted_tokens_an_admin_and_the_demo_directory() {
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

    // The demo directory: loaded once.
    let loaded = dev(&dir, &db, &["demo"]);
    assert!(loaded.status.success(), "{loaded:?}");
    assert!(
        stderr(&loaded).contains("demo data loaded: 36 members"),
        "{}",
        stderr(&loaded)
    );
    let twice = dev(&dir, &db, &["demo"]);
    assert!(
        stderr(&twice).contains("already there"),
        "{}",
        stderr(&twice)
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM `user`").await, 36);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM team").await, 4);

    // An admin on demand: SSO id 42 is registered and flagged.
    let admin_token = stdout(&dev(&dir, &db, &["token", "42", "--admin"]));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM `user` WHERE sso_id = '42' AND is_admin")
            .await,
        1
    );
    let member_token = stdout(&dev(&dir, &db, &["token", "900001"]));

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

/// Local tokens name the local issuer, which the authorizer configured as deployed (the
/// dev SSO's issuer) denies even with the same key, and which a deployed authorizer
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
    let deployed =
        authorizer::Verifier::new(&public_pem, "https://account-api-dev.wafflestudio.com")
            .expect("a verifier");
    assert!(matches!(
        deployed.verify(&token),
        Err(authorizer::Denial::Issuer)
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
