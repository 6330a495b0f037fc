//! The MySQL pool, shaped for Lambda.
//!
//! Built once per cold start and connecting lazily, so a function that never touches the
//! database (`GET /health`) never opens a connection. Small (one or two connections per
//! execution environment) and quick to give up (3 s to get a connection, so a missing
//! database becomes a 503 well within the client's patience).
//!
//! An HTTP function keeps its connection between invocations (its prepared statements
//! with it), but only for a short idle time ([`DbConfig::wait_timeout`]): every new
//! connection asks the server to close it after that long idle, since a frozen execution
//! environment keeps its sockets and would otherwise hold one of the API account's
//! `max_user_connections` while nothing runs; and the pool drops a connection idle about
//! that long before using it, with no round trip (docs/operations.md, "Connection
//! budget"). Without a wait timeout (the local server, background functions) every
//! connection is pinged before use instead: a restarted server must not cost anyone an
//! error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{Connection, Executor, MySqlPool};

use crate::platform::config::DbConfig;
use crate::platform::error::{Error, is_connection_limit};

/// How long a caller waits for a connection (including connecting) before a 503.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle connections are closed well before MySQL's `wait_timeout` would cut them.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How much earlier than the server the pool gives up an idle connection: covers the
/// time between the check and the server reading the next command (at most a handler's
/// work before its first query).
const WAIT_TIMEOUT_MARGIN: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Database {
    pool: MySqlPool,
    #[cfg(feature = "aws")]
    iam: Option<std::sync::Arc<iam::IamAuth>>,
}

impl Database {
    /// A pool that opens no connection until one is needed.
    pub fn connect_lazy(config: &DbConfig) -> Self {
        Self {
            pool: pool_options(config).connect_lazy_with(connect_options(config, None)),
            #[cfg(feature = "aws")]
            iam: None,
        }
    }

    /// Like `connect_lazy`, but each new connection logs in with an RDS IAM auth token.
    #[cfg(feature = "aws")]
    pub fn connect_lazy_iam(config: &DbConfig, sdk: aws_config::SdkConfig) -> Self {
        let mut db = Self::connect_lazy(config);
        db.iam = Some(std::sync::Arc::new(iam::IamAuth::new(config, sdk)));
        db
    }

    /// Builds the pool the configuration asks for.
    /// (`Config::load` refuses IAM auth in a build without AWS access.)
    pub async fn from_config(config: &DbConfig) -> Self {
        #[cfg(feature = "aws")]
        if config.iam_auth {
            return Self::connect_lazy_iam(config, crate::platform::aws::sdk_config().await);
        }
        Self::connect_lazy(config)
    }

    /// The pool, with a fresh IAM token in its connect options when IAM auth is on.
    pub async fn pool(&self) -> Result<&MySqlPool, Error> {
        #[cfg(feature = "aws")]
        if let Some(iam) = &self.iam {
            iam.refresh(&self.pool).await?;
        }
        Ok(&self.pool)
    }

    /// A connection of the pool, for a handler's reads.
    pub async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<sqlx::MySql>, Error> {
        Ok(self.pool().await?.acquire().await?)
    }

