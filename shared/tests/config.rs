//! Deployed configuration from Secrets Manager (moto on loopback), and its secrecy.

use secrecy::ExposeSecret;
use serde_json::json;
use shared::Config;
use shared::platform::config::{AppEnv, ConfigError};
use testkit::Moto;
use testkit::moto::old_layout_secret;

/// What `Config::from_secret` makes of secret `name` in a Secrets Manager (moto) that
/// holds `secret` under that name, or no secret at all for `None`.
async fn from_secret(env: AppEnv, name: &str, secret: Option<&str>) -> Result<Config, ConfigError> {
    let moto = Moto::start().await.expect("moto");
    if let Some(secret) = secret {
        moto.put_secret(name, secret).await;
    }
    Config::from_secret(env, name, &moto.sdk_config().await).await
}

#[tokio::test]
async fn reads_the_old_key_layout() {
    let secret = old_layout_secret("s3cret!").to_string();
    let config = from_secret(AppEnv::Dev, "dev/waffledotcom", Some(&secret))
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
    let mut secret = old_layout_secret("pw");
    secret["db_port"] = json!(3307);
    let config = from_secret(AppEnv::Prod, "prod/waffledotcom", Some(&secret.to_string()))
        .await
        .expect("config");
    assert_eq!(config.database.port, 3307);
}

#[tokio::test]
async fn a_missing_secret_is_a_clear_error() {
    let error = from_secret(AppEnv::Prod, "prod/waffledotcom", None)
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
    let mut secret = old_layout_secret("pw");
    secret
        .as_object_mut()
        .expect("object")
        .remove("db_password");
    let error = from_secret(AppEnv::Dev, "dev/waffledotcom", Some(&secret.to_string()))
        .await
        .expect_err("db_password is missing");
    assert_eq!(
        error.to_string(),
        "secret dev/waffledotcom has no key db_password"
    );
}

#[tokio::test]
async fn a_secret_that_is_not_json_is_refused_without_quoting_it() {
    let error = from_secret(
        AppEnv::Dev,
        "dev/waffledotcom",
        Some("password=hunter2-plain"),
    )
    .await
    .expect_err("not JSON");
    let message = error.to_string();
    assert!(message.contains("not a JSON object"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}
