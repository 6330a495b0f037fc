//! The docs function: the OpenAPI document covers exactly the routes the functions serve,
//! and both its routes answer, in-process and as a Lambda function.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::Router;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::AppState;
use testkit::http::{apigw_event, apigw_response, get, request};
use testkit::{LambdaProcess, TestDb};

/// Every route of docs/api.md that the functions built so far serve. A function that adds
/// routes adds them here (and merges its router in `local::routes`). A trailing-slash
/// form is documented by its path without the slash (`docs::SLASH_FORMS`).
const CONTRACT_ROUTES: &[(&str, &str)] = &[
    // health
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/health/"),
    ("GET", "/api/v1/health/ready"),
    // users
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users/me"),
    ("GET", "/api/v1/users/{id}"),
    ("PATCH", "/api/v1/users/{id}"),
    ("DELETE", "/api/v1/users/{id}"),
    // positions
    ("GET", "/api/v1/positions"),
    ("POST", "/api/v1/positions"),
    ("PATCH", "/api/v1/positions/{id}"),
    ("DELETE", "/api/v1/positions/{id}"),
    // teams
    ("GET", "/api/v1/teams"),
    ("POST", "/api/v1/teams"),
    ("GET", "/api/v1/teams/{id}"),
    ("PATCH", "/api/v1/teams/{id}"),
    ("DELETE", "/api/v1/teams/{id}"),
    ("PUT", "/api/v1/teams/{id}/members/{user_id}"),
    ("DELETE", "/api/v1/teams/{id}/members/{user_id}"),
    // audit
    ("GET", "/api/v1/audit-logs"),
    // batch
    ("GET", "/api/v1/batch/schedule"),
    ("POST", "/api/v1/batch/force-run"),
    ("GET", "/api/v1/batch/runs"),
    ("GET", "/api/v1/batch/runs/{id}"),
    // docs
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/api/docs/{file}"),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every function's routes, merged by the local server's own `routes`.
fn served_routes(state: AppState) -> Router {
    let batch = batch::Batch::local(&state.config);
    shared::platform::http::with_shared_layers(local::routes(state, batch), testkit::jwt::tokens())
}

/// State whose database is a closed port: the docs function must not need it.
async fn state_without_database() -> AppState {
    testkit::db::single_connection_state("mysql://root@127.0.0.1:1/nowhere").await
}

/// The docs function alone, as deployed, on [`state_without_database`].
async fn docs_app() -> Router {
    shared::platform::http::with_shared_layers(
        docs::router(state_without_database().await),
        testkit::jwt::tokens(),
    )
}

fn document() -> Value {
    serde_json::to_value(docs::document()).expect("the document serializes")
}

/// The document with the trailing-slash forms it leaves out: every route served.
fn served() -> Value {
    serde_json::to_value(docs::with_slash_forms(docs::document())).expect("serializes")
}

/// `(METHOD, path)` of every operation in an OpenAPI document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

/// Every `$ref` anywhere in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_contract_route_is_documented() {
    // A slash form is documented by its twin without the slash, which says so.
    let doc = document();
    for slash in docs::SLASH_FORMS {
        assert!(
            doc["paths"].get(*slash).is_none(),
            "{slash} is in the document (OpenAPI linters refuse a path ending in /)"
        );
        let twin = &doc["paths"][slash.trim_end_matches('/')];
        for (method, operation) in twin.as_object().expect("the twin is documented") {
            let description = operation["description"].as_str().unwrap_or_default();
            assert!(
                description.contains(&format!("`{} {slash}`", method.to_uppercase())),
                "{method} {slash}: the twin's description does not name it: {description}"
            );
        }
    }
    let documented = operations(&served());
    let contract: BTreeSet<(String, String)> = CONTRACT_ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let undocumented: Vec<_> = contract.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&contract).collect();
    assert!(
        undocumented.is_empty(),
        "contract routes missing from the document: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "documented routes that are not in the contract list: {unknown:?}"
    );
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let db = TestDb::migrated().await;
    let app = served_routes(db.state().await);
    for (method, path) in operations(&served()) {
        let uri = path.replace("{id}", "1");
        let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut req = request(method.clone(), &uri);
        if method == Method::POST || method == Method::PATCH {
            req = req.json(&json!({}));
        }
        let response = req.send(&app).await;
        assert_ne!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but the route has no such method"
        );
        let fallback = response.status == StatusCode::NOT_FOUND
            && response.json() == json!({"detail": "Not Found"});
        assert!(!fallback, "{method} {path} is documented but not served");
    }
}

