//! The state every API function is built with, once per cold start.

use std::sync::Arc;

use crate::platform::config::{Config, ConfigError};
use crate::platform::db::Database;

#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub config: Arc<Config>,
}

impl AppState {
    pub async fn new(config: Config) -> Self {
        Self {
            db: Database::from_config(&config.database).await,
            config: Arc::new(config),
        }
    }

    /// Reads the configuration (environment or Secrets Manager) and builds the pool,
    /// which connects on first use.
    pub async fn from_env() -> Result<Self, ConfigError> {
        Ok(Self::new(Config::load().await?).await)
    }

    /// An HTTP function's state: idle connections are kept between invocations, and
    /// the server closes them after `DB_WAIT_TIMEOUT` (docs/operations.md, "Connection
    /// budget"). Background functions hold a connection across long waits (migrate's
    /// lock, the Slack sync's API calls) and keep the server's `wait_timeout`.
    pub async fn for_http_function() -> Result<Self, ConfigError> {
        let mut config = Config::load().await?;
        config.database.set_wait_timeout_from_env()?;
        Ok(Self::new(config).await)
    }

    /// The same, logged in as `migrate`'s account (DDL), when one is configured.
    pub async fn for_migrations() -> Result<Self, ConfigError> {
        Ok(Self::new(Config::load_for(crate::platform::config::Account::Migrator).await?).await)
    }
}
