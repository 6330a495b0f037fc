//! The health function, and through it the plumbing every function shares.

use std::time::{Duration, Instant};

use axum::Router;
use http::{Method, StatusCode};
use serde_json::json;
use shared::platform::config::DbConfig;
use shared::{AppState, Config, platform::migrations};
use testkit::http::{apigw_event, apigw_response, get, request};
use testkit::{LambdaProcess, Moto, PrivateMariaDb, RuntimeApi, TestDb};

fn app(state: AppState) -> Router {
    shared::platform::http::with_shared_layers(health::router(state), testkit::jwt::tokens())
}

/// State whose database is a closed port: any query would fail.
async fn unreachable_state() -> AppState {
    testkit::db::single_connection_state("mysql://root@127.0.0.1:1/nowhere").await
}

#[tokio::test]
async fn liveness_answers_ok_on_both_paths_without_the_database() {
    let app = app(unreachable_state().await);
    for path in ["/api/v1/health", "/api/v1/health/"] {
        let started = Instant::now();
        let response = get(path).send(&app).await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        assert_eq!(response.json(), json!({"status": "OK"}), "{path}");
        // A database attempt would take the 3 s acquire timeout.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{path} touched the database"
        );
    }
}

#[tokio::test]
async fn readiness_reports_the_schema_version_at_head() {
    let db = TestDb::migrated().await;
    let response = get("/api/v1/health/ready")
        .send(&app(db.state().await))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json(),
        json!({"status": "OK", "database": "OK", "schema_version": migrations::head()})
    );
}

#[tokio::test]
async fn readiness_is_503_while_migrations_are_pending() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    migrations::run(
        &mut conn,
        &migrations::Command::Upgrade {
            target: migrations::Target::Version(1),
        },
    )
    .await
    .expect("upgrade to revision 1");
    let response = get("/api/v1/health/ready")
        .send(&app(db.state().await))
        .await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.header("retry-after"), Some("2"));
    let detail = response.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Which reason, and nothing of the revisions or how to repair (that is logged).
    assert_eq!(detail, "not ready: migrations are pending");
}