#[tokio::test]
async fn openapi_json_is_valid_openapi_3() {
    let app = docs_app().await;
    let response = get("/api/openapi.json").send(&app).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let doc = response.json();
    assert_eq!(doc, document(), "the served document is the merged one");

    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "openapi is {version:?}");
    assert_eq!(doc["info"]["title"], "waffledotcom API");
    assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));

    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    for name in [
        "UserView",
        "UserDetail",
        "UserDetailView",
        "UserCreateBody",
        "UserPatchBody",
        "ErrorBody",
        "ValidationErrorBody",
        "FieldError",
    ] {
        assert!(
            schemas.contains_key(name),
            "components.schemas lacks {name}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["waffle_sso"],
        json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
               "description": doc["components"]["securitySchemes"]["waffle_sso"]["description"]})
    );

    let users = &doc["paths"]["/api/v1/users"];
    let list = &users["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(
        list["type"], "array",
        "GET /users answers a bare array: {list}"
    );
    assert_eq!(list["items"]["$ref"], "#/components/schemas/UserView");
    assert_eq!(
        users["post"]["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ValidationErrorBody"
    );

    // No dangling references.
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }
}

#[test]
fn users_routes_document_parameters_headers_and_security() {
    let doc = document();
    let list = &doc["paths"]["/api/v1/users"]["get"];
    let params: BTreeSet<(String, String)> = list["parameters"]
        .as_array()
        .expect("GET /users has parameters")
        .iter()
        .map(|p| {
            (
                p["in"].as_str().unwrap_or_default().to_owned(),
                p["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("query", "position"),
        ("query", "generation"),
        ("query", "is_active"),
        ("query", "is_member"),
        ("query", "q"),
        ("query", "limit"),
        ("query", "cursor"),
        ("header", "If-None-Match"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(params, expected);
    let headers = list["responses"]["200"]["headers"]
        .as_object()
        .expect("list headers");
    for name in ["X-Total-Count", "Link", "ETag"] {
        assert!(
            headers.contains_key(name),
            "GET /users 200 lacks the {name} header"
        );
    }
    assert!(list["responses"]["304"].is_object());
    assert!(
        doc["paths"]["/api/v1/users"]["post"]["responses"]["201"]["headers"]["Location"]
            .is_object(),
        "201 documents Location"
    );

    let needs_token = json!([{"waffle_sso": []}]);
    let token_optional = json!([{}, {"waffle_sso": []}]);
    let users = &doc["paths"]["/api/v1/users"];
    let user = &doc["paths"]["/api/v1/users/{id}"];
    assert_eq!(users["post"]["security"], needs_token);
    assert_eq!(
        doc["paths"]["/api/v1/users/me"]["get"]["security"],
        needs_token
    );
    assert_eq!(user["patch"]["security"], needs_token);
    assert_eq!(user["delete"]["security"], needs_token);
    assert_eq!(user["get"]["security"], token_optional);
    // Anyone may list; a token is optional there, but checked (a denied one is 403).
    assert_eq!(users["get"]["security"], token_optional);
    for method in ["get", "patch", "delete"] {
        let id = user[method]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "id"))
            .unwrap_or_else(|| panic!("{method} /users/{{id}} documents id"));
        assert_eq!(id["in"], "path");
        assert_eq!(id["required"], true);
    }
}

/// The contract: a bad, expired or foreign token is denied on any route, and every
/// function checks the token before any route (`shared::platform::http`). So every
/// operation declares the token, needed or optional, and a 403.
#[test]
fn every_operation_declares_the_token_and_the_403_of_a_denied_one() {
    let doc = document();
    let needs_token = json!([{"waffle_sso": []}]);
    let token_optional = json!([{}, {"waffle_sso": []}]);
    for (method, path) in operations(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let security = &operation["security"];
        assert!(
            *security == needs_token || *security == token_optional,
            "{method} {path}: security is {security}"
        );
        assert!(
            operation["responses"]["403"].is_object(),
            "{method} {path} does not document the 403 of a denied token"
        );
    }
}

#[test]
fn operation_ids_are_unique_and_security_names_a_scheme() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    let mut ids = BTreeSet::new();
    for (method, path) in operations(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for name in requirement.as_object().into_iter().flat_map(|r| r.keys()) {
                assert!(
                    schemes.contains_key(name),
                    "{method} {path}: unknown scheme {name}"
                );
            }
        }
    }
}

/// Merging keeps the first schema of a name and drops any later one silently: two
/// functions defining different schemas under one name would lose one of them.
#[test]
fn each_function_part_survives_the_merge() {
    let doc = document();
    for (function, part) in docs::parts() {
        let part = serde_json::to_value(part).expect("the part serializes");
        let schemas = part["components"]["schemas"].as_object();
        for (name, schema) in schemas.into_iter().flatten() {
            assert_eq!(
                &doc["components"]["schemas"][name], schema,
                "{function}'s schema {name} differs from the merged one: rename one of them"
            );
        }
        for (method, path) in operations(&part) {
            let m = method.to_lowercase();
            assert_eq!(
                doc["paths"][&path][&m], part["paths"][&path][&m],
                "{function}'s {method} {path} was not merged as is"
            );
        }
    }
}

#[tokio::test]
async fn docs_page_renders_the_document() {
    let app = docs_app().await;
    let response = get("/api/docs").send(&app).await;
    assert_eq!(response.status, StatusCode::OK);
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = String::from_utf8(response.bytes.clone()).expect("UTF-8");
    assert!(
        page.contains("\"/api/openapi.json\""),
        "the renderer loads the document"
    );
    assert!(
        page.contains("<noscript>"),
        "the page says something without JavaScript"
    );
    assert!(
        page.contains("href=\"/api/openapi.json\""),
        "and links the document"
    );
    let csp = response
        .header("content-security-policy")
        .unwrap_or_default();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(!page.contains("https://"), "no other origin on the page");
    assert!(
        !page.contains("<script>"),
        "no inline script (the policy would block it)"
    );

    // Every file the page names is served here, with the same policy.
    let mut files = 0;
    for part in page.split(['"', '\'']) {
        if let Some(file) = part.strip_prefix("/api/docs/") {
            files += 1;
            let asset = get(&format!("/api/docs/{file}")).send(&app).await;
            assert_eq!(asset.status, StatusCode::OK, "{file}");
            assert!(
                asset.bytes.len() > 100,
                "{file} is {} bytes",
                asset.bytes.len()
            );
            assert_eq!(
                asset.header("content-security-policy").unwrap_or_default(),
                csp
            );
            assert_eq!(asset.header("x-content-type-options"), Some("nosniff"));
        }
    }
    assert_eq!(files, 3, "the bundle, the stylesheet and the starter");
    let bundle = get("/api/docs/swagger-ui-bundle.js").send(&app).await;
    assert!(String::from_utf8_lossy(&bundle.bytes).contains("SwaggerUIBundle"));

    let missing = get("/api/docs/..%2FCargo.toml").send(&app).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json(), json!({"detail": "file not found"}));
}

