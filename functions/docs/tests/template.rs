//! `template.yaml` against the code: one function resource per crate under `functions/`,
//! building that crate's binary; the HttpApi events of each function are exactly the
//! routes its router serves, which are the routes of its part of the OpenAPI document;
//! the merged document lists the same routes as the template.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use axum::Router;
use http::{Method, StatusCode};
use serde_norway::Value as Yaml;
use testkit::TestDb;
use testkit::http::request;

type Route = (String, String);

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Functions that API Gateway never routes to.
const WITHOUT_ROUTES: [&str; 3] = ["image-tag-updater", "migrate", "slack-sync"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> Yaml {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

/// A function resource of the template.
#[derive(Debug)]
struct Function {
    logical_id: String,
    code_uri: String,
    routes: BTreeSet<Route>,
    /// Events other than HttpApi, by type.
    other_events: Vec<String>,
}

fn text(value: &Yaml) -> Option<&str> {
    value.as_str()
}

fn functions(template: &Yaml) -> Vec<Function> {
    let resources = template["Resources"]
        .as_mapping()
        .expect("Resources is a mapping");
    let mut found = Vec::new();
    for (id, resource) in resources {
        if text(&resource["Type"]) != Some("AWS::Serverless::Function") {
            continue;
        }
        let logical_id = text(id).expect("a logical id").to_owned();
        let properties = &resource["Properties"];
        let code_uri = text(&properties["CodeUri"])
            .unwrap_or_else(|| panic!("{logical_id}: CodeUri must be a plain path"))
            .to_owned();
        let mut routes = BTreeSet::new();
        let mut other_events = Vec::new();
        if let Some(events) = properties["Events"].as_mapping() {
            for (name, event) in events {
                let kind = text(&event["Type"]).unwrap_or_default();
                if kind != "HttpApi" {
                    other_events.push(kind.to_owned());
                    continue;
                }
                let props = &event["Properties"];
                let api = match &props["ApiId"] {
                    Yaml::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str(),
                    _ => None,
                };
                assert_eq!(
                    api,
                    Some("HttpApi"),
                    "{logical_id}.{name:?}: every route belongs to the HttpApi resource"
                );
                // Neither Method nor Path: SAM's `$default` route, which serves no
                // route of its own (docs::default_route answers 404 and 405 there).
                if props["Method"].is_null() && props["Path"].is_null() {
                    other_events.push("$default".to_owned());
                    continue;
                }
                let method = text(&props["Method"])
                    .unwrap_or_else(|| panic!("{logical_id}.{name:?}: no Method"))
                    .to_ascii_uppercase();
                let path = text(&props["Path"])
                    .unwrap_or_else(|| panic!("{logical_id}.{name:?}: no Path"))
                    .to_owned();
                assert!(
                    routes.insert((method.clone(), path.clone())),
                    "{logical_id}: {method} {path} twice"
                );
            }
        }
        found.push(Function {
            logical_id,
            code_uri,
            routes,
            other_events,
        });
    }
    found
}

/// The crate directories under functions/, each with the name of its package.
fn function_crates() -> BTreeSet<String> {
    let mut crates = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let dir = entry.expect("an entry").path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let dir_name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a name")
            .to_owned();
        let manifest = std::fs::read_to_string(&manifest).expect("Cargo.toml");
        let package_name = manifest
            .lines()
            .find_map(|line| line.strip_prefix("name = "))
            .map(|name| name.trim_matches('"'));
        assert_eq!(
            package_name,
            Some(dir_name.as_str()),
            "functions/{dir_name}: the package (and so its binary, cargo lambda's \
             target/lambda/<name>/) is named after its directory"
        );
        assert!(
            !manifest.contains("[[bin]]"),
            "functions/{dir_name}: one binary, src/main.rs, named like the package"
        );
        crates.insert(dir_name);
    }
    crates
}

/// The crate a function resource builds: `target/lambda/<crate>/`.
fn built_crate(function: &Function) -> &str {
    function
        .code_uri
        .strip_prefix("target/lambda/")
        .and_then(|rest| rest.strip_suffix('/'))
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .unwrap_or_else(|| {
            panic!(
                "{}: CodeUri {:?} is not target/lambda/<crate>/",
                function.logical_id, function.code_uri
            )
        })
}

fn routes_of(doc: &utoipa::openapi::OpenApi) -> BTreeSet<Route> {
    let doc = serde_json::to_value(doc).expect("the document serializes");
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                routes.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The routes a function's router serves, less those whose path ends in "/": HTTP
/// APIs do not keep such routes, so `$default` (the docs function) answers them.
fn without_trailing_slash(routes: BTreeSet<Route>) -> BTreeSet<Route> {
    routes
        .into_iter()
        .filter(|(_, path)| !path.ends_with('/'))
        .collect()
}

/// Both sides of a mismatch, route by route, for the failure message.
fn diff(what: &str, template: &BTreeSet<Route>, code: &BTreeSet<Route>) -> Vec<String> {
    let mut lines = Vec::new();
    for (method, path) in code.difference(template) {
        lines.push(format!(
            "{what}: {method} {path} is served but has no HttpApi event"
        ));
    }
    for (method, path) in template.difference(code) {
        lines.push(format!(
            "{what}: {method} {path} is an HttpApi event but not served"
        ));
    }
    lines
}

#[test]
fn every_function_crate_has_exactly_one_function_resource_building_its_binary() {
    let template = template();
    let functions = functions(&template);
    let crates = function_crates();
    assert!(crates.len() >= 11, "found only {crates:?}");

    let mut by_crate: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for function in &functions {
        by_crate
            .entry(built_crate(function))
            .or_default()
            .push(&function.logical_id);
    }
    let mut problems = Vec::new();
    for name in &crates {
        match by_crate.get(name.as_str()).map(Vec::as_slice) {
            Some([_]) => {}
            None => problems.push(format!(
                "functions/{name} has no function resource (CodeUri: target/lambda/{name}/)"
            )),
            Some(many) => problems.push(format!("functions/{name} is built by {many:?}")),
        }
    }
    for (name, ids) in &by_crate {
        if !crates.contains(*name) {
            problems.push(format!(
                "{ids:?} point at target/lambda/{name}/, which no crate under functions/ builds"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));

    // What makes the prebuilt artifacts run: the binary is `bootstrap`, on arm64 AL2023.
    let globals = &template["Globals"]["Function"];
    assert_eq!(text(&globals["Runtime"]), Some("provided.al2023"));
    assert_eq!(text(&globals["Handler"]), Some("bootstrap"));
    assert_eq!(
        globals["Architectures"],
        serde_norway::from_str::<Yaml>("[arm64]").expect("yaml")
    );
    for function in &functions {
        let properties = &template["Resources"][function.logical_id.as_str()]["Properties"];
        for key in ["Runtime", "Architectures", "Handler"] {
            assert!(
                properties.get(key).is_none(),
                "{}: {key} comes from Globals",
                function.logical_id
            );
        }
    }
}

#[test]
fn http_api_events_are_exactly_the_routes_each_function_serves_and_documents() {
    let functions = functions(&template());
    let template_routes: BTreeMap<&str, &BTreeSet<Route>> = functions
        .iter()
        .map(|f| (built_crate(f), &f.routes))
        .collect();

    let mut problems = Vec::new();
    let parts = docs::parts();
    let documented: BTreeSet<&str> = parts.iter().map(|(name, _)| *name).collect();
    for (name, part) in &parts {
        let code = without_trailing_slash(routes_of(part));
        assert!(!code.is_empty(), "{name} documents no route");
        match template_routes.get(name) {
            Some(template) => problems.extend(diff(name, template, &code)),
            None => problems.push(format!("{name} serves routes but has no function resource")),
        }
    }
    for (name, routes) in &template_routes {
        if !documented.contains(name) && !routes.is_empty() {
            problems.push(format!(
                "{name} has HttpApi events {routes:?} but no part in docs::parts()"
            ));
        }
    }
    for name in WITHOUT_ROUTES {
        if let Some(routes) = template_routes.get(name).filter(|r| !r.is_empty()) {
            problems.push(format!("{name} must have no route, has {routes:?}"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));

    // The published document (what /api/openapi.json serves) has the template's routes.
    let all_template: BTreeSet<Route> = template_routes
        .values()
        .flat_map(|r| r.iter().cloned())
        .collect();
    let published = without_trailing_slash(routes_of(&docs::document()));
    let problems = diff("openapi.json", &all_template, &published);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));

    // HTTP APIs do not keep a route whose path ends in "/": `$default` answers those
    // (docs::default_route, tested in functions/docs/tests/default_route.rs).
    for (method, path) in &all_template {
        assert!(
            !path.ends_with('/'),
            "{method} {path}: a route path ending in / (answer it from $default)"
        );
    }

    // Explicit routes only: a catch-all would hide a missing event behind another function.
    for (method, path) in &all_template {
        assert!(
            method != "ANY" && !path.contains('+') && path != "$default",
            "catch-all route {method} {path}"
        );
    }
}

/// One invocation per request: no Lambda authorizer in front of the routes, and every
/// function that serves one checks tokens itself with the key and issuer of the
/// template's parameters (Globals: a function that lacks them fails its init).
#[test]
fn no_authorizer_and_every_routed_function_has_the_token_key() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"];
    assert!(api["Auth"].is_null(), "HttpApi.Auth: {:?}", api["Auth"]);
    let resources = template["Resources"].as_mapping().expect("Resources");
    for (id, resource) in resources {
        assert_ne!(
            text(&resource["Type"]),
            Some("AWS::ApiGatewayV2::Authorizer"),
            "{id:?}"
        );
        for (name, event) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            assert!(
                event["Properties"]["Auth"].is_null(),
                "{id:?}.{name:?}: a route-level authorizer"
            );
        }
    }
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    for (variable, parameter) in [
        ("WAFFLE_JWT_PUBLIC_KEY", "JwtPublicKey"),
        ("WAFFLE_JWT_ISSUER", "JwtIssuer"),
    ] {
        match &globals[variable] {
            Yaml::Tagged(t) if t.tag == "!Ref" => {
                assert_eq!(t.value.as_str(), Some(parameter), "{variable}");
            }
            other => panic!("Globals {variable} must be !Ref {parameter}, is {other:?}"),
        }
    }
    // No function overrides them with something else.
    for function in functions(&template).iter().filter(|f| !f.routes.is_empty()) {
        let variables = &template["Resources"][function.logical_id.as_str()]["Properties"]["Environment"]
            ["Variables"];
        for variable in ["WAFFLE_JWT_PUBLIC_KEY", "WAFFLE_JWT_ISSUER"] {
            assert!(
                variables[variable].is_null(),
                "{}: {variable} comes from Globals",
                function.logical_id
            );
        }
    }
}

#[test]
fn background_functions_have_their_triggers() {
    let template = template();
    let functions = functions(&template);
    let by_crate: BTreeMap<&str, &Function> =
        functions.iter().map(|f| (built_crate(f), f)).collect();
    assert_eq!(by_crate["slack-sync"].other_events, ["ScheduleV2"]);
    // Requests no route matches: the contract's 404 and 405 (docs::default_route).
    assert_eq!(by_crate["docs"].other_events, ["$default"]);
    for name in ["image-tag-updater", "migrate"] {
        assert!(
            by_crate[name].other_events.is_empty(),
            "{name}: {:?}",
            by_crate[name].other_events
        );
    }
    let resources = &template["Resources"];
    // migrate runs once at a time and only as the deploy's custom resource (or by hand).
    let migrate = &resources[by_crate["migrate"].logical_id.as_str()]["Properties"];
    assert_eq!(migrate["ReservedConcurrentExecutions"].as_i64(), Some(1));
    let migrations = &resources["Migrations"];
    assert_eq!(text(&migrations["Type"]), Some("Custom::Migrations"));
    match &migrations["Properties"]["ServiceToken"] {
        Yaml::Tagged(t) if t.tag == "!GetAtt" => {
            assert_eq!(
                t.value.as_str(),
                Some(format!("{}.Arn", by_crate["migrate"].logical_id).as_str())
            );
        }
        other => panic!("ServiceToken must be !GetAtt <migrate>.Arn, is {other:?}"),
    }
    // Every function that reads the schema waits for the migrations.
    for function in &functions {
        let name = built_crate(function);
        if name == "migrate" || name == "image-tag-updater" {
            continue;
        }
        assert_eq!(
            text(&resources[function.logical_id.as_str()]["DependsOn"]),
            Some("Migrations"),
            "{name} must be updated only after the migrations"
        );
    }
    // The ECR rule targets image-tag-updater.
    let rule = &resources["EcrPushRule"]["Properties"];
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"][0].as_str(), Some("aws.ecr"));
    assert_eq!(pattern["detail-type"][0].as_str(), Some("ECR Image Action"));
    assert_eq!(pattern["detail"]["action-type"][0].as_str(), Some("PUSH"));
    assert_eq!(pattern["detail"]["result"][0].as_str(), Some("SUCCESS"));
}

/// Each function's own router serves every route the template sends it: no route is
/// attached to the wrong function.
#[tokio::test]
async fn each_function_router_answers_its_template_routes() {
    // A migrated database, so each route answers at once (404 for a missing row, 401 for
    // no identity) rather than routing's 404 or 405, which are what this looks for.
    let db = TestDb::migrated().await;
    let state = db.state().await;
    let routers: BTreeMap<&str, Router> = [
        ("health", health::router(state.clone())),
        ("users", users::router(state.clone())),
        ("positions", positions::router(state.clone())),
        ("teams", teams::router(state.clone())),
        ("audit", audit::router(state.clone())),
        ("batch", batch::router(state.clone())),
        ("docs", docs::router(state)),
    ]
    .into_iter()
    .map(|(name, router)| {
        let router = shared::platform::http::with_shared_layers(router, testkit::jwt::tokens());
        (name, router)
    })
    .collect();

    let functions = functions(&template());
    let mut problems = Vec::new();
    for function in &functions {
        let name = built_crate(function);
        if function.routes.is_empty() {
            continue;
        }
        let Some(router) = routers.get(name) else {
            problems.push(format!("{name}: no router to check its routes against"));
            continue;
        };
        for (method, path) in &function.routes {
            let uri = path.replace("{id}", "1").replace("{user_id}", "2");
            let method = Method::from_bytes(method.as_bytes()).expect("a method");
            let response = request(method.clone(), &uri).send(router).await;
            let unrouted = response.status == StatusCode::METHOD_NOT_ALLOWED
                || (response.status == StatusCode::NOT_FOUND
                    && response.json() == serde_json::json!({"detail": "Not Found"}));
            if unrouted {
                problems.push(format!(
                    "{name}: {method} {uri} answered {} {:?}",
                    response.status,
                    response.json()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