#[tokio::test]
async fn readiness_is_503_while_the_database_is_down_and_recovers_in_the_same_process() {
    let (mut server, url) = PrivateMariaDb::with_app_database().await;
    let mut config = DbConfig::from_url(&url).expect("valid URL");
    config.max_connections = 2;
    let state = AppState::new(Config {
        env: shared::platform::config::AppEnv::Local,
        database: config,
        slack_token: None,
        tokens: None,
    })
    .await;
    {
        let pool = state.db.pool().await.expect("pool");
        let mut conn = pool.acquire().await.expect("connect");
        testkit::db::migrate_to_head(&mut conn).await;
    }
    let app = app(state);
    assert_eq!(
        get("/api/v1/health/ready").send(&app).await.status,
        StatusCode::OK
    );

    server.stop().await.expect("stop the server");
    for _ in 0..3 {
        let started = Instant::now();
        let response = get("/api/v1/health/ready").send(&app).await;
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(response.header("retry-after"), Some("2"));
        // No host, port, SQL or driver message: only which of the two reasons holds.
        assert_eq!(
            response.json()["detail"],
            "not ready: the database is unreachable"
        );
    }

    server.resume().await.expect("restart the server");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = get("/api/v1/health/ready").send(&app).await;
        if response.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery: {:?}",
            response.json()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_404_and_405() {
    let app = app(unreachable_state().await);
    let response = get("/api/v1/nothing-here").send(&app).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.json(), json!({"detail": "Not Found"}));

    let response = request(Method::DELETE, "/api/v1/health").send(&app).await;
    assert_eq!(response.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.json(), json!({"detail": "method not allowed"}));
    assert!(response.header("x-request-id").is_some());
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_with_413() {
    let app = app(unreachable_state().await);
    let body = "x".repeat(64 * 1024 + 1);
    let response = request(Method::POST, "/api/v1/health")
        .header("content-length", &body.len().to_string())
        .body(body)
        .send(&app)
        .await;
    response.assert_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body is larger than 64 KiB",
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = app(unreachable_state().await);
    let generated = get("/api/v1/health").send(&app).await;
    let id = generated.header("x-request-id").expect("an id").to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let other = get("/api/v1/health").send(&app).await;
    assert_ne!(other.header("x-request-id"), Some(id.as_str()));

    // A client's id is logged beside ours (functions/users/tests/logs.rs), never
    // answered as ours.
    for sent in ["trace-abc-123", "evil id;with spaces"] {
        let answered = get("/api/v1/health")
            .header("x-request-id", sent)
            .send(&app)
            .await;
        let ours = answered.header("x-request-id").expect("an id");
        assert_ne!(ours, sent);
        assert_eq!(ours.len(), 36, "a UUID: {ours}");
    }
}

#[tokio::test]
async fn binary_answers_api_gateway_events_through_the_runtime_api() {
    let db = TestDb::migrated().await;
    let (runtime, mut process) =
        LambdaProcess::start(env!("CARGO_BIN_EXE_health"), &[("DATABASE_URL", &db.url)]).await;

    let event = apigw_event("GET", "/api/v1/health", None, None);
    let gateway_id = event["requestContext"]["requestId"].clone();
    let (status, headers, body) = apigw_response(&runtime.invoke(event).await.response());
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "OK"}));
    assert_eq!(
        headers["x-request-id"], gateway_id,
        "API Gateway's request id is kept"
    );

    let event = apigw_event("GET", "/api/v1/health/ready", None, Some("1234"));
    let dbg_out = runtime.invoke(event.clone()).await.response();
    eprintln!("DBG {dbg_out} {}", process.logs());
    let (status, _, body) = apigw_response(&runtime.invoke(event).await.response());
    assert_eq!(status, 200);
    assert_eq!(body["schema_version"], json!(migrations::head()));

    let event = apigw_event("GET", "/api/v1/unknown", None, None);
    let (status, _, body) = apigw_response(&runtime.invoke(event).await.response());
    assert_eq!(status, 404);
    assert_eq!(body["detail"], "Not Found");
    assert!(process.is_running());
}

