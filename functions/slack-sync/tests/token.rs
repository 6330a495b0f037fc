//! The deployed Slack token, against moto's Secrets Manager: the function's own secret
//! `<env>/waffledotcom-slack` first, the old key of `<env>/waffledotcom` only while that
//! secret does not exist.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use shared::platform::config::{AppEnv, ConfigError};
use slack_sync::token::{from_secret, secret_id};
use testkit::Moto;

const NEW: &str = "prod/waffledotcom-slack";

fn exposed(token: Option<SecretString>) -> Option<String> {
    token.map(|t| t.expose_secret().to_owned())
}

#[tokio::test]
async fn the_slack_secret_wins_and_the_old_key_is_used_only_while_it_is_missing() {
    assert_eq!(secret_id(AppEnv::Prod), NEW);
    assert_eq!(secret_id(AppEnv::Dev), "dev/waffledotcom-slack");
    let moto = Moto::start().await.expect("moto");
    let sdk = moto.sdk_config().await;
    let old = || Some(SecretString::from("xoxb-old-shared-secret"));

    // Before the move: the old key, else nothing (a run then fails, saying so).
    let token = from_secret(&sdk, NEW, old()).await.expect("the old key");
    assert_eq!(exposed(token).as_deref(), Some("xoxb-old-shared-secret"));
    assert_eq!(
        exposed(from_secret(&sdk, NEW, None).await.expect("none")),
        None
    );

    // After: the Slack secret's, whatever the old key still holds.
    moto.put_secret(NEW, &json!({"slack_token": "xoxb-own-secret"}).to_string())
        .await;
    let token = from_secret(&sdk, NEW, old()).await.expect("the new secret");
    assert_eq!(exposed(token).as_deref(), Some("xoxb-own-secret"));
    let token = from_secret(&sdk, NEW, None).await.expect("the new secret");
    assert_eq!(exposed(token).as_deref(), Some("xoxb-own-secret"));
}

#[tokio::test]
async fn a_slack_secret_without_the_key_stops_the_start_naming_it() {
    let moto = Moto::start().await.expect("moto");
    let sdk = moto.sdk_config().await;
    moto.put_secret(NEW, &json!({"token": "xoxb-misfiled"}).to_string())
        .await;
    let error = from_secret(&sdk, NEW, Some(SecretString::from("xoxb-old")))
        .await
        .expect_err("no fallback when the new secret is wrong");
    assert!(
        matches!(error, ConfigError::SecretKeyMissing { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert_eq!(
        message,
        "secret prod/waffledotcom-slack has no key slack_token"
    );
    assert!(!message.contains("xoxb"));
}
