//! The MySQL pool, shaped for Lambda.
//!
//! Built once per cold start and connecting lazily, so a function that never touches the
//! database (`GET /health`) never opens a connection. Small (one or two connections per
//! execution environment), quick to give up (3 s to get a connection, so a missing
//! database becomes a 503 well within the client's patience), and every connection is
//! pinged before use: a frozen environment wakes up holding sockets the server closed
//! long ago, and a restarted server must not cost anyone an error.
//!
//! Deployed, an HTTP function holds its connection for one invocation only
//! ([`Database::end_invocation`]): a frozen execution environment keeps its sockets, so
//! a connection kept between invocations would count against the API account's
//! `max_user_connections` while nothing runs (docs/operations.md, "Connection budget").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::mysql::MySqlPoolOptions;
use sqlx::{Connection, MySqlPool};

use crate::platform::config::DbConfig;
use crate::platform::error::{Error, is_connection_limit};

/// How long a caller waits for a connection (including connecting) before a 503.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Idle connections are closed well before MySQL's `wait_timeout` would cut them.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long [`Database::end_invocation`] waits for a connection still on its way back to
/// the pool (a dropped connection returns through a spawned task): normally well under a
/// millisecond; the bound only matters when the server hangs, and keeps the answer
/// within its deadline then.
const RETURN_WAIT: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub struct Database {
    pool: MySqlPool,
    /// Set by [`Database::end_invocation`]: connections given back to the pool are then
    /// closed instead of kept.
    closing: Arc<AtomicBool>,
    #[cfg(feature = "aws")]
    iam: Option<std::sync::Arc<iam::IamAuth>>,
}

impl Database {
    /// A pool that opens no connection until one is needed.
    pub fn connect_lazy(config: &DbConfig) -> Self {
        let closing = Arc::new(AtomicBool::new(false));
        Self {
            pool: pool_options(config.max_connections, closing.clone())
                .connect_lazy_with(config.connect_options(None)),
            closing,
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

    /// A Lambda invocation starts: connections are kept in the pool until it ends.
    pub fn begin_invocation(&self) {
        self.closing.store(false, Ordering::Release);
    }

    /// A Lambda invocation's answer is ready: closes every connection of the pool before
    /// the environment is frozen, so that the API account holds exactly one connection
    /// per invocation in flight and none for an idle environment. Closing sends
    /// `COM_QUIT` and shuts the socket: no round trip.
    pub async fn end_invocation(&self) {
        self.closing.store(true, Ordering::Release);
        let deadline = Instant::now() + RETURN_WAIT;
        while self.pool.size() > 0 {
            if let Some(conn) = self.pool.try_acquire() {
                if let Err(error) = conn.close().await {
                    tracing::debug!(%error, "closing a connection after the invocation");
                }
                continue;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    connections = self.pool.size(),
                    "a connection was not given back by the end of the invocation"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
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
            pool.set_connect_options(self.config.connect_options(Some(&token)));
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

fn pool_options(max_connections: u32, closing: Arc<AtomicBool>) -> MySqlPoolOptions {
    MySqlPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(IDLE_TIMEOUT)
        .max_lifetime(Duration::from_secs(30 * 60))
        .test_before_acquire(true)
        .after_release(move |_conn, _meta| {
            let keep = !closing.load(Ordering::Acquire);
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