#[tokio::test]
async fn the_lambda_binary_serves_the_document() {
    let db = TestDb::new().await;
    let (runtime, _process) =
        LambdaProcess::start(env!("CARGO_BIN_EXE_docs"), &[("DATABASE_URL", &db.url)]).await;
    let event = apigw_event("GET", "/api/openapi.json", None, None);
    let (status, headers, body) = apigw_response(&runtime.invoke(event).await.response());
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/json");
    let version = body["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "openapi is {version:?}");
    assert!(body["paths"]["/api/v1/users/{id}"].is_object());
}

/// `openapi-spec-validator`: `OPENAPI_SPEC_VALIDATOR` if set, else the one `scripts/test`
/// installs under `target/venv`, else PATH.
fn spec_validator() -> PathBuf {
    if let Some(path) = std::env::var_os("OPENAPI_SPEC_VALIDATOR") {
        return PathBuf::from(path);
    }
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/openapi-spec-validator");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("openapi-spec-validator")
    }
}

#[test]
fn the_document_passes_an_openapi_validator() {
    let file = std::env::temp_dir().join(format!("openapi-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec(&document()).expect("serializes"))
        .expect("write the document");
    let output = std::process::Command::new(spec_validator())
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openapi-spec-validator ({e}): scripts/test installs it")
        });
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "openapi-spec-validator rejects the document:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Swagger UI's files are compressed when the binary is built: a `br` client gets the
/// built-in bytes as they are (the shared layer's per-request brotli, at quality 4,
/// would give other bytes), a `gzip` client gets one gzip made once and kept, and a
/// client taking neither gets the plain file.
#[tokio::test]
async fn the_swagger_files_are_served_as_compressed_at_build_time() {
    let app = docs_app().await;
    for file in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let path = format!("/api/docs/{file}");
        let built_in = docs::built_in_br(file).expect("a built-in file");
        let br = get(&path)
            .header("accept-encoding", "gzip, br")
            .send(&app)
            .await;
        assert_eq!(br.status, StatusCode::OK);
        assert_eq!(br.header("content-encoding"), Some("br"), "{file}");
        assert_eq!(br.header("vary"), Some("accept-encoding"), "{file}");
        assert!(
            br.bytes[..] == built_in[..],
            "{file}: the build's bytes, as they are"
        );

        let plain = get(&path).send(&app).await;
        assert_eq!(plain.header("content-encoding"), None);
        let mut decoded = Vec::new();
        let mut decoder = brotli::Decompressor::new(built_in, 4096);
        std::io::Read::read_to_end(&mut decoder, &mut decoded).expect("brotli");
        assert!(plain.bytes[..] == decoded[..], "{file}");
        assert!(
            built_in.len() * 3 < decoded.len(),
            "{file}: {} of {}",
            built_in.len(),
            decoded.len()
        );

        let gzip = get(&path)
            .header("accept-encoding", "gzip")
            .send(&app)
            .await;
        assert_eq!(gzip.header("content-encoding"), Some("gzip"));
        let again = get(&path)
            .header("accept-encoding", "gzip")
            .send(&app)
            .await;
        assert!(gzip.bytes == again.bytes);
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&gzip.bytes[..]),
            &mut unzipped,
        )
        .expect("gzip");
        assert!(unzipped == decoded, "{file}");
    }
    let bundle = docs::built_in_br("swagger-ui-bundle.js").map_or(0, <[u8]>::len);
    eprintln!("swagger-ui-bundle.js built in: {bundle} bytes (br)");
}
