//! Bad input against the real local server over TCP: hand-picked nasty bodies, ids and
//! limits, then schemathesis generating requests for every route of
//! `/api/openapi.json`. No input may produce a 5xx, and every answer must be the one
//! the document promises.
//!
//! Under `--lambdas` (`WADOT_LOCAL_MODE=lambdas`): the template's limits with the
//! throttles raised (`common::UNTHROTTLED`): the fuzzer sends faster than the stage's
//! 50 a second, and what it tests is the answers, not the throttle.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{Server, bearer, fresh_local_with_admin, slack_with_members};
use serde_json::{Value, json};
use testkit::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: &str = "1";

/// An answer read off the socket.
#[derive(Debug)]
struct Raw {
    status: u16,
    body: Value,
    text: String,
}

/// Sends `body` as is (any bytes), with a `Content-Length`, or chunked without one.
async fn raw(
    addr: &str,
    method: &str,
    path: &str,
    sso: Option<&str>,
    body: &[u8],
    chunked: bool,
) -> Raw {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the server");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\n"
    );
    if let Some(sso) = sso {
        head.push_str(&format!("authorization: {}\r\n", bearer(sso)));
    }
    let mut request = Vec::new();
    if chunked {
        head.push_str("transfer-encoding: chunked\r\n\r\n");
        request.extend_from_slice(head.as_bytes());
        for chunk in body.chunks(8 * 1024) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
    } else {
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        request.extend_from_slice(head.as_bytes());
        request.extend_from_slice(body);
    }
    // The server may answer (413) and close before reading everything: not an error.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let payload = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Small JSON answers may come chunked: take what lies between the braces.
    let json = match (payload.find('{'), payload.rfind('}')) {
        (Some(start), Some(end)) if start < end => &payload[start..=end],
        _ => "",
    };
    Raw {
        status,
        body: serde_json::from_str(json).unwrap_or(Value::Null),
        text,
    }
}

struct Fixture {
    _db: TestDb,
    server: Server,
    user_id: i64,
    team_id: i64,
    position_id: i64,
}

async fn fixture() -> Fixture {
    let (db, server, api) = fresh_local_with_admin(ADMIN, &[common::UNTHROTTLED]).await;
    let user_id = api.register("2", "someone").await;
    let team = api
        .post("/api/v1/teams", ADMIN, &json!({"name": "fuzz"}))
        .await;
    assert_eq!(team.status, 201, "{}", team.body);
    let positions = api.get("/api/v1/positions", None).await;
    Fixture {
        user_id,
        team_id: team.body["id"].as_i64().expect("a team id"),
        position_id: positions.body["items"][0]["id"]
            .as_i64()
            .expect("a seeded position"),
        server,
        _db: db,
    }
}

/// Every write route that takes a JSON body, with a caller allowed to use it.
fn body_routes(f: &Fixture) -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("POST", "/api/v1/users".into(), "3"),
        ("PATCH", format!("/api/v1/users/{}", f.user_id), "2"),
        ("POST", "/api/v1/teams".into(), ADMIN),
        ("PATCH", format!("/api/v1/teams/{}", f.team_id), ADMIN),
        ("POST", "/api/v1/positions".into(), ADMIN),
        (
            "PATCH",
            format!("/api/v1/positions/{}", f.position_id),
            ADMIN,
        ),
    ]
}

