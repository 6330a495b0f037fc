//! Typed configuration, read once per cold start.
//!
//! Locally everything comes from the environment (`DATABASE_URL`, ...). Deployed
//! (`APP_ENV=dev|prod`), the database credentials come from the Secrets Manager secret
//! `<env>/waffledotcom`, in the old server's key layout, and every connection is TLS
//! verified against a CA, host name included: a deployed function refuses to start with
//! `DATABASE_URL` (which would skip that). Secret values are `SecretString`s: their
//! `Debug` prints `[REDACTED]`, so they cannot reach a log line by accident.

use std::path::PathBuf;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
#[cfg(feature = "aws")]
use serde::Deserialize;
use sqlx::mysql::MySqlConnectOptions;

use crate::platform::token::{KeyError, Tokens};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not set")]
    Missing { name: &'static str },
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error(transparent)]
    Token(#[from] KeyError),
    #[error("secret {secret_id} was not found in Secrets Manager")]
    SecretNotFound { secret_id: String },
    #[error("secret {secret_id} has no key {key}")]
    SecretKeyMissing {
        secret_id: String,
        key: &'static str,
    },
    #[error("secret {secret_id} could not be read: {reason}")]
    SecretUnreadable { secret_id: String, reason: String },
    /// A deployed setting in a build without AWS access (the local server's: see the
    /// `aws` feature in shared/Cargo.toml).
    #[error(
        "{name} needs AWS access, which this build leaves out: set DATABASE_URL (the local server builds without the AWS SDK)"
    )]
    NoAws { name: &'static str },
}

/// Where the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Local,
    Dev,
    Prod,
}

impl AppEnv {
    fn from_env() -> Result<Self, ConfigError> {
        match std::env::var("APP_ENV").as_deref() {
            Err(_) | Ok("" | "local") => Ok(Self::Local),
            Ok("dev") => Ok(Self::Dev),
            Ok("prod") => Ok(Self::Prod),
            Ok(other) => Err(ConfigError::Invalid {
                name: "APP_ENV",
                reason: format!("{other:?} is not one of local, dev, prod"),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Dev => "dev",
            Self::Prod => "prod",
        }
    }
}

/// Amazon RDS's global CA bundle (every region's root CAs), public: see
/// shared/certs/README.md for where this copy comes from. Deployed, every connection to
/// RDS is verified against it, host name included.
pub const RDS_CA_BUNDLE: &[u8] = include_bytes!("../../certs/rds-global-bundle.pem");

/// Amazon Trust Services' roots (Amazon Root CA 1–4, Starfield Services Root G2), public:
/// see shared/certs/README.md for where this copy comes from. An RDS Proxy presents an
/// ACM certificate that chains to one of them, not to the RDS CAs, so a connection
/// through `DB_PROXY_ENDPOINT` is verified against these:
/// https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.howitworks.html#rds-proxy-security
pub const AMAZON_ROOT_CAS: &[u8] = include_bytes!("../../certs/amazon-root-cas.pem");

/// Which database account a process logs in as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// The API functions: SELECT, INSERT, UPDATE and DELETE on the application's tables.
    Api,
    /// `migrate`: DDL too. Deployed, the secret `<env>/waffledotcom-migrator` when it
    /// exists, else the API's; locally `MIGRATOR_DATABASE_URL`, else `DATABASE_URL`.
    Migrator,
}

/// How to reach MySQL.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    pub database: String,
    /// Connect with a short-lived RDS IAM token (over TLS) instead of the password.
    pub iam_auth: bool,
    /// CA bundle to verify the server's certificate with (`DB_SSL_CA`); overrides
    /// `verify_rds`.
    pub ssl_ca: Option<PathBuf>,
    /// Verify the server against the CAs built into the binary (deployed): the RDS
    /// bundle, or Amazon's roots through a proxy (`via_proxy`).
    pub verify_rds: bool,
    /// `host` is an RDS Proxy's endpoint (`DB_PROXY_ENDPOINT`), whose certificate ACM
    /// issued: verified against [`AMAZON_ROOT_CAS`].
    pub via_proxy: bool,
    pub max_connections: u32,
    /// Set by the HTTP functions (`DB_WAIT_TIMEOUT`, [`DbConfig::DEFAULT_WAIT_TIMEOUT`]):
    /// the server closes a connection idle this long (`SET SESSION wait_timeout`), so a
    /// frozen environment's connection stops counting against the account, and the
    /// pool discards one idle about this long without a round trip. `None` (the local
    /// server, background functions): the server's own `wait_timeout`.
    pub wait_timeout: Option<std::time::Duration>,
}

