//! A small client of the Slack Web API: `users.list` (every page) and
//! `users.profile.get` (one member), with Slack's rate limits and transient failures
//! handled here, so the sync above sees either an answer or an error that says what
//! to do with it.
//!
//! - HTTP 429: wait `Retry-After` seconds, then try again. The wait applies to every
//!   call of this client (the limit is the token's, not one request's).
//! - HTTP 5xx, timeouts, connection failures: try again after `base_delay`, doubling,
//!   up to `max_attempts` in all. When the last attempt could not even connect, Slack
//!   is down for us, not just for one member: that is fatal for the run.
//! - `{"ok": false, "error": e}`: an auth error (`invalid_auth`, `not_authed`,
//!   `account_inactive`, ...) is fatal for the run; any other names the method's failure.

use std::sync::Mutex;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use shared::platform::config::ConfigError;
use tokio::time::Instant;

pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";

/// Slack errors that mean the token cannot work: the run stops at once.
pub const FATAL_ERRORS: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "missing_scope",
    "not_allowed_token_type",
];

/// How to reach Slack, and how patient to be with it.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    /// `https://slack.com/api`, or a fake's URL in tests (`SLACK_API_BASE_URL`).
    pub base_url: String,
    /// The secret's `slack_token` (`SLACK_API_TOKEN` locally); `None`: runs fail, saying so.
    pub token: Option<SecretString>,
    /// Profiles read at once.
    pub concurrency: usize,
    /// Attempts per call on 5xx answers and timeouts, the first included.
    pub max_attempts: u32,
    /// How many 429s one call may meet before it gives up.
    pub max_rate_limited: u32,
    /// The first wait after a 5xx or a timeout; doubled for each further one.
    pub base_delay: Duration,
    /// The longest `Retry-After` honoured as is (a longer one is cut to this).
    pub max_retry_after: Duration,
    /// Per request, connecting included.
    pub timeout: Duration,
}

impl SlackSettings {
    /// Defaults, with `token`, against Slack itself.
    pub fn new(base_url: impl Into<String>, token: Option<SecretString>) -> Self {
        Self {
            base_url: base_url.into(),
            token,
            concurrency: 8,
            max_attempts: 4,
            max_rate_limited: 10,
            base_delay: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(120),
            timeout: Duration::from_secs(10),
        }
    }

    /// `SLACK_API_BASE_URL` (default Slack's), `SLACK_RETRY_BASE_DELAY_MS`,
    /// `SLACK_SYNC_CONCURRENCY`, and the configuration's token.
    pub fn from_env(config: &shared::Config) -> Result<Self, ConfigError> {
        let base_url = std::env::var("SLACK_API_BASE_URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "SLACK_API_BASE_URL",
                reason: format!("{base_url:?} is not an http(s) URL"),
            });
        }
        let mut settings = Self::new(base_url, config.slack_token.clone());
        if let Some(ms) = env_number("SLACK_RETRY_BASE_DELAY_MS", 0, 60_000)? {
            settings.base_delay = Duration::from_millis(ms);
        }
        if let Some(n) = env_number("SLACK_SYNC_CONCURRENCY", 1, 64)? {
            settings.concurrency = n as usize;
        }
        Ok(settings)
    }
}

fn env_number(name: &'static str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!("{v:?} is not a number from {min} to {max}"),
            }),
        },
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SlackError {
    /// The token does not work: no call will succeed.
    #[error(
        "Slack refused the token: {error} (check slack_token in the secret, or SLACK_API_TOKEN locally)"
    )]
    Auth { error: String },
    /// Slack answered `ok: false`.
    #[error("Slack {method} failed: {error}")]
    Api { method: &'static str, error: String },
    /// Still rate limited after waiting as told, many times.
    #[error("Slack {method} stayed rate limited after {times} waits")]
    RateLimited { method: &'static str, times: u32 },
    /// 5xx answers, timeouts or connection failures, as many as we try.
    #[error("Slack {method} failed after {attempts} attempts: {reason}")]
    Unavailable {
        method: &'static str,
        attempts: u32,
        reason: String,
    },
    /// Not even a connection, after every retry: Slack is down (or unreachable from
    /// here), so no other call will do better.
    #[error("Slack is unreachable: {method} could not connect after {attempts} attempts")]
    Unreachable { method: &'static str, attempts: u32 },
    /// An answer that is not what Slack documents.
    #[error("Slack {method} answered unexpectedly: {reason}")]
    Unexpected {
        method: &'static str,
        reason: String,
    },
}

impl SlackError {
    /// Whether the whole run must stop.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Auth { .. } | Self::Unreachable { .. })
    }
}

/// A member as `users.list` lists them: what decides whether to sync them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub deleted: bool,
    pub is_bot: bool,
    /// `None` when Slack leaves the field out.
    pub is_email_confirmed: Option<bool>,
}

