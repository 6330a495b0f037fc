//! `docs/openapi.json`, the committed OpenAPI document, is the one the `docs` function
//! serves: a route or schema change without a refreshed file fails here.
//! Refresh: `scripts/openapi` (runs this test with `WADOT_WRITE_OPENAPI=1`).

use std::path::Path;

#[test]
fn the_committed_document_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let mut current = docs::document()
        .to_pretty_json()
        .expect("the document serializes");
    current.push('\n');
    if std::env::var_os("WADOT_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &current).expect("write docs/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    // Compared as JSON first, for a readable failure; then byte for byte, so the file
    // stays exactly what `scripts/openapi` writes.
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
    assert!(
        parse(&committed) == parse(&current) && committed == current,
        "docs/openapi.json is not the document the docs function serves; run scripts/openapi and commit it"
    );
}

/// The deployed function serves the committed file (minified at build time) and routes
/// `$default` by its paths: both must be the document's.
#[test]
fn the_deployed_function_serves_and_routes_by_the_committed_document() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("docs/openapi.json"))
            .expect("the committed file is JSON");
    let served: serde_json::Value =
        serde_json::from_slice(docs::COMMITTED_DOCUMENT).expect("the served copy is JSON");
    assert_eq!(
        served, committed,
        "the minified copy says what the file says"
    );
    assert!(
        docs::COMMITTED_DOCUMENT.len() * 3 / 2 < path.metadata().expect("size").len() as usize,
        "the served copy is minified"
    );

    let document = serde_json::to_value(docs::document()).expect("the document serializes");
    let paths = document["paths"].as_object().expect("paths");
    assert_eq!(docs::COMMITTED_ROUTES.len(), paths.len());
    for (path, methods) in docs::COMMITTED_ROUTES {
        let item = &paths[*path];
        let expected: Vec<&str> = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| item.get(*m).is_some())
            .collect();
        let listed: Vec<String> = methods.iter().map(|m| m.to_ascii_lowercase()).collect();
        assert_eq!(listed, expected, "{path}");
    }
}