impl DbConfig {
    /// How long an HTTP function's idle connection lives (docs/operations.md,
    /// "Connection budget"): long enough that one reader's requests, seconds apart, reuse
    /// it; short enough that a burst's environments give the account back its slots
    /// within a few of the `Retry-After: 2` retries of the requests they crowded out.
    pub const DEFAULT_WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

    /// An HTTP function's setting: `DB_WAIT_TIMEOUT` (whole seconds, at least 1), else
    /// [`DbConfig::DEFAULT_WAIT_TIMEOUT`].
    pub fn set_wait_timeout_from_env(&mut self) -> Result<(), ConfigError> {
        let seconds = env_parse::<u64>("DB_WAIT_TIMEOUT")?;
        self.wait_timeout = Some(match seconds {
            None => Self::DEFAULT_WAIT_TIMEOUT,
            Some(0) => {
                return Err(ConfigError::Invalid {
                    name: "DB_WAIT_TIMEOUT",
                    reason: "0 is not a number of seconds the server accepts".into(),
                });
            }
            Some(n) => std::time::Duration::from_secs(n),
        });
        Ok(())
    }

    /// Parses a `mysql://user:password@host:port/database` URL.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::Invalid {
            name: "DATABASE_URL",
            reason: reason.to_owned(),
        };
        // sqlx parses the URL (percent-decoding included); we read the parts back so
        // that the password lives in a SecretString like the deployed one.
        let options = MySqlConnectOptions::from_str(url)
            .map_err(|_| invalid("expected mysql://user:password@host:port/database"))?;
        let database = options
            .get_database()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| invalid("no database name in the URL"))?
            .to_owned();
        let password = url_password(url).unwrap_or_default();
        Ok(Self {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            username: options.get_username().to_owned(),
            password: SecretString::from(password),
            database,
            iam_auth: false,
            ssl_ca: None,
            verify_rds: false,
            via_proxy: false,
            max_connections: 2,
            wait_timeout: None,
        })
    }

    /// The built-in CAs the server's certificate is verified against, when it is.
    pub fn built_in_cas(&self) -> &'static [u8] {
        if self.via_proxy {
            AMAZON_ROOT_CAS
        } else {
            RDS_CA_BUNDLE
        }
    }

    /// Whether every connection is TLS with the server's certificate and host name
    /// verified: what a deployed function requires.
    pub fn verifies_tls(&self) -> bool {
        self.ssl_ca.is_some() || self.verify_rds
    }

    /// Connection options; `password` overrides the configured one (IAM tokens).
    pub fn connect_options(&self, password: Option<&str>) -> MySqlConnectOptions {
        use sqlx::mysql::MySqlSslMode;
        let mut options = MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.username)
            .database(&self.database)
            .charset("utf8mb4")
            .collation("utf8mb4_unicode_ci")
            .timezone(Some(String::from("+00:00")));
        // An empty password is sent as none: a passwordless account refuses an empty
        // scramble ("using password: YES").
        let password = password.unwrap_or(self.password.expose_secret());
        if !password.is_empty() {
            options = options.password(password);
        }
        options = match (&self.ssl_ca, self.verify_rds, self.iam_auth) {
            (Some(ca), _, _) => options.ssl_mode(MySqlSslMode::VerifyIdentity).ssl_ca(ca),
            (None, true, _) => options
                .ssl_mode(MySqlSslMode::VerifyIdentity)
                .ssl_ca_from_pem(self.built_in_cas().to_vec()),
            // IAM tokens must travel encrypted; RDS requires it.
            (None, false, true) => options.ssl_mode(MySqlSslMode::Required),
            (None, false, false) => options.ssl_mode(MySqlSslMode::Preferred),
        };
        if self.iam_auth {
            options = options.enable_cleartext_plugin(true);
        }
        options
    }
}

/// sqlx does not hand the password back, so read it from the URL ourselves.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    Some(percent_decode(password))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Everything a function needs, built once in `main`.
#[derive(Debug, Clone)]
pub struct Config {
    pub env: AppEnv,
    pub database: DbConfig,
    pub slack_token: Option<SecretString>,
    /// The callers' token check (`WAFFLE_JWT_PUBLIC_KEY`, `WAFFLE_JWT_ISSUER`), for the
    /// API's account; `None` for `migrate`'s, and locally without a key.
    pub tokens: Tokens,
}

/// The keys of the deployed secret, as the old server laid them out.
#[cfg(feature = "aws")]
#[derive(Deserialize)]
struct DeployedSecret {
    db_username: Option<String>,
    db_password: Option<SecretString>,
    db_host: Option<String>,
    db_port: Option<PortValue>,
    db_name: Option<String>,
    slack_token: Option<SecretString>,
}

/// The old secret stores the port as a string; accept a number too.
#[cfg(feature = "aws")]
#[derive(Deserialize)]
#[serde(untagged)]
enum PortValue {
    Number(u16),
    Text(String),
}

