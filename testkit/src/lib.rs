//! Test support shared by every crate's integration tests: real parts only.
//!
//! - [`TestDb`]: a fresh MySQL database per test on the server in `DATABASE_URL`.
//! - [`RuntimeApi`]: a Lambda Runtime API emulator on loopback, and [`LambdaProcess`]
//!   to run a function binary against it.
//! - [`PrivateMariaDb`]: a MariaDB server of the test's own, to stop and restart.
//! - [`QueryCounter`]: the SELECTs a route runs, counted on a private MariaDB.
//! - [`Moto`]: moto's server mode, for Secrets Manager and other AWS APIs.
//! - [`http`]: requests through a router, and API Gateway events built from the
//!   samples in `fixtures/`.
//! - [`slack`]: a fake of the Slack Web API (`users.list`, `users.profile.get`).
//! - [`jwt`]: RSA key pairs made at test time, and tokens signed with them.

pub mod db;
pub mod github;
pub mod http;
pub mod jwt;
pub mod mariadb;
pub mod moto;
pub mod queries;
pub mod runtime;
pub mod slack;

pub use db::TestDb;
pub use mariadb::PrivateMariaDb;
pub use moto::Moto;
pub use queries::QueryCounter;
pub use runtime::{LambdaProcess, Outcome, RuntimeApi};

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The positions revision 4 seeds, in id order.
pub const SEEDED_POSITIONS: [&str; 6] = [
    "운영팀",
    "디자이너",
    "iOS",
    "안드로이드",
    "프론트엔드",
    "백엔드",
];

/// Declares `$name`, a function's router (`$router`, with the shared layers) on a fresh
/// migrated database, as a type of the test crate's own: the crate adds its helpers in
/// an `impl $name` block. `$name::new().await` builds one.
#[macro_export]
macro_rules! test_app {
    ($name:ident, $router:path) => {
        // Fields drop in order: the router (and its pool) before the database.
        struct $name {
            router: ::axum::Router,
            db: $crate::TestDb,
        }

        impl $name {
            async fn new() -> Self {
                let db = $crate::TestDb::migrated().await;
                let router = db.router($router).await;
                Self { router, db }
            }

            /// [`Self::new`] with an admin and a registered non-admin: see
            /// `TestDb::insert_admin_and_member`.
            #[allow(dead_code)]
            async fn with_admin_and_member() -> Self {
                let app = Self::new().await;
                app.db.insert_admin_and_member().await;
                app
            }
        }
    };
}

/// A Python tool's executable: `$var` if set, else the one `scripts/test` installs under
/// `target/venv`, else `name` on PATH.
pub fn python_tool(var: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/venv/bin/{name}"));
    if venv.is_file() {
        venv
    } else {
        PathBuf::from(name)
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("the OS hands out a loopback port")
}

/// Waits until something accepts TCP connections on `port`, up to `limit`.
pub async fn wait_for_port(port: u16, limit: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("nothing listened on 127.0.0.1:{port} within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
