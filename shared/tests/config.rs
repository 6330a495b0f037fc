//! Deployed configuration from Secrets Manager (moto on loopback), and its secrecy.

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shared::Config;
use shared::config::{AppEnv, ConfigError};
use testkit::Moto;

fn old_layout(password: &str) -> Value {
    json!({
        "db_username": "waffle",
        "db_password": password,
        "db_host": "wadot.cluster.ap-northeast-2.rds.amazonaws.com",
        "db_port": "3306",
        "db_name": "waffledotcom",
        "slack_token": "xoxb-not-a-real-token",
    })
}

#[tokio::test]
async fn reads_the_old_key_layout() {
    let moto = Moto::start().await.expect("moto");
    let sdk = moto.sdk_config().await;
    moto.put_secret("dev/waffledotcom", &old_layout("s3cret!").to_string())
        .await;

    let config = Config::from_secret(AppEnv::Dev, "dev/waffledotcom", &sdk)
        .await
        .expect("config");
    assert_eq!(config.env, AppEnv::Dev);
    assert_eq!(config.database.username, "waffle");
    assert_eq!(config.database.password.expose_secret(), "s3cret!");
    assert_eq!(
        config.database.host,
        "wadot.cluster.ap-northeast-2.rds.amazonaws.com"
    );
    assert_eq!(config.database.port, 3306);
    assert_eq!(config.database.database, "waffledotcom");
    assert_eq!(
        config
            .slack_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        Some("xoxb-not-a-real-token".to_owned())
    );
}

#[tokio::test]
async fn a_numeric_port_is_accepted_too() {
    let moto = Moto::start().await.expect("moto");
    let sdk = moto.sdk_config().await;
    let mut secret = old_layout("pw");
    secret["db_port"] = json!(3307);
    moto.put_secret("prod/waffledotcom", &secret.to_string())
        .await;
    let config = Config::from_secret(AppEnv::Prod, "prod/waffledotcom", &sdk)
        .await
        .expect("config");
    assert_eq!(config.database.port, 3307);
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_error() {
    let moto = Moto::start().await.expect("moto");
    let sdk = moto.sdk_config().await;
    let error = Config::from_secret(AppEnv::Prod, "prod/waffledotcom", &sdk)
        .await
        .expect_err("no such secret");
    assert!(
        matches!(error, ConfigError::SecretNotFound { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "secret prod/waffledotcom was not found in Secrets Manager"
    );
}

#[tokio::test]
async fn a_missing_key_is_named() {
    let moto = Moto::start().await.expect("moto");
    let sdk = moto.sdk_config().await;
    let mut secret = old_layout("pw");
    secret
        .as_object_mut()
        .expect("object")
        .remove("db_password");
    moto.put_secret("dev/waffledotcom", &secret.to_string())
        .await;
    let error = Config::from_secret(AppEnv::Dev, "dev/waffledotcom", &sdk)
        .await
        .expect_err("db_password is missing");
    assert_eq!(
        error.to_string(),
        "secret dev/waffledotcom has no key db_password"
    );
}

#[tokio::test]
async fn a_secret_that_is_not_json_is_refused_without_quoting_it() {
    let moto = Moto::start().await.expect("moto");
    let sdk = moto.sdk_config().await;
    moto.put_secret("dev/waffledotcom", "password=hunter2-plain")
        .await;
    let error = Config::from_secret(AppEnv::Dev, "dev/waffledotcom", &sdk)
        .await
        .expect_err("not JSON");
    let message = error.to_string();
    assert!(message.contains("not a JSON object"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}
