//! Counting the SELECTs a route runs, to prove that it runs a fixed number whatever the
//! amount of data: a private MariaDB (the shared test server's counters also count every
//! other test's queries), one migrated database on it, and an `AppState` whose pool
//! holds a single connection.

use shared::AppState;
use sqlx::{Connection, MySqlConnection};

use crate::PrivateMariaDb;
use crate::http::TestResponse;

/// A private server with one migrated database, and a connection that reads its
/// `Com_select` counter.
pub struct QueryCounter {
    /// `mysql://` URL of the migrated database.
    pub url: String,
    observer: MySqlConnection,
    /// What one reading of the counter adds to it (MariaDB counts its own `SHOW`).
    overhead: i64,
    server: PrivateMariaDb,
}

impl QueryCounter {
    /// Starts the server and migrates database `app` to head.
    pub async fn start() -> Self {
        let server = PrivateMariaDb::start().await.expect("private MariaDB");
        let url = server.create_migrated_database("app").await;
        let mut observer = MySqlConnection::connect(&server.url("mysql"))
            .await
            .expect("connect to the private server");
        let first = com_select(&mut observer).await;
        let second = com_select(&mut observer).await;
        Self {
            url,
            observer,
            overhead: second - first,
            server,
        }
    }

    /// [`QueryCounter::start`], with `make`'s router on it and a connection of the test's
    /// own for setting up rows.
    pub async fn start_with(
        make: impl FnOnce(AppState) -> axum::Router,
    ) -> (Self, axum::Router, MySqlConnection) {
        let counter = Self::start().await;
        let router = counter.router(make).await;
        let conn = counter.connect().await;
        (counter, router, conn)
    }

    /// The state a function is built with, on a pool of one connection. Send one request
    /// before counting, so that the connection's set-up statements are not counted.
    pub async fn state(&self) -> AppState {
        crate::db::single_connection_state(&self.url).await
    }

    /// `make`'s router (with the shared layers) on [`QueryCounter::state`].
    pub async fn router(&self, make: impl FnOnce(AppState) -> axum::Router) -> axum::Router {
        let state = self.state().await;
        let tokens = state.config.tokens.clone();
        shared::platform::http::with_shared_layers(make(state), tokens)
    }

    /// A connection of the test's own to the database, for setting up rows.
    pub async fn connect(&self) -> MySqlConnection {
        crate::db::connect(&self.url).await
    }

    /// What `work` returns, and how many SELECTs the server ran meanwhile (besides the
    /// counter's own readings).
    pub async fn selects<T>(&mut self, work: impl Future<Output = T>) -> (T, i64) {
        let before = com_select(&mut self.observer).await;
        let output = work.await;
        let after = com_select(&mut self.observer).await;
        (output, after - before - self.overhead)
    }

    /// The answer to `GET uri` through `router`, and the SELECTs it ran.
    pub async fn get(&mut self, router: &axum::Router, uri: &str) -> (TestResponse, i64) {
        self.selects(crate::http::get(uri).send(router)).await
    }

    /// Drops `router` (and its pool) first, then stops the server.
    pub async fn stop_after(self, router: axum::Router) {
        drop(router);
        self.stop().await;
    }

    /// Stops the server (it is also killed when the value is dropped).
    pub async fn stop(mut self) {
        self.server.stop().await.expect("stop the private server");
    }
}

/// Asserts that a route ran `expected` SELECTs for every data set it was tried on
/// (`counts`, one per data set, small to large): a fixed number, whatever the data.
pub fn assert_fixed(counts: &[i64], expected: i64, route: &str) {
    assert!(
        counts.iter().all(|&count| count == expected),
        "SELECTs of {route}, small to large: {counts:?}, expected {expected} each"
    );
}

async fn com_select(conn: &mut MySqlConnection) -> i64 {
    let (_, value): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Com_select'")
        .fetch_one(conn)
        .await
        .expect("read Com_select");
    value.parse().expect("Com_select is a number")
}
