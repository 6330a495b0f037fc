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

use std::time::Duration;

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