#[tokio::test]
async fn hostile_bodies_are_4xx_with_a_detail_and_change_nothing() {
    let f = fixture().await;
    let addr = f.server.addr.clone();
    let oversized = json!({"first_name": "x".repeat(70 * 1024)}).to_string();
    let deep_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>, bool, &[u16])> = vec![
        ("over 64 KiB", oversized.clone().into_bytes(), false, &[413]),
        ("over 64 KiB, chunked", oversized.into_bytes(), true, &[413]),
        (
            "invalid UTF-8",
            b"{\"first_name\": \"\xff\xfe\xfd\"}".to_vec(),
            false,
            &[400],
        ),
        (
            "invalid UTF-8 key",
            b"{\"\xc3\x28\": 1}".to_vec(),
            false,
            &[400],
        ),
        (
            "nested 10,000 deep",
            deep_object.into_bytes(),
            false,
            &[400],
        ),
        ("arrays 10,000 deep", deep_array.into_bytes(), false, &[400]),
        (
            "number overflow",
            b"{\"first_name\": 1e400}".to_vec(),
            false,
            &[400],
        ),
        (
            "huge integer",
            b"{\"name\": 99999999999999999999999}".to_vec(),
            false,
            &[422],
        ),
        (
            "NUL in a string",
            b"{\"name\": \"a\\u0000b\"}".to_vec(),
            false,
            &[201, 200, 409, 422],
        ),
        (
            "lone surrogate",
            b"{\"name\": \"\\ud800\"}".to_vec(),
            false,
            &[400],
        ),
        ("empty", Vec::new(), false, &[400]),
        ("truncated", b"{\"name\": \"abc".to_vec(), false, &[400]),
    ];
    let mut answered = 0;
    for (method, path, sso) in body_routes(&f) {
        for (what, body, chunked, expected) in &cases {
            let reply = raw(&addr, method, &path, Some(sso), body, *chunked).await;
            answered += 1;
            assert!(
                expected.contains(&reply.status),
                "{what} → {method} {path}: {} (expected {expected:?}): {}",
                reply.status,
                reply.text.chars().take(300).collect::<String>()
            );
            if reply.status >= 400 {
                assert!(
                    !reply.body["detail"].is_null(),
                    "{what} → {method} {path}: no detail: {}",
                    reply.text.chars().take(300).collect::<String>()
                );
            }
        }
    }
    println!("{answered} hostile bodies answered 4xx with a detail");
    // Nothing stuck: the user the PATCHes aimed at is as registered.
    let user = f
        .server
        .api()
        .get(&format!("/api/v1/users/{}", f.user_id), None)
        .await;
    assert_eq!(user.body["first_name"], "Waffle");
}

