//! The local server as a real process on a real port.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use shared::platform::migrations;
use testkit::TestDb;
use testkit::http::{RawResponse, raw_request};
use testkit::jwt::{self, Algorithm, Key};
use tokio::process::{Child, Command};

const SITE: &str = "https://wafflestudio.com";

struct LocalServer {
    addr: String,
    _child: Child,
}

async fn start(db: &TestDb) -> LocalServer {
    start_with(db, &[]).await
}

/// The server on the test's database, with `env` on top (none of the developer's own
/// `WAFFLE_JWT_*` settings leak in).
async fn start_with(db: &TestDb, env: &[(&str, &str)]) -> LocalServer {
    let port = testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_local"));
    command
        .env("DATABASE_URL", &db.url)
        .env("BIND_ADDR", &addr)
        .env(
            "CORS_ALLOW_ORIGINS",
            format!("{SITE}, http://localhost:3000"),
        )
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("APP_ENV")
        .env_remove("WAFFLE_JWT_PUBLIC_KEY")
        .env_remove("WAFFLE_JWT_ISSUER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().expect("start the local server");
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

    let response = health(&server, &[("origin", SITE)]).await;
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
    let response = health(&server, &[("origin", "https://evil.example")]).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn tokens_are_verified_with_the_configured_public_key() {
    let db = TestDb::new().await;
    let key = jwt::public_pem();
    let server = start_with(
        &db,
        &[
            ("WAFFLE_JWT_PUBLIC_KEY", &key),
            ("WAFFLE_JWT_ISSUER", jwt::ISSUER),
        ],
    )
    .await;
    let valid = format!(
        "Bearer {}",
        jwt::mint("1234", jwt::ISSUER, 3600, Algorithm::RS512)
    );
    let response = health(&server, &[("authorization", &valid)]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json(), json!({"status": "OK"}));

    let response = health(&server, &[]).await;
    assert_eq!(response.status, 200, "anonymous: {}", response.body);

    let foreign = jwt::mint_claims(
        jwt::claims("1234", jwt::ISSUER, 3600),
        Algorithm::RS512,
        Key::Foreign,
    );
    for value in [format!("Bearer {foreign}"), "Bearer garbage".into()] {
        let response = health(&server, &[("authorization", &value), ("origin", SITE)]).await;
        assert_eq!(response.status, 403, "{value}");
        assert_eq!(
            response.json(),
            json!({"detail": "invalid or expired token"})
        );
        assert!(response.header("x-request-id").is_some());
        // A browser can read the denial.
        assert_eq!(response.header("access-control-allow-origin"), Some(SITE));
    }
}

async fn health(server: &LocalServer, headers: &[(&str, &str)]) -> RawResponse {
    raw_request(&server.addr, "GET", "/api/v1/health", headers, "")
        .await
        .expect("request")
}

#[tokio::test]
async fn without_a_public_key_requests_are_anonymous_and_tokens_are_denied() {
    let db = TestDb::new().await;
    let server = start(&db).await;
    assert_eq!(health(&server, &[]).await.status, 200);

    let valid = format!(
        "Bearer {}",
        jwt::mint("1234", jwt::ISSUER, 3600, Algorithm::RS512)
    );
    let response = health(&server, &[("authorization", &valid)]).await;
    assert_eq!(response.status, 403);
    assert_eq!(
        response.json(),
        json!({"detail": "invalid or expired token"})
    );
}

#[tokio::test]
async fn a_bad_key_configuration_stops_the_start_naming_the_variable() {
    let db = TestDb::new().await;
    let key = jwt::public_pem();
    for (env, expected) in [
        (
            vec![
                ("WAFFLE_JWT_PUBLIC_KEY", "not a key"),
                ("WAFFLE_JWT_ISSUER", jwt::ISSUER),
            ],
            "WAFFLE_JWT_PUBLIC_KEY: not an RSA public key",
        ),
        (
            vec![("WAFFLE_JWT_PUBLIC_KEY", key.as_str())],
            "WAFFLE_JWT_ISSUER is not set",
        ),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_local"));
        command
            .env("DATABASE_URL", &db.url)
            .env("BIND_ADDR", format!("127.0.0.1:{}", testkit::free_port()))
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("APP_ENV")
            .env_remove("WAFFLE_JWT_PUBLIC_KEY")
            .env_remove("WAFFLE_JWT_ISSUER")
            .envs(env)
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(30), command.output())
            .await
            .expect("the server gives up at once")
            .expect("run the local server");
        assert!(!output.status.success(), "{expected}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
}