impl Config {
    /// Reads the configuration: the environment locally, Secrets Manager when deployed.
    pub async fn load() -> Result<Self, ConfigError> {
        Self::load_for(Account::Api).await
    }

    /// The configuration with `account`'s database credentials.
    pub async fn load_for(account: Account) -> Result<Self, ConfigError> {
        let env = AppEnv::from_env()?;
        // First: a missing or bad key fails the init before any secret is read.
        let tokens = match account {
            Account::Api => crate::platform::token::load()?,
            Account::Migrator => None,
        };
        let url = match account {
            Account::Migrator => std::env::var("MIGRATOR_DATABASE_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .ok_or(())
                .or_else(|()| std::env::var("DATABASE_URL")),
            Account::Api => std::env::var("DATABASE_URL"),
        };
        let mut config = match (env, url) {
            // Deployed, the secret and verified TLS only: a URL would bring neither.
            (AppEnv::Dev | AppEnv::Prod, Ok(url)) if !url.is_empty() => {
                return Err(ConfigError::Invalid {
                    name: "DATABASE_URL",
                    reason: format!(
                        "a deployed function (APP_ENV={}) reads its database from the secret \
                         {}/waffledotcom and connects over verified TLS only; unset it (and \
                         MIGRATOR_DATABASE_URL)",
                        env.as_str(),
                        env.as_str()
                    ),
                });
            }
            (_, Ok(url)) if !url.is_empty() => Self {
                env,
                database: DbConfig::from_url(&url)?,
                slack_token: env_secret("SLACK_API_TOKEN"),
                tokens: None,
            },
            (AppEnv::Local, _) => {
                return Err(ConfigError::Missing {
                    name: "DATABASE_URL",
                });
            }
            #[cfg(not(feature = "aws"))]
            (_, _) => {
                return Err(ConfigError::NoAws {
                    name: "DATABASE_URL",
                });
            }
            #[cfg(feature = "aws")]
            (_, _) => {
                let secret_id = format!("{}/waffledotcom", env.as_str());
                let sdk = crate::platform::aws::sdk_config().await;
                let migrator = match account {
                    Account::Migrator => {
                        let id = format!("{secret_id}-migrator");
                        match Self::from_secret(env, &id, &sdk).await {
                            Err(ConfigError::SecretNotFound { .. }) => None,
                            other => Some(other?),
                        }
                    }
                    Account::Api => None,
                };
                let mut config = match migrator {
                    Some(config) => config,
                    None => Self::from_secret(env, &secret_id, &sdk).await?,
                };
                config.database.verify_rds = true;
                config
            }
        };
        config.tokens = tokens;
        config.database.iam_auth = env_flag("DB_IAM_AUTH")?;
        if config.database.iam_auth && !cfg!(feature = "aws") {
            return Err(ConfigError::NoAws {
                name: "DB_IAM_AUTH",
            });
        }
        config.database.ssl_ca = std::env::var_os("DB_SSL_CA").map(PathBuf::from);
        if let Some(max) = env_parse::<u32>("DB_MAX_CONNECTIONS")? {
            config.database.max_connections = max.max(1);
        }
        // An RDS Proxy in front of the instance (template parameter DbProxyEndpoint):
        // same user, password or IAM token, database; only the host differs.
        if let Some(proxy) = std::env::var("DB_PROXY_ENDPOINT")
            .ok()
            .filter(|h| !h.is_empty())
        {
            config.database.host = proxy;
            config.database.via_proxy = true;
        }
        if env != AppEnv::Local && !config.database.verifies_tls() {
            return Err(ConfigError::Invalid {
                name: "APP_ENV",
                reason: "a deployed function connects over verified TLS only".into(),
            });
        }
        Ok(config)
    }

    /// Reads `secret_id` from Secrets Manager and builds the configuration from its keys.
    #[cfg(feature = "aws")]
    pub async fn from_secret(
        env: AppEnv,
        secret_id: &str,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, ConfigError> {
        let secret: DeployedSecret = read_secret(sdk, secret_id).await?;
        let missing = |key| ConfigError::SecretKeyMissing {
            secret_id: secret_id.to_owned(),
            key,
        };
        let port = match secret.db_port {
            None => 3306,
            Some(PortValue::Number(n)) => n,
            Some(PortValue::Text(t)) => t.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "db_port",
                reason: "not a port number".into(),
            })?,
        };
        Ok(Self {
            env,
            database: DbConfig {
                host: secret.db_host.ok_or_else(|| missing("db_host"))?,
                port,
                username: secret.db_username.ok_or_else(|| missing("db_username"))?,
                password: secret.db_password.ok_or_else(|| missing("db_password"))?,
                database: secret.db_name.ok_or_else(|| missing("db_name"))?,
                iam_auth: false,
                ssl_ca: None,
                verify_rds: false,
                via_proxy: false,
                max_connections: 2,
                wait_timeout: None,
            },
            slack_token: secret.slack_token,
            tokens: None,
        })
    }
}