#[tokio::test]
async fn out_of_range_ids_and_limits_are_422_never_5xx() {
    let f = fixture().await;
    let api = f.server.api();
    let team = f.team_id;
    let user = f.user_id;
    let bad_ids = [
        "99999999999999999999",
        "2147483648",
        "-1",
        "0",
        "1e3",
        "0x10",
        "%20",
        "1.5",
        "abc",
    ];
    // Long, yet twice of it with a token fits API Gateway's 10,240 bytes of request line
    // and headers (above them, under `--lambdas`, the stand-in answers as API Gateway).
    let long = "9".repeat(4000);
    let mut answered = 0;
    for id in bad_ids.iter().copied().chain([long.as_str()]) {
        let cases = [
            ("GET", format!("/api/v1/users/{id}"), None),
            ("PATCH", format!("/api/v1/users/{id}"), Some(ADMIN)),
            ("DELETE", format!("/api/v1/users/{id}"), Some(ADMIN)),
            ("GET", format!("/api/v1/teams/{id}"), None),
            ("PATCH", format!("/api/v1/teams/{id}"), Some(ADMIN)),
            ("DELETE", format!("/api/v1/teams/{id}"), Some(ADMIN)),
            ("PATCH", format!("/api/v1/positions/{id}"), Some(ADMIN)),
            ("DELETE", format!("/api/v1/positions/{id}"), Some(ADMIN)),
            (
                "PUT",
                format!("/api/v1/teams/{team}/members/{id}"),
                Some(ADMIN),
            ),
            (
                "PUT",
                format!("/api/v1/teams/{id}/members/{user}"),
                Some(ADMIN),
            ),
            (
                "DELETE",
                format!("/api/v1/teams/{id}/members/{id}"),
                Some(ADMIN),
            ),
            ("GET", format!("/api/v1/batch/runs/{id}"), Some(ADMIN)),
        ];
        for (method, path, sso) in cases {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let body = (method == reqwest::Method::PATCH).then(|| json!({"name": "x"}));
            let reply = api.send(method.clone(), &path, sso, body.as_ref()).await;
            answered += 1;
            // Run ids are 64-bit: 2^31 is merely unknown there.
            if id == "2147483648" && path.starts_with("/api/v1/batch/runs/") {
                assert_eq!(reply.status, 404, "{path}: {}", reply.body);
                continue;
            }
            assert_eq!(
                reply.status,
                422,
                "{method} {}: {}",
                &path[..path.len().min(80)],
                reply.body
            );
            assert_eq!(reply.body["detail"][0]["loc"][0], "path", "{}", reply.body);
        }
    }
    let limits = [
        "limit=1e30",
        "limit=-1",
        "limit=0",
        "limit=1001",
        "limit=99999999999999999999",
        "limit=abc",
        "limit=",
        "cursor=99999999999999999999",
        "cursor=-5",
    ];
    for query in limits {
        for (path, sso) in [
            ("/api/v1/users", None),
            ("/api/v1/audit-logs", Some(ADMIN)),
            ("/api/v1/batch/runs", Some(ADMIN)),
        ] {
            if path == "/api/v1/batch/runs" && query.starts_with("cursor") {
                continue; // the run history has no cursor
            }
            let reply = api.get(&format!("{path}?{query}"), sso).await;
            answered += 1;
            assert_eq!(reply.status, 422, "{path}?{query}: {}", reply.body);
            assert_eq!(reply.body["detail"][0]["loc"][0], "query", "{}", reply.body);
        }
    }
    // Unknown ids in range are plain 404s.
    for path in [
        "/api/v1/users/2147483647",
        "/api/v1/teams/2147483647",
        "/api/v1/batch/runs/9223372036854775807",
    ] {
        let reply = api.get(path, Some(ADMIN)).await;
        answered += 1;
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert!(reply.has_detail());
    }
    println!("{answered} out-of-range ids and limits answered as the contract says");
}

/// `SCHEMATHESIS` if set, else the one `scripts/test` installs under `target/venv`,
/// else PATH.
fn schemathesis() -> PathBuf {
    testkit::python_tool("SCHEMATHESIS", "schemathesis")
}

