//! Configuration, read once per cold start.
//!
//! Everything comes from the environment, with the defaults of the club's setup. The
//! GitHub token is `GITHUB_TOKEN` when that is set (locally, and in tests). Otherwise,
//! when `APP_ENV` is `dev` or `prod` or `GITHUB_TOKEN_SECRET_ID` is set, it is the key
//! `github-access-token` of the Secrets Manager secret `GITHUB_TOKEN_SECRET_ID` (default
//! `ecr-image-tag-updater`). Without either the function refuses to start rather than
//! calling GitHub anonymously. The token is a `SecretString`: its `Debug` prints
//! `[REDACTED]`, so no log line can show it.
//!
//! The function's own account and region, against which every event is checked (an
//! event from elsewhere is refused): `AWS_ACCOUNT_ID` (the template sets it to
//! `AWS::AccountId`) and `AWS_REGION` (Lambda sets it), each else read from `ECR_HOST`
//! when that is an ECR registry's host (`<account>.dkr.ecr.<region>.amazonaws.com`, as
//! the template writes it). When both are known they must agree: the images the
//! manifests name are the ones the function asks its own ECR about.

use secrecy::{ExposeSecret, SecretString};
use shared::platform::config::ConfigError as SecretError;

pub const DEFAULT_ECR_HOST: &str = "405906814034.dkr.ecr.ap-northeast-2.amazonaws.com";
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
pub const DEFAULT_GITHUB_REPOSITORY: &str = "wafflestudio/waffle-world";
pub const DEFAULT_GITHUB_BRANCH: &str = "main";
/// The secret ecr-heimdall used, kept so that the deployed token does not move.
pub const DEFAULT_TOKEN_SECRET_ID: &str = "ecr-image-tag-updater";
pub const TOKEN_SECRET_KEY: &str = "github-access-token";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "GITHUB_TOKEN is not set: set it locally; deployed, set APP_ENV=dev|prod (or \
         GITHUB_TOKEN_SECRET_ID) to read the token from Secrets Manager"
    )]
    NoToken,
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("the HTTP client could not be built: {0}")]
    HttpClient(String),
}

/// Everything the function needs, built once in `main`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The registry host images are pulled from, as written in the manifests.
    pub ecr_host: String,
    /// GitHub's REST API base URL, without a trailing slash.
    pub api_url: String,
    /// `owner/name` of the GitOps repository.
    pub repository: String,
    pub branch: String,
    pub token: SecretString,
    /// The function's own account (12 digits) and region: events from any other are
    /// refused, and ECR is asked in these.
    pub account: String,
    pub region: String,
}

/// Where the token comes from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    Environment(SecretString),
    SecretsManager { secret_id: String },
}

/// The configuration as the environment states it, before any secret is read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub ecr_host: String,
    pub api_url: String,
    pub repository: String,
    pub branch: String,
    pub token: TokenSource,
    pub account: String,
    pub region: String,
}

impl Config {
    /// Reads the environment and, deployed, the token's secret (with
    /// `shared::platform::aws::sdk_config()`).
    pub async fn load() -> Result<Self, ConfigError> {
        let settings = Settings::from_lookup(|name| std::env::var(name).ok())?;
        let token = match &settings.token {
            TokenSource::Environment(token) => token.clone(),
            TokenSource::SecretsManager { secret_id } => {
                let sdk = shared::platform::aws::sdk_config().await;
                read_token(&sdk, secret_id).await?
            }
        };
        Ok(settings.with_token(token))
    }
}

impl Settings {
    /// Reads the settings through `lookup` (the environment in `main`); an empty value
    /// counts as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let or = |name: &str, default: &str| get(name).unwrap_or_else(|| default.to_owned());

        let ecr_host = or("ECR_HOST", DEFAULT_ECR_HOST)
            .trim_end_matches('/')
            .to_owned();
        if ecr_host.is_empty() || ecr_host.contains(['/', ' ', '\t']) {
            return Err(invalid("ECR_HOST", "expected a registry host name"));
        }
        let api_url = or("GITHUB_API_URL", DEFAULT_GITHUB_API_URL)
            .trim_end_matches('/')
            .to_owned();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(invalid("GITHUB_API_URL", "expected an http(s):// URL"));
        }
        let repository = or("GITHUB_REPOSITORY", DEFAULT_GITHUB_REPOSITORY);
        if !is_owner_and_name(&repository) {
            return Err(invalid("GITHUB_REPOSITORY", "expected owner/name"));
        }
        let branch = or("GITHUB_BRANCH", DEFAULT_GITHUB_BRANCH);
        if branch.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("GITHUB_BRANCH", "a branch name has no spaces"));
        }

        let (account, region) = own_account_and_region(&ecr_host, &get)?;

        let deployed = match get("APP_ENV").as_deref() {
            None | Some("local") => false,
            Some("dev" | "prod") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "APP_ENV",
                    reason: format!("{other:?} is not one of local, dev, prod"),
                });
            }
        };
        let token = match (get("GITHUB_TOKEN"), get("GITHUB_TOKEN_SECRET_ID")) {
            (Some(token), _) => TokenSource::Environment(checked_token(token)?),
            (None, Some(secret_id)) => TokenSource::SecretsManager { secret_id },
            (None, None) if deployed => TokenSource::SecretsManager {
                secret_id: DEFAULT_TOKEN_SECRET_ID.to_owned(),
            },
            (None, None) => return Err(ConfigError::NoToken),
        };
        Ok(Self {
            ecr_host,
            api_url,
            repository,
            branch,
            token,
            account,
            region,
        })
    }

    pub fn with_token(self, token: SecretString) -> Config {
        Config {
            ecr_host: self.ecr_host,
            api_url: self.api_url,
            repository: self.repository,
            branch: self.branch,
            token,
            account: self.account,
            region: self.region,
        }
    }
}