impl Member {
    fn from_json(value: &Value) -> Option<Self> {
        let flag = |key: &str| value.get(key).and_then(Value::as_bool);
        Some(Self {
            id: value.get("id")?.as_str()?.to_owned(),
            deleted: flag("deleted").unwrap_or(false),
            is_bot: flag("is_bot").unwrap_or(false),
            is_email_confirmed: flag("is_email_confirmed"),
        })
    }
}

pub struct SlackClient {
    http: reqwest::Client,
    base_url: String,
    token: SecretString,
    settings: SlackSettings,
    /// No request leaves before this (set by a 429's `Retry-After`).
    paused_until: Mutex<Option<Instant>>,
}

impl SlackClient {
    /// Fails, as an auth error, when no token is configured.
    pub fn new(settings: &SlackSettings) -> Result<Self, SlackError> {
        let token = settings.token.clone().ok_or_else(|| SlackError::Auth {
            error: "no token configured".into(),
        })?;
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .user_agent(concat!(
                "waffledotcom-slack-sync/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| SlackError::Unexpected {
                method: "client",
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            token,
            settings: settings.clone(),
            paused_until: Mutex::new(None),
        })
    }

    /// Every member, following `response_metadata.next_cursor` page by page (200 each).
    pub async fn list_members(&self) -> Result<Vec<Member>, SlackError> {
        let mut members = Vec::new();
        let mut cursor = String::new();
        // A cursor that never ends would be Slack's bug; stop long before it hurts.
        for _ in 0..10_000 {
            let mut query = vec![("limit", "200")];
            if !cursor.is_empty() {
                query.push(("cursor", cursor.as_str()));
            }
            let page = self.call("users.list", &query).await?;
            let listed = page
                .get("members")
                .and_then(Value::as_array)
                .ok_or_else(|| SlackError::Unexpected {
                    method: "users.list",
                    reason: "no members array".into(),
                })?;
            for value in listed {
                match Member::from_json(value) {
                    Some(member) => members.push(member),
                    None => tracing::warn!("users.list listed a member without an id; ignored"),
                }
            }
            cursor = page
                .pointer("/response_metadata/next_cursor")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if cursor.is_empty() {
                return Ok(members);
            }
        }
        Err(SlackError::Unexpected {
            method: "users.list",
            reason: "the cursor never ended".into(),
        })
    }

    /// The member's full profile (`profile`, with the custom `fields`).
    pub async fn profile(&self, user: &str) -> Result<Value, SlackError> {
        let answer = self.call("users.profile.get", &[("user", user)]).await?;
        match answer.get("profile") {
            Some(profile @ Value::Object(_)) => Ok(profile.clone()),
            _ => Err(SlackError::Unexpected {
                method: "users.profile.get",
                reason: "no profile object".into(),
            }),
        }
    }

