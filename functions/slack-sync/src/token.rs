//! Where the deployed function's Slack token comes from: its own secret.
//!
//! The token used to sit in `<env>/waffledotcom` beside the database credentials, where
//! every function that reads the database could read it too. It now lives in
//! `<env>/waffledotcom-slack` (key `slack_token`; `SLACK_TOKEN_SECRET_ID` names another),
//! which only `slack-sync`'s role may read. While that secret does not exist yet, the old
//! key is used, with a warning saying to move it (docs/operations.md, "Move the Slack
//! token"). Locally, `SLACK_API_TOKEN` as before.

use secrecy::SecretString;
use shared::platform::config::{AppEnv, ConfigError};

/// The key of the token in either secret.
pub const TOKEN_KEY: &str = "slack_token";

/// The WARN message while the token still comes from the old secret.
pub const OLD_SECRET: &str =
    "the Slack token still comes from <env>/waffledotcom: move it to <env>/waffledotcom-slack";

/// The secret the deployed function reads its token from: `SLACK_TOKEN_SECRET_ID`, else
/// `<env>/waffledotcom-slack`.
pub fn secret_id(env: AppEnv) -> String {
    std::env::var("SLACK_TOKEN_SECRET_ID")
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("{}/waffledotcom-slack", env.as_str()))
}

/// The token for `config`: locally the environment's (`SLACK_API_TOKEN`); deployed, the
/// Slack secret's, else the old key of the database secret.
pub async fn load(config: &shared::Config) -> Result<Option<SecretString>, ConfigError> {
    if config.env == AppEnv::Local {
        return Ok(config.slack_token.clone());
    }
    #[cfg(feature = "aws")]
    {
        let sdk = shared::platform::aws::sdk_config().await;
        from_secret(&sdk, &secret_id(config.env), config.slack_token.clone()).await
    }
    #[cfg(not(feature = "aws"))]
    Err(ConfigError::NoAws {
        name: "SLACK_TOKEN_SECRET_ID",
    })
}

/// The key `slack_token` of the secret `secret_id`; when that secret does not exist,
/// `old` (the old secret's key), with a warning. A Slack secret without the key, or one
/// that cannot be read, stops the start: falling back then would hide the mistake.
#[cfg(feature = "aws")]
pub async fn from_secret(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
    old: Option<SecretString>,
) -> Result<Option<SecretString>, ConfigError> {
    use std::collections::HashMap;

    let secret: HashMap<String, serde_json::Value> =
        match shared::platform::config::read_secret(sdk, secret_id).await {
            Ok(secret) => secret,
            Err(ConfigError::SecretNotFound { .. }) => {
                if old.is_some() {
                    tracing::warn!(secret_id, "{OLD_SECRET}");
                }
                return Ok(old);
            }
            Err(error) => return Err(error),
        };
    let token = secret
        .get(TOKEN_KEY)
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ConfigError::SecretKeyMissing {
            secret_id: secret_id.to_owned(),
            key: TOKEN_KEY,
        })?;
    Ok(Some(SecretString::from(token.to_owned())))
}