/// `<account>.dkr.ecr.<region>.amazonaws.com` (or `.com.cn`): the account and region of
/// an ECR registry's host; `None` for any other host (a local registry).
pub fn registry_of(host: &str) -> Option<(&str, &str)> {
    let (account, rest) = host.split_once(".dkr.ecr.")?;
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"))?;
    (is_account(account) && is_region(region)).then_some((account, region))
}

fn is_account(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The function's own account and region (see the module's documentation).
fn own_account_and_region(
    ecr_host: &str,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(String, String), ConfigError> {
    let registry = registry_of(ecr_host);
    let account = match get("AWS_ACCOUNT_ID") {
        Some(account) if is_account(&account) => account,
        Some(_) => return Err(invalid("AWS_ACCOUNT_ID", "expected 12 digits")),
        None => match registry {
            Some((account, _)) => account.to_owned(),
            None => {
                return Err(invalid(
                    "AWS_ACCOUNT_ID",
                    "not set, and ECR_HOST names no account: the function must know its own",
                ));
            }
        },
    };
    let region = match get("AWS_REGION") {
        Some(region) if is_region(&region) => region,
        Some(_) => return Err(invalid("AWS_REGION", "expected a region name")),
        None => match registry {
            Some((_, region)) => region.to_owned(),
            None => {
                return Err(invalid(
                    "AWS_REGION",
                    "not set, and ECR_HOST names no region: the function must know its own",
                ));
            }
        },
    };
    if let Some((host_account, host_region)) = registry
        && (host_account != account || host_region != region)
    {
        return Err(ConfigError::Invalid {
            name: "ECR_HOST",
            reason: format!(
                "it names account {host_account} in {host_region}, but the function runs in \
                 account {account} in {region}: ECR would be asked about other images than \
                 the manifests name"
            ),
        });
    }
    Ok((account, region))
}

/// Reads the key `github-access-token` of the JSON secret `secret_id`. No error message
/// quotes the secret's text.
pub async fn read_token(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<SecretString, ConfigError> {
    let secret: std::collections::HashMap<String, serde_json::Value> =
        shared::platform::config::read_secret(sdk, secret_id).await?;
    let token = secret
        .get(TOKEN_SECRET_KEY)
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| SecretError::SecretKeyMissing {
            secret_id: secret_id.to_owned(),
            key: TOKEN_SECRET_KEY,
        })?;
    checked_token(token.to_owned())
}

/// A token goes into an `Authorization` header: visible ASCII only. The reason never
/// quotes it.
fn checked_token(token: String) -> Result<SecretString, ConfigError> {
    let token = SecretString::from(token);
    if token.expose_secret().bytes().all(|b| b.is_ascii_graphic()) {
        Ok(token)
    } else {
        Err(invalid(
            "GITHUB_TOKEN",
            "the token holds characters a header cannot carry",
        ))
    }
}

fn is_owner_and_name(repository: &str) -> bool {
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(repository.split_once('/'), Some((owner, name)) if valid(owner) && valid(name))
}

fn invalid(name: &'static str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_are_the_clubs_setup() {
        let s = settings(&[("GITHUB_TOKEN", "ghp_local")]).unwrap();
        assert_eq!(s.ecr_host, DEFAULT_ECR_HOST);
        assert_eq!(s.api_url, "https://api.github.com");
        assert_eq!(s.repository, "wafflestudio/waffle-world");
        assert_eq!(s.branch, "main");
        assert!(matches!(s.token, TokenSource::Environment(t) if t.expose_secret() == "ghp_local"));
        assert_eq!(
            (s.account.as_str(), s.region.as_str()),
            ("405906814034", "ap-northeast-2")
        );
    }

    #[test]
    fn the_functions_own_account_and_region_are_known_and_agree_with_the_registry() {
        let token = ("GITHUB_TOKEN", "t");
        let s = settings(&[
            token,
            ("AWS_ACCOUNT_ID", "405906814034"),
            ("AWS_REGION", "ap-northeast-2"),
        ])
        .unwrap();
        assert_eq!(
            (s.account.as_str(), s.region.as_str()),
            ("405906814034", "ap-northeast-2")
        );
        // A registry that is not ECR's: the account and region must be given.
        let local = ("ECR_HOST", "registry.local:5000");
        let err = settings(&[token, local, ("AWS_REGION", "ap-northeast-2")]).unwrap_err();
        assert!(err.to_string().starts_with("AWS_ACCOUNT_ID"), "{err}");
        let s = settings(&[
            token,
            local,
            ("AWS_ACCOUNT_ID", "111122223333"),
            ("AWS_REGION", "us-east-1"),
        ])
        .unwrap();
        assert_eq!(
            (s.account.as_str(), s.region.as_str()),
            ("111122223333", "us-east-1")
        );
        // ECR_HOST of another account or region than the function's: refused.
        for (name, value) in [
            ("AWS_ACCOUNT_ID", "111122223333"),
            ("AWS_REGION", "us-east-1"),
        ] {
            let err = settings(&[token, (name, value)]).unwrap_err();
            assert!(err.to_string().starts_with("ECR_HOST"), "{err}");
        }
        let err = settings(&[token, ("AWS_ACCOUNT_ID", "4059068140")]).unwrap_err();
        assert!(err.to_string().starts_with("AWS_ACCOUNT_ID"), "{err}");
        assert_eq!(
            registry_of("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            Some(("123456789012", "cn-north-1"))
        );
        assert_eq!(registry_of("public.ecr.aws"), None);
    }

    #[test]
    fn deployed_without_a_token_reads_the_secret() {
        for env in ["dev", "prod"] {
            let s = settings(&[("APP_ENV", env)]).unwrap();
            assert!(
                matches!(&s.token, TokenSource::SecretsManager { secret_id } if secret_id == "ecr-image-tag-updater"),
                "{s:?}"
            );
        }
        let s = settings(&[("GITHUB_TOKEN_SECRET_ID", "other-secret")]).unwrap();
        assert!(
            matches!(&s.token, TokenSource::SecretsManager { secret_id } if secret_id == "other-secret")
        );
        // The environment's token wins, as DATABASE_URL wins over the database secret.
        let s = settings(&[("APP_ENV", "prod"), ("GITHUB_TOKEN", "ghp_x")]).unwrap();
        assert!(matches!(s.token, TokenSource::Environment(_)));
    }

    #[test]
    fn locally_without_a_token_is_refused() {
        let err = settings(&[]).unwrap_err();
        assert!(matches!(err, ConfigError::NoToken));
        assert!(err.to_string().contains("GITHUB_TOKEN"), "{err}");
        let err = settings(&[("GITHUB_TOKEN", "  ")]).unwrap_err();
        assert!(matches!(err, ConfigError::NoToken));
    }

    #[test]
    fn bad_values_are_named() {
        let token = ("GITHUB_TOKEN", "t");
        for (vars, name) in [
            (
                vec![token, ("GITHUB_REPOSITORY", "waffle-world")],
                "GITHUB_REPOSITORY",
            ),
            (
                vec![token, ("GITHUB_REPOSITORY", "a/b/c")],
                "GITHUB_REPOSITORY",
            ),
            (
                vec![token, ("GITHUB_API_URL", "api.github.com")],
                "GITHUB_API_URL",
            ),
            (vec![token, ("ECR_HOST", "host/path")], "ECR_HOST"),
            (vec![token, ("AWS_REGION", "Not A Region")], "AWS_REGION"),
            (vec![token, ("GITHUB_BRANCH", "my branch")], "GITHUB_BRANCH"),
            (vec![("APP_ENV", "staging")], "APP_ENV"),
            (vec![("GITHUB_TOKEN", "two\u{7f}words")], "GITHUB_TOKEN"),
        ] {
            let err = settings(&vars).unwrap_err();
            assert!(err.to_string().starts_with(name), "{vars:?}: {err}");
        }
    }

    #[test]
    fn trailing_slashes_are_dropped() {
        let s = settings(&[
            ("GITHUB_TOKEN", "t"),
            ("GITHUB_API_URL", "http://127.0.0.1:9000/"),
            ("ECR_HOST", "registry.local:5000/"),
            ("AWS_ACCOUNT_ID", "123456789012"),
            ("AWS_REGION", "ap-northeast-2"),
        ])
        .unwrap();
        assert_eq!(s.api_url, "http://127.0.0.1:9000");
        assert_eq!(s.ecr_host, "registry.local:5000");
    }

    #[test]
    fn debug_output_hides_the_token() {
        let s = settings(&[("GITHUB_TOKEN", "ghp_never_printed")]).unwrap();
        let config = s
            .clone()
            .with_token(SecretString::from("ghp_never_printed"));
        assert!(!format!("{s:?}{config:?}").contains("ghp_never_printed"));
    }
}