    /// For the background functions (slack-sync, migrate), before their work: waits up
    /// to `patience` while the server refuses connections for want of room (a burst of
    /// API requests holds the account's `max_user_connections`, which lasts as long as
    /// those requests), then keeps the connection in the pool for the work. Any other
    /// failure returns at once.
    pub async fn wait_for_connection(&self, patience: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + patience;
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.pool().await?.acquire().await {
                Ok(_conn) => return Ok(()),
                Err(error) if is_connection_limit(&error) && Instant::now() < deadline => {
                    tracing::info!(%error, "the database has no room yet; waiting for a connection");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// Runs `work` in a transaction: committed when it succeeds, rolled back at once when it
/// fails. (A dropped transaction rolls back only when its connection is next used, and
/// until then holds its locks, which would stall a migration's DDL.)
pub async fn in_transaction<T>(
    pool: &MySqlPool,
    work: impl AsyncFnOnce(&mut sqlx::MySqlConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    commit_or_roll_back(pool.begin().await?, work).await
}

/// [`in_transaction`] on a connection the caller already holds (an admin's: see
/// `shared::domain::admin::Admin`).
pub async fn in_transaction_on<T>(
    conn: &mut sqlx::MySqlConnection,
    work: impl AsyncFnOnce(&mut sqlx::MySqlConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    commit_or_roll_back(conn.begin().await?, work).await
}

/// Whether `sql`, a query of one `?` (an id) that selects a row or none, finds its row:
/// with `FOR UPDATE` or `LOCK IN SHARE MODE`, that row is then locked until the
/// transaction ends.
pub async fn row_exists(
    conn: &mut sqlx::MySqlConnection,
    sql: &'static str,
    id: i32,
) -> Result<bool, Error> {
    let found: Option<i32> = sqlx::query_scalar(sql)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

async fn commit_or_roll_back<T>(
    mut tx: sqlx::Transaction<'_, sqlx::MySql>,
    work: impl AsyncFnOnce(&mut sqlx::MySqlConnection) -> Result<T, Error>,
) -> Result<T, Error> {
    match work(&mut tx).await {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(%rollback, "rollback failed; the connection is discarded");
            }
            Err(error)
        }
    }
}

/// RDS IAM authentication: a fresh token in the pool's connect options every ten
/// minutes. Only in builds with AWS access (the `aws` feature).
#[cfg(feature = "aws")]
mod iam {
    use std::time::{Duration, Instant};

    use sqlx::MySqlPool;
    use tokio::sync::Mutex;

    use crate::platform::config::DbConfig;
    use crate::platform::error::Error;

    /// RDS IAM tokens are valid for 15 minutes; new connections get a fresh one after 10.
    const IAM_TOKEN_REFRESH: Duration = Duration::from_secs(10 * 60);

    pub(super) struct IamAuth {
        config: DbConfig,
        sdk: aws_config::SdkConfig,
        /// When the pool's connect options last got a token; `None` before the first one.
        refreshed_at: Mutex<Option<Instant>>,
    }

    impl IamAuth {
        pub(super) fn new(config: &DbConfig, sdk: aws_config::SdkConfig) -> Self {
            Self {
                config: config.clone(),
                sdk,
                refreshed_at: Mutex::new(None),
            }
        }

        pub(super) async fn refresh(&self, pool: &MySqlPool) -> Result<(), Error> {
            let mut refreshed_at = self.refreshed_at.lock().await;
            if refreshed_at.is_some_and(|at| at.elapsed() < IAM_TOKEN_REFRESH) {
                return Ok(());
            }
            let token = auth_token(&self.config, &self.sdk).await?;
            pool.set_connect_options(super::connect_options(&self.config, Some(&token)));
            *refreshed_at = Some(Instant::now());
            Ok(())
        }
    }

    /// Signs an RDS IAM auth token (a presigned `connect` URL) with the SDK's credentials.
    /// Local signing, no network call.
    pub(super) async fn auth_token(
        config: &DbConfig,
        sdk: &aws_config::SdkConfig,
    ) -> Result<String, Error> {
        let unsigned = |e| Error::Unavailable(format!("cannot sign an RDS auth token: {e}"));
        let token_config = aws_sdk_rds::auth_token::Config::builder()
            .hostname(&config.host)
            .port(u64::from(config.port))
            .username(&config.username)
            .build()
            .map_err(unsigned)?;
        let token = aws_sdk_rds::auth_token::AuthTokenGenerator::new(token_config)
            .auth_token(sdk)
            .await
            .map_err(unsigned)?;
        Ok(token.as_str().to_owned())
    }
}

/// The configured options, with sqlx's own session statement left out: the pool sends
/// it, with the wait timeout, as one statement ([`session_statement`]).
fn connect_options(config: &DbConfig, password: Option<&str>) -> MySqlConnectOptions {
    config
        .connect_options(password)
        .pipes_as_concat(false)
        .no_engine_substitution(false)
        .timezone(None)
        .set_names(false)
}

/// What sqlx sends after connecting (the SQL modes it relies on, UTC, utf8mb4), plus the
/// server-side idle limit when there is one: one round trip.
fn session_statement(wait_timeout: Option<Duration>) -> String {
    let mut sql = String::from(
        "SET sql_mode=(SELECT CONCAT(@@sql_mode, ',PIPES_AS_CONCAT,NO_ENGINE_SUBSTITUTION')),\
         time_zone='+00:00',NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'",
    );
    if let Some(timeout) = wait_timeout {
        sql.push_str(&format!(",wait_timeout={}", timeout.as_secs().max(1)));
    }
    sql
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn pool_options(config: &DbConfig) -> MySqlPoolOptions {
    let statement: Arc<str> = session_statement(config.wait_timeout).into();
    let options = MySqlPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .max_lifetime(Duration::from_secs(30 * 60))
        .after_connect(move |conn, _meta| {
            let statement = statement.clone();
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(statement.to_string()))
                    .await?;
                Ok(())
            })
        });
    let Some(wait_timeout) = config.wait_timeout else {
        return options.idle_timeout(IDLE_TIMEOUT).test_before_acquire(true);
    };
    // The server closes a connection idle `wait_timeout`; the pool gives it up a little
    // earlier, judged without a round trip. Idle time is the pool's monotonic reading,
    // and at least the wall-clock time since the pool's last release: should the
    // monotonic clock stand still while Lambda freezes the environment, the wall clock
    // still moves (one connection per environment: its own release).
    let keep_for = wait_timeout.saturating_sub(WAIT_TIMEOUT_MARGIN.min(wait_timeout / 2));
    let released_at = Arc::new(AtomicU64::new(0));
    let on_release = released_at.clone();
    // No client-side reaper: the server frees the slot, as it must for a frozen
    // environment, whose reaper would not run.
    options
        .idle_timeout(None)
        .test_before_acquire(false)
        .after_release(move |_conn, _meta| {
            on_release.store(unix_millis(), Ordering::Relaxed);
            Box::pin(async { Ok(true) })
        })
        .before_acquire(move |_conn, meta| {
            let since_release = Duration::from_millis(
                unix_millis().saturating_sub(released_at.load(Ordering::Relaxed)),
            );
            let idle = meta.idle_for.max(since_release);
            let keep = idle < keep_for;
            if !keep {
                tracing::debug!(
                    idle_ms = idle.as_millis() as u64,
                    "dropping an idle connection"
                );
            }
            Box::pin(async move { Ok(keep) })
        })
}

#[cfg(all(test, feature = "aws"))]
mod tests {
    use super::iam::auth_token;
    use super::*;
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;

    #[tokio::test]
    async fn iam_tokens_are_presigned_connect_urls_for_the_configured_user() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .time_source(aws_smithy_async::time::SystemTimeSource::new())
            .region(aws_config::Region::new("ap-northeast-2"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            )))
            .build();
        let mut config = DbConfig::from_url("mysql://wadot@db.example.com:3306/waffledotcom")
            .expect("valid URL");
        config.iam_auth = true;
        let token = auth_token(&config, &sdk).await.expect("a token");
        assert!(
            token.starts_with("db.example.com:3306/?Action=connect&DBUser=wadot"),
            "{token}"
        );
        assert!(token.contains("X-Amz-Signature="), "{token}");
        assert!(token.contains("X-Amz-Credential=AKIDEXAMPLE"), "{token}");
        assert!(
            !token.contains("secret"),
            "the secret key signs, it is not sent"
        );
    }
}