    /// One Web API call, with the waits and retries described at the top.
    async fn call(
        &self,
        method: &'static str,
        query: &[(&str, &str)],
    ) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base_url);
        let mut failures = 0u32;
        let mut limited = 0u32;
        loop {
            self.wait_while_paused().await;
            let sent = self
                .http
                .get(&url)
                .query(query)
                .bearer_auth(self.token.expose_secret())
                .send()
                .await;
            // Why this attempt failed, and whether it reached Slack at all.
            let (reason, connected) = match sent {
                Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    limited += 1;
                    if limited > self.settings.max_rate_limited {
                        return Err(SlackError::RateLimited {
                            method,
                            times: limited - 1,
                        });
                    }
                    let wait = retry_after(&response)
                        .unwrap_or(Duration::from_secs(1))
                        .min(self.settings.max_retry_after);
                    tracing::info!(method, ?wait, "rate limited by Slack; waiting as told");
                    self.pause_for(wait);
                    continue;
                }
                Ok(response) if response.status().is_server_error() => {
                    (format!("HTTP {}", response.status().as_u16()), true)
                }
                Ok(response) if !response.status().is_success() => {
                    return Err(SlackError::Unexpected {
                        method,
                        reason: format!("HTTP {}", response.status().as_u16()),
                    });
                }
                Ok(response) => match response.bytes().await {
                    Ok(body) => return envelope(method, &body),
                    Err(error) => (describe(error), true),
                },
                Err(error) => {
                    let connected = !error.is_connect();
                    (describe(error), connected)
                }
            };
            failures += 1;
            if failures >= self.settings.max_attempts.max(1) {
                if !connected {
                    return Err(SlackError::Unreachable {
                        method,
                        attempts: failures,
                    });
                }
                return Err(SlackError::Unavailable {
                    method,
                    attempts: failures,
                    reason,
                });
            }
            let delay = self.settings.base_delay * 2u32.saturating_pow(failures - 1);
            tracing::info!(method, %reason, ?delay, attempt = failures, "Slack call failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn wait_while_paused(&self) {
        let until = *self
            .paused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }

    fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }
}

/// Seconds in `Retry-After` (Slack sends whole seconds).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Why a request failed, without the URL (which would carry the member id).
fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        error.without_url().to_string()
    }
}

/// The answer of a 2xx: `ok: true` gives the body; `ok: false` its error.
fn envelope(method: &'static str, body: &[u8]) -> Result<Value, SlackError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| SlackError::Unexpected {
        method,
        reason: "the body is not JSON".into(),
    })?;
    match value.get("ok").and_then(Value::as_bool) {
        Some(true) => Ok(value),
        Some(false) => {
            let error = value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown_error")
                .to_owned();
            if FATAL_ERRORS.contains(&error.as_str()) {
                Err(SlackError::Auth { error })
            } else {
                Err(SlackError::Api { method, error })
            }
        }
        None => Err(SlackError::Unexpected {
            method,
            reason: "no ok field".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_tell_fatal_errors_from_others() {
        assert!(envelope("users.list", br#"{"ok": true, "members": []}"#).is_ok());
        let auth = envelope("users.list", br#"{"ok": false, "error": "invalid_auth"}"#);
        assert!(auth.as_ref().is_err_and(SlackError::is_fatal), "{auth:?}");
        assert!(
            auth.unwrap_err().to_string().contains("invalid_auth"),
            "the message names Slack's error"
        );
        for fatal in ["not_authed", "account_inactive"] {
            let body = format!(r#"{{"ok": false, "error": "{fatal}"}}"#);
            assert!(envelope("users.list", body.as_bytes()).is_err_and(|e| e.is_fatal()));
        }
        let other = envelope(
            "users.profile.get",
            br#"{"ok": false, "error": "user_not_found"}"#,
        );
        assert!(matches!(other, Err(SlackError::Api { .. })));
        assert!(matches!(
            envelope("users.list", b"<html>"),
            Err(SlackError::Unexpected { .. })
        ));
    }

    #[tokio::test]
    async fn refused_connections_after_every_retry_are_fatal() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let mut settings = SlackSettings::new(
            format!("http://127.0.0.1:{port}/api"),
            Some(SecretString::from("xoxb-test")),
        );
        settings.base_delay = Duration::from_millis(1);
        let client = SlackClient::new(&settings).unwrap();
        let error = client.profile("U1").await.unwrap_err();
        assert!(
            matches!(
                error,
                SlackError::Unreachable {
                    method: "users.profile.get",
                    attempts: 4
                }
            ),
            "{error:?}"
        );
        assert!(error.is_fatal());
        // A 5xx after retries stays one member's failure.
        let busy = SlackError::Unavailable {
            method: "users.profile.get",
            attempts: 4,
            reason: "HTTP 503".into(),
        };
        assert!(!busy.is_fatal());
    }

    #[test]
    fn members_read_the_documented_flags() {
        let member = Member::from_json(&serde_json::json!({
            "id": "U1", "deleted": false, "is_bot": true
        }))
        .unwrap();
        assert_eq!(
            member,
            Member {
                id: "U1".into(),
                deleted: false,
                is_bot: true,
                is_email_confirmed: None
            }
        );
        assert_eq!(Member::from_json(&serde_json::json!({"name": "x"})), None);
    }
}
