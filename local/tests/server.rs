//! The local server as a real process on a real port.

use std::process::Stdio;
use std::time::Duration;

use shared::migrations;
use testkit::TestDb;
use testkit::http::raw_request;
use tokio::process::{Child, Command};

const SITE: &str = "https://wafflestudio.com";

struct LocalServer {
    addr: String,
    _child: Child,
}

async fn start(db: &TestDb) -> LocalServer {
    let port = testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_local"))
        .env("DATABASE_URL", &db.url)
        .env("BIND_ADDR", &addr)
        .env(
            "CORS_ALLOW_ORIGINS",
            format!("{SITE}, http://localhost:3000"),
        )
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("APP_ENV")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the local server");
    testkit::wait_for_port(port, Duration::from_secs(30))
        .await
        .expect("the local server listens");
    LocalServer {
        addr,
        _child: child,
    }
}

#[tokio::test]
async fn applies_pending_migrations_at_start_and_serves_health() {
    let db = TestDb::new().await;
    let server = start(&db).await;

    let mut conn = db.connect().await;
    let status = migrations::status(&mut conn).await.expect("status");
    assert!(status.pending.is_empty(), "{status:?}");
    assert_eq!(status.current, Some(migrations::head()));

    let response = raw_request(&server.addr, "GET", "/api/v1/health/ready", &[], "")
        .await
        .expect("request");
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["schema_version"], migrations::head());
    assert!(response.header("x-request-id").is_some());
}

#[tokio::test]
async fn cors_allows_the_configured_origins_and_exposes_the_paging_headers() {
    let db = TestDb::new().await;
    let server = start(&db).await;

    let preflight = raw_request(
        &server.addr,
        "OPTIONS",
        "/api/v1/health",
        &[
            ("origin", SITE),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "authorization"),
        ],
        "",
    )
    .await
    .expect("preflight");
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.header("access-control-allow-origin"), Some(SITE));
    let allowed_headers = preflight
        .header("access-control-allow-headers")
        .unwrap_or_default();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    assert!(preflight.header("x-request-id").is_some());

    let response = raw_request(
        &server.addr,
        "GET",
        "/api/v1/health",
        &[("origin", SITE)],
        "",
    )
    .await
    .expect("request");
    assert_eq!(response.header("access-control-allow-origin"), Some(SITE));
    let exposed = response
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["link", "x-total-count", "etag", "x-request-id"] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }

    // Errors are readable cross-origin too.
    let missing = raw_request(&server.addr, "GET", "/api/v1/nope", &[("origin", SITE)], "")
        .await
        .expect("request");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("access-control-allow-origin"), Some(SITE));
}

#[tokio::test]
async fn cors_ignores_other_origins() {
    let db = TestDb::new().await;
    let server = start(&db).await;
    let response = raw_request(
        &server.addr,
        "GET",
        "/api/v1/health",
        &[("origin", "https://evil.example")],
        "",
    )
    .await
    .expect("request");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("access-control-allow-origin"), None);
}
