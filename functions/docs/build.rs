//! Takes Swagger UI's two browser files out of the archive that `utoipa-swagger-ui-vendored`
//! ships, so the docs page serves them itself (no CDN), and brotli-compresses them here,
//! once: the binary holds only their `br` form (~0.4 MB for the ~1.5 MB the page loads),
//! which the function sends as it is (src/lib.rs, `Assets`), never compressing the
//! 1.4 MB bundle per request.
//!
//! The archive is a plain zip (PKWARE APPNOTE 6.3): the central directory at its end
//! lists each entry's method, sizes, CRC-32 and the offset of its local header; entries
//! are stored (method 0) or raw deflate (method 8).
//!
//! It also takes in `docs/openapi.json`, the committed document (tests/openapi_file.rs
//! holds it equal to what the code describes): the deployed function serves it, minified,
//! and routes `$default` by its paths, so its binary generates no OpenAPI at run time and
//! links none of the other functions' handlers.

use std::path::PathBuf;

/// The `dist/` files the page needs.
const FILES: [&str; 2] = ["swagger-ui-bundle.js", "swagger-ui.css"];

fn main() {
    let archive = utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED;
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let entries = central_directory(archive);
    for file in FILES {
        let suffix = format!("/dist/{file}");
        let entry = entries
            .iter()
            .find(|e| e.name.ends_with(&suffix) && e.name.matches('/').count() == 2)
            .unwrap_or_else(|| panic!("the Swagger UI archive has no {suffix}"));
        let bytes = extract(archive, entry);
        std::fs::write(out.join(format!("{file}.br")), brotli_max(&bytes))
            .expect("write into OUT_DIR");
    }
    let document = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .join("../../docs/openapi.json");
    let text = std::fs::read_to_string(&document).expect("docs/openapi.json (scripts/openapi)");
    std::fs::write(out.join("openapi.json"), minify(&text)).expect("write into OUT_DIR");
    std::fs::write(out.join("routes.rs"), routes(&text)).expect("write into OUT_DIR");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed={}", document.display());
}

/// `json` without the whitespace between its tokens, its keys in their order.
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The document's routes as Rust: `&[(path, &[method, ...]), ...]`.
fn routes(json: &str) -> String {
    let document: serde_json::Value =
        serde_json::from_str(json).expect("docs/openapi.json is JSON");
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    let mut rust = String::from("&[\n");
    for (path, item) in paths {
        let methods: Vec<String> = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| item.get(*m).is_some())
            .map(|m| format!("{:?}", m.to_ascii_uppercase()))
            .collect();
        rust.push_str(&format!("    ({path:?}, &[{}]),\n", methods.join(", ")));
    }
    rust.push(']');
    rust
}

/// `bytes` in brotli at quality 9 with a 16 MiB window: within ~3 % of quality 11's size
/// in a tenth of its time (build scripts run unoptimised).
fn brotli_max(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 4);
    let params = brotli::enc::BrotliEncoderParams {
        quality: 9,
        lgwin: 24,
        size_hint: bytes.len(),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).expect("brotli into memory");
    out
}

struct Entry {
    name: String,
    method: u16,
    crc: u32,
    compressed: usize,
    size: usize,
    local_header: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn central_directory(zip: &[u8]) -> Vec<Entry> {
    // The end-of-central-directory record: 22 bytes plus a comment of up to 64 KiB.
    let end = (0..=zip.len().saturating_sub(22))
        .rev()
        .find(|&at| u32_at(zip, at) == 0x0605_4b50)
        .expect("a zip archive ends with its central directory record");
    let count = usize::from(u16_at(zip, end + 10));
    let mut at = u32_at(zip, end + 16) as usize;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        assert_eq!(u32_at(zip, at), 0x0201_4b50, "central directory entry");
        let name_len = usize::from(u16_at(zip, at + 28));
        let extra_len = usize::from(u16_at(zip, at + 30));
        let comment_len = usize::from(u16_at(zip, at + 32));
        entries.push(Entry {
            name: String::from_utf8_lossy(&zip[at + 46..at + 46 + name_len]).into_owned(),
            method: u16_at(zip, at + 10),
            crc: u32_at(zip, at + 16),
            compressed: u32_at(zip, at + 20) as usize,
            size: u32_at(zip, at + 24) as usize,
            local_header: u32_at(zip, at + 42) as usize,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    entries
}

fn extract(zip: &[u8], entry: &Entry) -> Vec<u8> {
    let at = entry.local_header;
    assert_eq!(u32_at(zip, at), 0x0403_4b50, "local file header");
    let start = at + 30 + usize::from(u16_at(zip, at + 26)) + usize::from(u16_at(zip, at + 28));
    let data = &zip[start..start + entry.compressed];
    let bytes = match entry.method {
        0 => data.to_vec(),
        8 => miniz_oxide::inflate::decompress_to_vec(data)
            .unwrap_or_else(|e| panic!("{}: bad deflate stream: {e:?}", entry.name)),
        other => panic!("{}: unsupported zip method {other}", entry.name),
    };
    assert_eq!(bytes.len(), entry.size, "{}: size", entry.name);
    assert_eq!(crc32fast::hash(&bytes), entry.crc, "{}: CRC-32", entry.name);
    bytes
}