/// Deployed (`APP_ENV=dev`, no `DATABASE_URL`), the binary reads its database from the
/// Secrets Manager secret `dev/waffledotcom` in the old key layout, and logs none of it.
/// A CA and a certificate for 127.0.0.1 signed by it, made with the `openssl` command in
/// `dir`: (CA, certificate, key) paths.
fn test_certificates(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    let [ca, ca_key, cert, key, csr, ext] = [
        "ca.pem",
        "ca.key",
        "server.pem",
        "server.key",
        "server.csr",
        "san.ext",
    ]
    .map(|name| dir.join(name));
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1\n").expect("write the SAN extension");
    let run = |args: &[&std::ffi::OsStr]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run openssl (scripts/check-deploy installs it; Debian: openssl)");
        assert!(status.success(), "openssl {args:?}");
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    run(&[
        os("req"),
        os("-x509"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-days"),
        os("1"),
        os("-subj"),
        os("/CN=waffledotcom test CA"),
        os("-keyout"),
        ca_key.as_os_str(),
        os("-out"),
        ca.as_os_str(),
    ]);
    run(&[
        os("req"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-subj"),
        os("/CN=127.0.0.1"),
        os("-keyout"),
        key.as_os_str(),
        os("-out"),
        csr.as_os_str(),
    ]);
    run(&[
        os("x509"),
        os("-req"),
        os("-in"),
        csr.as_os_str(),
        os("-CA"),
        ca.as_os_str(),
        os("-CAkey"),
        ca_key.as_os_str(),
        os("-CAcreateserial"),
        os("-days"),
        os("1"),
        os("-extfile"),
        ext.as_os_str(),
        os("-out"),
        cert.as_os_str(),
    ]);
    [ca, cert, key]
}

/// Deployed, the binary reads its database from the secret and reaches it only over TLS
/// verified against a CA: the RDS bundle built in (a server whose certificate another CA
/// signed is unreachable), or `DB_SSL_CA` (here a CA made for the test).
#[tokio::test]
async fn deployed_binary_reads_the_database_from_secrets_manager_over_verified_tls_and_logs_no_secret()
 {
    let dir = std::env::temp_dir().join(format!("wd-tls-{}", uuid_like()));
    std::fs::create_dir_all(&dir).expect("a folder for the certificates");
    let [ca, cert, key] = test_certificates(&dir);
    let server_options = [
        format!("--ssl-ca={}", ca.display()),
        format!("--ssl-cert={}", cert.display()),
        format!("--ssl-key={}", key.display()),
        "--require-secure-transport=ON".to_owned(),
    ];
    let options: Vec<&str> = server_options.iter().map(String::as_str).collect();
    let server = PrivateMariaDb::start_with(&options)
        .await
        .expect("start a MariaDB that speaks only TLS");
    let name = format!("t_{}", uuid_like());
    let url = server.create_database(&name).await.expect("a database");
    let mut conn = testkit::db::connect(&url).await;
    testkit::db::migrate_to_head(&mut conn).await;
    // This private server skips grant tables (testkit::mariadb): the account in the
    // secret logs in whatever it is, and is here to show it never reaches a log.
    let password = format!("pw-{}", uuid_like());
    let username = "waffledotcom";
    let moto = Moto::start().await.expect("start moto");
    let slack_token = format!("xoxb-{}", uuid_like());
    moto.put_secret(
        "dev/waffledotcom",
        &json!({
            "db_username": username,
            "db_password": password,
            "db_host": "127.0.0.1",
            "db_port": server.port.to_string(),
            "db_name": name,
            "slack_token": slack_token,
        })
        .to_string(),
    )
    .await;

    let ready = |extra: Option<(&'static str, String)>| {
        let moto_env = moto.env();
        async move {
            let runtime = RuntimeApi::start().await;
            let mut env: Vec<(&str, String)> = moto_env;
            env.push(("APP_ENV", "dev".into()));
            env.push(("RUST_LOG", "trace".into()));
            env.extend(extra);
            let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let process = LambdaProcess::spawn(env!("CARGO_BIN_EXE_health"), &runtime, &env_refs);
            let event = apigw_event("GET", "/api/v1/health/ready", None, None);
            let answer = apigw_response(&runtime.invoke(event).await.response());
            (answer, process.logs())
        }
    };

    // The built-in RDS bundle does not vouch for the test CA: no connection, a 503.
    let ((status, _, body), _) = ready(None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["detail"], "not ready: the database is unreachable");
    // Nor do Amazon's roots, which a connection through an RDS Proxy is verified against.
    let ((status, _, body), _) = ready(Some(("DB_PROXY_ENDPOINT", "127.0.0.1".into()))).await;
    assert_eq!(status, 503, "{body}");

    let ((status, _, body), logs) = ready(Some(("DB_SSL_CA", ca.display().to_string()))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"], "OK");
    assert!(
        logs.contains("secretsmanager") || logs.contains("GetSecretValue"),
        "trace logs were captured"
    );
    assert!(
        !logs.contains(&password),
        "the database password reached the logs"
    );
    assert!(
        !logs.contains(&slack_token),
        "the Slack token reached the logs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Deployed, `DATABASE_URL` (a plain connection, unverified) is refused at start: a
/// deployed function knows no database but the secret's, over verified TLS.
#[tokio::test]
async fn deployed_binary_refuses_to_start_on_a_database_url() {
    for (app_env, variable) in [("prod", "DATABASE_URL"), ("dev", "DATABASE_URL")] {
        let runtime = RuntimeApi::start().await;
        let env = [
            ("APP_ENV", app_env),
            (variable, "mysql://root@127.0.0.1:3306/waffledotcom"),
        ];
        let mut process = LambdaProcess::spawn(env!("CARGO_BIN_EXE_health"), &runtime, &env);
        process
            .assert_init_fails(
                "a deployed function must not connect without verified TLS",
                "DATABASE_URL is invalid: a deployed function",
            )
            .await;
    }
}

/// Deployed, the token check is required (there is no authorizer in front): without a
/// key, or with the local development issuer, the init fails before any secret is read.
/// Locally, without a key, the function starts and serves anonymous requests.
#[tokio::test]
async fn deployed_binary_needs_the_token_key_and_refuses_the_local_issuer() {
    let public = testkit::jwt::public_pem();
    for (app_env, key, issuer, expected) in [
        (
            "prod",
            "",
            testkit::jwt::ISSUER,
            "WAFFLE_JWT_PUBLIC_KEY is not set",
        ),
        (
            "dev",
            "",
            testkit::jwt::ISSUER,
            "WAFFLE_JWT_PUBLIC_KEY is not set",
        ),
        (
            "dev",
            public.as_str(),
            shared::platform::identity::LOCAL_ISSUER,
            "the local development issuer",
        ),
        (
            "prod",
            "not a key!",
            testkit::jwt::ISSUER,
            "WAFFLE_JWT_PUBLIC_KEY: not an RSA public key",
        ),
    ] {
        let runtime = RuntimeApi::start().await;
        let env = [
            ("APP_ENV", app_env),
            ("WAFFLE_JWT_PUBLIC_KEY", key),
            ("WAFFLE_JWT_ISSUER", issuer),
        ];
        let mut process = LambdaProcess::spawn(env!("CARGO_BIN_EXE_health"), &runtime, &env);
        process
            .assert_init_fails("a deployed function must check tokens", expected)
            .await;
    }
    let runtime = RuntimeApi::start().await;
    let env = [
        ("DATABASE_URL", "mysql://root@127.0.0.1:1/nowhere"),
        ("WAFFLE_JWT_PUBLIC_KEY", ""),
    ];
    let _process = LambdaProcess::spawn(env!("CARGO_BIN_EXE_health"), &runtime, &env);
    let answer = runtime
        .invoke(apigw_event("GET", "/api/v1/health", None, None))
        .await
        .response();
    assert_eq!(apigw_response(&answer).0, 200, "{answer}");
    let answer = runtime
        .invoke(apigw_event("GET", "/api/v1/health", None, Some("7")))
        .await
        .response();
    assert_eq!(apigw_response(&answer).0, 403, "{answer}");
}

/// Through the Runtime API, with an event as API Gateway sends it: the function's own
/// token check decides, whatever `requestContext.authorizer` says.
#[tokio::test]
async fn binary_checks_the_token_and_ignores_a_forged_authorizer_context() {
    let runtime = RuntimeApi::start().await;
    let env = [("DATABASE_URL", "mysql://root@127.0.0.1:1/nowhere")];
    let _process = LambdaProcess::spawn(env!("CARGO_BIN_EXE_health"), &runtime, &env);
    let mut forged = apigw_event("GET", "/api/v1/health", None, None);
    forged["headers"]["authorization"] = "Bearer forged".into();
    forged["requestContext"]["authorizer"] = serde_json::json!({"lambda": {"waffle_user_id": "7"}});
    let (status, headers, body) = apigw_response(&runtime.invoke(forged).await.response());
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"detail": "invalid or expired token"})
    );
    assert!(headers["x-request-id"].is_string(), "{headers}");
    let valid = apigw_event("GET", "/api/v1/health", None, Some("7"));
    let (status, _, _) = apigw_response(&runtime.invoke(valid).await.response());
    assert_eq!(status, 200);
}

#[tokio::test]
async fn deployed_binary_fails_its_init_clearly_when_the_secret_is_missing() {
    let moto = Moto::start().await.expect("start moto");
    let runtime = RuntimeApi::start().await;
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("APP_ENV", "prod".into()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut process = LambdaProcess::spawn(env!("CARGO_BIN_EXE_health"), &runtime, &env_refs);
    process
        .assert_init_fails(
            "the function must not start without its configuration",
            "secret prod/waffledotcom was not found in Secrets Manager",
        )
        .await;
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    )
}