/// Reads the Secrets Manager secret `secret_id` and parses its JSON text as `T`. No
/// error message quotes the secret's text.
#[cfg(feature = "aws")]
pub async fn read_secret<T: serde::de::DeserializeOwned>(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<T, ConfigError> {
    let output = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            let service = e.as_service_error();
            if service.is_some_and(|s| s.is_resource_not_found_exception()) {
                ConfigError::SecretNotFound {
                    secret_id: secret_id.to_owned(),
                }
            } else {
                ConfigError::SecretUnreadable {
                    secret_id: secret_id.to_owned(),
                    // The error's Display names the failure, never the secret's value.
                    reason: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                }
            }
        })?;
    let unreadable = |reason: &str| ConfigError::SecretUnreadable {
        secret_id: secret_id.to_owned(),
        reason: reason.to_owned(),
    };
    let text = output
        .secret_string()
        .ok_or_else(|| unreadable("it holds no SecretString"))?;
    // serde_json's error would quote the offending text, which is the secret: drop it.
    serde_json::from_str(text)
        .map_err(|_| unreadable("it is not a JSON object of the expected keys"))
}

fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

fn env_flag(name: &'static str) -> Result<bool, ConfigError> {
    match std::env::var(name).as_deref() {
        Err(_) | Ok("" | "0" | "false") => Ok(false),
        Ok("1" | "true") => Ok(true),
        Ok(other) => Err(ConfigError::Invalid {
            name,
            reason: format!("{other:?} is not true or false"),
        }),
    }
}

fn env_parse<T: FromStr>(name: &'static str) -> Result<Option<T>, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => v.parse().map(Some).map_err(|_| ConfigError::Invalid {
            name,
            reason: format!("{v:?} is not a number"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_are_read_back_and_decoded() {
        let db = DbConfig::from_url("mysql://waffle:p%40ss:w@db.local:3307/wadot").unwrap();
        assert_eq!(db.host, "db.local");
        assert_eq!(db.port, 3307);
        assert_eq!(db.username, "waffle");
        assert_eq!(db.password.expose_secret(), "p@ss:w");
        assert_eq!(db.database, "wadot");
    }

    #[test]
    fn url_without_database_is_refused() {
        let err = DbConfig::from_url("mysql://root@127.0.0.1:3306").unwrap_err();
        assert!(err.to_string().contains("no database name"), "{err}");
    }

    /// The proxy's certificate comes from ACM, whose roots are Amazon Trust Services':
    /// through `DB_PROXY_ENDPOINT` the built-in trust is those five roots, not RDS's CAs.
    #[test]
    fn a_proxy_is_verified_against_amazons_roots_and_rds_against_its_bundle() {
        let mut db = DbConfig::from_url("mysql://u@db.local:3306/d").unwrap();
        db.verify_rds = true;
        assert_eq!(db.built_in_cas(), RDS_CA_BUNDLE);
        db.via_proxy = true;
        assert_eq!(db.built_in_cas(), AMAZON_ROOT_CAS);
        let pem = std::str::from_utf8(AMAZON_ROOT_CAS).unwrap();
        assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert_eq!(pem.matches("-----END CERTIFICATE-----").count(), 5);
        // Each certificate's DER names its root (the subject's CN, in ASCII).
        let ders: Vec<Vec<u8>> = pem
            .split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|block| {
                let body: String = block
                    .split("-----END CERTIFICATE-----")
                    .next()
                    .unwrap_or_default()
                    .split_whitespace()
                    .collect();
                base64_decode(&body)
            })
            .collect();
        for (der, name) in ders.iter().zip([
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ]) {
            assert!(
                der.windows(name.len()).any(|w| w == name.as_bytes()),
                "{name}"
            );
        }
        let rds = std::str::from_utf8(RDS_CA_BUNDLE).unwrap();
        assert!(!rds.contains(pem.lines().nth(2).unwrap()), "distinct sets");
    }

    /// A small standard-alphabet base64 decoder, for the test above only.
    fn base64_decode(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut buffer, mut bits) = (0u32, 0);
        for byte in text.bytes().filter(|b| *b != b'=') {
            let value = ALPHABET.iter().position(|a| *a == byte).unwrap() as u32;
            buffer = (buffer << 6) | value;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        out
    }

    #[test]
    fn debug_output_hides_the_password() {
        let db = DbConfig::from_url("mysql://u:hunter2-secret@h:1/d").unwrap();
        assert!(!format!("{db:?}").contains("hunter2-secret"));
    }
}
