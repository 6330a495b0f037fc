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
