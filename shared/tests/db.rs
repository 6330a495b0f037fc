//! The pool of an HTTP function (shared::platform::db; docs/operations.md, "Connection
//! budget"): its connection is kept between uses, the server closes it after
//! `wait_timeout` idle, and the pool then connects anew instead of using the dead one.

use std::time::Duration;

use shared::platform::db::Database;
use testkit::TestDb;

async fn session(db: &Database) -> (u64, u64, String, String) {
    let mut conn = db.acquire().await.expect("a connection");
    sqlx::query_as(
        "SELECT CONNECTION_ID(), @@SESSION.wait_timeout, @@SESSION.time_zone, \
         @@SESSION.collation_connection",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("the session's settings")
}

#[tokio::test]
async fn an_idle_connection_is_kept_until_the_server_closes_it_then_replaced() {
    let test_db = TestDb::new().await;
    let mut config = test_db.db_config();
    config.max_connections = 1;
    config.wait_timeout = Some(Duration::from_secs(2));
    let db = Database::connect_lazy(&config);

    let (first, wait_timeout, time_zone, collation) = session(&db).await;
    assert_eq!(wait_timeout, 2, "the session's wait_timeout");
    assert_eq!(time_zone, "+00:00");
    assert_eq!(collation, "utf8mb4_unicode_ci");
    let (again, ..) = session(&db).await;
    assert_eq!(again, first, "the connection is kept between uses");

    // Past the server's wait_timeout: it closed the connection; the pool notices without
    // a query and connects anew, so the next use succeeds.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut admin = test_db.connect().await;
    let alive: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?")
            .bind(first)
            .fetch_one(&mut admin)
            .await
            .expect("the process list");
    assert_eq!(alive, 0, "the server closed the idle connection");
    let (replaced, ..) = session(&db).await;
    assert_ne!(replaced, first, "a new connection, not the dead one");
}

#[tokio::test]
async fn without_a_wait_timeout_the_servers_own_applies() {
    let test_db = TestDb::new().await;
    let mut config = test_db.db_config();
    config.max_connections = 1;
    let db = Database::connect_lazy(&config);
    let (_, wait_timeout, time_zone, _) = session(&db).await;
    assert!(wait_timeout > 2, "{wait_timeout}");
    assert_eq!(time_zone, "+00:00");
}