/// Every check of schemathesis that judges the server against the document, except
/// the two that judge the document's precision (`positive_data_acceptance`,
/// `negative_data_rejection`): the document does not spell out every rule the server
/// enforces (control characters, "exactly one of name and tag"), and a stricter server
/// is what the contract wants.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,missing_required_header,\
unsupported_method,allow_header_conformance,ignored_auth";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    // Force-runs reach this fake, never Slack.
    let slack = slack_with_members(3, "FUZZ").await;
    // At INFO the server logs every answer: the test counts them and their statuses.
    let base_url = slack.base_url();
    let env = [
        ("SLACK_API_BASE_URL", base_url.as_str()),
        ("RUST_LOG", "info"),
        common::UNTHROTTLED,
    ];
    let (db, server, api) = fresh_local_with_admin(ADMIN, &env).await;
    // The admin's id is far from the small ids the fuzzer favours.
    let mut conn = db.connect().await;
    sqlx::query("UPDATE `user` SET id = 1000000 WHERE sso_id = ?")
        .bind(ADMIN)
        .execute(&mut conn)
        .await
        .expect("move the admin");
    let member_id = api.register("10", "member0").await;
    for i in 1..5 {
        api.register(&format!("{}", 10 + i), &format!("member{i}"))
            .await;
    }
    let team = api
        .post("/api/v1/teams", ADMIN, &json!({"name": "fuzzers"}))
        .await;
    let team_id = team.body["id"].as_i64().expect("a team id");
    let run_id = api.force_slack_sync(ADMIN).await.run_id();
    api.finished_run(ADMIN, run_id, Duration::from_secs(60))
        .await;

    // Where a route takes an id, the fuzzer gets one that exists, except where it would
    // delete or demote the admin it runs as (then one that does not). It fails if it
    // ever finds itself without the admin's rights.
    let config = format!(
        r#"warnings = {{ fail-on = ["missing_auth"] }}

[[operations]]
include-name = "PATCH /api/v1/users/{{id}}"
parameters = {{ "path.id" = {member_id} }}

[[operations]]
include-name = "DELETE /api/v1/users/{{id}}"
parameters = {{ "path.id" = 999999 }}

[[operations]]
include-name = "DELETE /api/v1/teams/{{id}}"
parameters = {{ "path.id" = 999999 }}

[[operations]]
include-path = "/api/v1/teams/{{id}}/members/{{user_id}}"
parameters = {{ "path.id" = {team_id}, "path.user_id" = {member_id} }}

[[operations]]
include-name = "GET /api/v1/batch/runs/{{id}}"
parameters = {{ "path.id" = {run_id} }}
"#
    );
    let work =
        std::env::temp_dir().join(format!("wd-schemathesis-{}", server.addr.replace(':', "-")));
    std::fs::create_dir_all(&work).expect("a work directory");
    let config_file = work.join("schemathesis.toml");
    std::fs::write(&config_file, config).expect("write the configuration");

    let base = format!("http://{}", server.addr);
    let max_examples = std::env::var("FUZZ_MAX_EXAMPLES").unwrap_or_else(|_| "100".into());
    let mut command = tokio::process::Command::new(schemathesis());
    command
        .arg("--config-file")
        .arg(&config_file)
        .arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["--url", &base])
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", &max_examples])
        .args(["--seed", "8"])
        // One worker: Python 3.11's parser is not thread-safe, and schemathesis's
        // workers are threads (a crash there is not a finding).
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(["--suppress-health-check", "all"])
        .args(["--header", &format!("Authorization: {}", bearer(ADMIN))])
        .arg("--report-dir")
        .arg(work.join("report"))
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .current_dir(&work)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .expect("schemathesis finishes within its bound")
        .unwrap_or_else(|e| panic!("cannot run schemathesis ({e}): scripts/test installs it"));
    let _ = std::fs::remove_dir_all(&work);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    let log = server.log();
    let tail: Vec<&str> = log.lines().rev().take(40).collect();
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}\nserver log (end):\n{}",
        tail.join("\n")
    );
    let operations = operation_count();
    assert!(
        stdout.contains(&format!("Tested: {operations}")),
        "every one of the document's {operations} operations: {stdout}"
    );
    // The server's own account: thousands of answers, none a 5xx, no error logged.
    let answers: Vec<&str> = log.lines().filter(|l| l.contains("handled")).collect();
    // Text lines from the merged server, JSON lines from --lambdas' function processes.
    let server_errors: Vec<&&str> = answers
        .iter()
        .filter(|l| l.contains("status=5") || l.contains("\"status\":5"))
        .collect();
    println!("the server answered {} requests", answers.len());
    assert!(answers.len() >= 1000, "only {} answers", answers.len());
    assert!(server_errors.is_empty(), "{server_errors:?}");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "the server logged errors: {errors:?}");
}

/// How many operations (method and path) the OpenAPI document names, counted as
/// schemathesis counts them when it loads the document from the server: without
/// `GET /api/openapi.json`, the operation that serves the document itself (schemathesis
/// 4.32 lists 26 of 27 operations loaded from that URL, all 27 loaded from a file).
fn operation_count() -> usize {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "patch", "options", "head", "trace",
    ];
    let document = serde_json::to_value(docs::document()).expect("the document is JSON");
    let mut operations = std::collections::HashSet::new();
    for (path, item) in document["paths"]
        .as_object()
        .expect("the document has paths")
    {
        for method in item.as_object().into_iter().flat_map(|item| item.keys()) {
            let the_document = method == "get" && path == "/api/openapi.json";
            if METHODS.contains(&method.as_str()) && !the_document {
                operations.insert((method.clone(), path.clone()));
            }
        }
    }
    operations.len()
}
