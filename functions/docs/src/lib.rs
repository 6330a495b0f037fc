//! `GET /api/openapi.json`: the OpenAPI document of every function, merged from what each
//! function registers with its routes; `GET /api/docs`: a page that renders it, with
//! Swagger UI's files served by `GET /api/docs/{file}` (vendored at build time, see `build.rs`).
//!
//! The local server builds and serializes the document once at start (`router`); the
//! deployed function serves the committed copy (`lambda_app`).

pub mod default_route;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use shared::AppState;
use shared::platform::compress::Encoding;
use shared::platform::openapi::{ErrorBody, SECURITY_SCHEME, TokenDenied, security_scheme};
use shared::platform::token::Tokens;
use utoipa::openapi::info::LicenseBuilder;
use utoipa::openapi::server::ServerBuilder;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Server};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The docs function's routes. Takes `AppState` like every function (the local server
/// merges it with the others), though it needs no database: see [`routes`].
pub fn router(_state: AppState) -> Router {
    routes()
}

/// The routes without any state: the deployed function starts from this, so it reads
/// no configuration and needs neither the database secret nor the VPC.
pub fn routes() -> Router {
    let json = match document().to_json() {
        Ok(json) => Some(Bytes::from(json)),
        Err(error) => {
            tracing::error!(%error, "cannot serialize the OpenAPI document");
            None
        }
    };
    serving(json)
}

/// The docs' routes serving `json` as the document.
fn serving(json: Option<Bytes>) -> Router {
    api()
        .with_state(Published {
            json,
            assets: Arc::new(Assets::default()),
        })
        .into()
}

/// The deployed function: its routes, and the API's `$default` route (see
/// [`default_route`]) with `GET /api/v1/health/`, with the shared HTTP layer around both
/// (`tokens` checks the callers' tokens: a refused one is 403 on any path, before a 405).
/// It serves the committed `docs/openapi.json` (minified by build.rs; tests/openapi_file.rs
/// holds it equal to [`document`]) and routes `$default` by its paths: nothing is
/// generated at start, and the other functions' handlers stay out of the binary.
pub fn lambda_app(tokens: Tokens) -> Router {
    let table = Arc::new(default_route::RouteTable::from_routes(
        COMMITTED_ROUTES,
        SLASH_FORMS,
    ));
    // The contract's trailing-slash path, which no HTTP API route can carry: it
    // reaches `$default`, and gets the health function's answer (no database).
    let routes = serving(Some(Bytes::from_static(COMMITTED_DOCUMENT)))
        .route("/api/v1/health/", axum::routing::get(health::live));
    shared::platform::http::with_shared_layers_and(
        routes,
        tokens,
        |router| {
            router.layer(axum::middleware::from_fn_with_state(
                table,
                default_route::answer,
            ))
        },
        |router| router,
    )
}

/// `docs/openapi.json` as committed, minified at build time.
pub const COMMITTED_DOCUMENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The paths of `docs/openapi.json` and their methods.
pub const COMMITTED_ROUTES: &[(&str, &[&str])] = include!(concat!(env!("OUT_DIR"), "/routes.rs"));

/// Each HTTP function's own part of the document, by function name. A new function adds
/// its `openapi()` here.
pub fn parts() -> Vec<(&'static str, OpenApi)> {
    vec![
        ("health", health::openapi()),
        ("users", users::openapi()),
        ("positions", positions::openapi()),
        ("teams", teams::openapi()),
        ("audit", audit::openapi()),
        ("batch", batch::openapi()),
        ("docs", api().into_openapi()),
    ]
}

/// Paths served besides the document's: each answers as the same path without its
/// trailing slash, whose description says so. OpenAPI tools refuse a path ending in `/`
/// (Redocly's `no-path-trailing-slash`), so the document leaves them out.
pub const SLASH_FORMS: &[&str] = &[health::LIVE_WITH_SLASH];

/// `doc` with the [`SLASH_FORMS`] of its paths added (copies of the paths without the
/// slash): every route served, for the `$default` route table and the template's check.
pub fn with_slash_forms(mut doc: OpenApi) -> OpenApi {
    for slash in SLASH_FORMS {
        if let Some(item) = doc.paths.paths.get(slash.trim_end_matches('/')).cloned() {
            doc.paths.paths.insert((*slash).to_owned(), item);
        }
    }
    doc
}

/// The OpenAPI document of every route of every HTTP function: the `parts` merged under
/// one description, with the security scheme their routes name.
pub fn document() -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("waffledotcom API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The backend of wafflestudio.com: the member directory and the club's \
                     operations. Every error body is `{\"detail\": \"...\"}`; a 422 lists one \
                     `{loc, msg, type}` per bad field; a 500 says only `Internal server error`. \
                     Every answer carries `x-request-id`; an unknown route is a 404 and a wrong \
                     method a 405.",
                ))
                // The repository's LICENSE, by its SPDX identifier (OpenAPI 3.1).
                .license(Some(
                    LicenseBuilder::new()
                        .name("MIT")
                        .identifier(Some("MIT"))
                        .build(),
                ))
                .build(),
        )
        .servers(Some([
            server("/", "The server of this page"),
            server("https://wadot-api.wafflestudio.com", "Production"),
        ]))
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(SECURITY_SCHEME, security_scheme())
                .build(),
        ))
        .tags(Some([
            tag("users", "The member directory."),
            tag("positions", "The positions members hold."),
            tag("teams", "Teams and their members."),
            tag(
                "audit",
                "The audit log: every write, who made it and what it changed.",
            ),
            tag(
                "batch",
                "Batch jobs (the Slack member sync): schedule, force-runs, run history.",
            ),
            tag("health", "Liveness and readiness."),
            tag("docs", "This document."),
        ]))
        .build();
    for (_, part) in parts() {
        doc.merge(part);
    }
    doc
}

fn server(url: &str, description: &str) -> Server {
    ServerBuilder::new()
        .url(url)
        .description(Some(description))
        .build()
}

fn tag(name: &str, description: &str) -> utoipa::openapi::Tag {
    TagBuilder::new()
        .name(name)
        .description(Some(description))
        .build()
}

fn api() -> OpenApiRouter<Published> {
    OpenApiRouter::default()
        .routes(routes!(openapi_json))
        .routes(routes!(docs_page))
        .routes(routes!(docs_asset))
}

/// The serialized document (`None` if serializing failed at start, logged then), and the
/// page's files.
#[derive(Clone)]
struct Published {
    json: Option<Bytes>,
    assets: Arc<Assets>,
}

#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "docs_openapi",
    tag = "docs",
    summary = "This OpenAPI document",
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "The OpenAPI document of every route.", content_type = "application/json", body = Object),
        (status = 500, description = "The document could not be serialized.", body = ErrorBody),
        TokenDenied,
    ),
)]
async fn openapi_json(State(published): State<Published>) -> Response {
    match published.json {
        Some(json) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response(),
        None => shared::Error::Internal(anyhow::anyhow!("the OpenAPI document is unavailable"))
            .into_response(),
    }
}

/// What the page and its files may load: their own origin only (`data:` images are
/// Swagger UI's inline SVG icons, part of its stylesheet). No inline script, no eval, no
/// framing. Sent with every answer of the docs routes.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers of every page and file of the docs: the policy above, and no content sniffing.
fn page_headers(content_type: &'static str) -> [(header::HeaderName, HeaderValue); 4] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ]
}

#[utoipa::path(
    get,
    path = "/api/docs",
    operation_id = "docs_page",
    tag = "docs",
    summary = "The API reference page",
    description = "An HTML page that renders `/api/openapi.json` with Swagger UI. Every file it loads is served by `/api/docs/{file}`; its Content-Security-Policy allows its own origin only.",
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "The page.", content_type = "text/html", body = String),
        TokenDenied,
    ),
)]
async fn docs_page() -> Response {
    (page_headers("text/html; charset=utf-8"), PAGE).into_response()
}

/// Swagger UI's files as vendored and brotli-compressed at build time (`build.rs`): name,
/// content type, `br` bytes.
const COMPRESSED: [(&str, &str, &[u8]); 2] = [
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui-bundle.js.br")),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui.css.br")),
    ),
];

/// The brotli form of a built-in Swagger UI file, as the binary holds it (for tests).
pub fn built_in_br(file: &str) -> Option<&'static [u8]> {
    COMPRESSED
        .iter()
        .find(|(name, _, _)| *name == file)
        .map(|(_, _, br)| *br)
}

/// The script that starts Swagger UI: small, sent like any answer.
const STARTER: &[u8] = include_bytes!("docs.js");

/// The other forms of the compressed files, made at most once per execution environment
/// and only when a client that does not take `br` asks (browsers all do): the plain bytes
/// (decoded, not compressed) and, from them, gzip. No request compresses the bundle
/// after another.
#[derive(Default)]
struct Assets {
    identity: [OnceLock<Option<Bytes>>; 2],
    gzip: [OnceLock<Option<Bytes>>; 2],
}

impl Assets {
    fn identity(&self, index: usize) -> Option<Bytes> {
        self.identity[index]
            .get_or_init(|| {
                let mut plain = Vec::new();
                let mut decoder = brotli::Decompressor::new(COMPRESSED[index].2, 64 * 1024);
                std::io::Read::read_to_end(&mut decoder, &mut plain)
                    .ok()
                    .map(|_| Bytes::from(plain))
            })
            .clone()
    }

    fn gzip(&self, index: usize) -> Option<Bytes> {
        self.gzip[index]
            .get_or_init(|| {
                let plain = self.identity(index)?;
                Encoding::Gzip.encode(&plain).map(Bytes::from)
            })
            .clone()
    }

    /// The file at `index` in the coding `Accept-Encoding` prefers, with its
    /// `Content-Encoding`.
    fn coded(&self, index: usize, request: &HeaderMap) -> Option<(Bytes, Option<&'static str>)> {
        match Encoding::negotiate(request) {
            Encoding::Brotli => Some((Bytes::from_static(COMPRESSED[index].2), Some("br"))),
            Encoding::Gzip => self.gzip(index).map(|b| (b, Some("gzip"))),
            Encoding::Identity => self.identity(index).map(|b| (b, None)),
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/docs/{file}",
    operation_id = "docs_asset",
    tag = "docs",
    summary = "A file of the API reference page",
    description = "The scripts and stylesheet `/api/docs` loads (Swagger UI, vendored), so the page needs no other origin.",
    params(("file" = String, Path, description = "`swagger-ui-bundle.js`, `swagger-ui.css` or `docs.js`.")),
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "The file.", content_type = "text/javascript", body = String),
        (status = 404, description = "No such file.", body = ErrorBody),
        TokenDenied,
    ),
)]
async fn docs_asset(
    State(published): State<Published>,
    Path(file): Path<String>,
    request: HeaderMap,
) -> Response {
    // The files change only with a release; an hour keeps a reload cheap.
    let cache = [(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    )];
    if file == "docs.js" {
        let headers = page_headers("text/javascript; charset=utf-8");
        return (headers, cache, Bytes::from_static(STARTER)).into_response();
    }
    let Some(index) = COMPRESSED.iter().position(|(name, _, _)| *name == file) else {
        return shared::Error::not_found("file").into_response();
    };
    let Some((bytes, coding)) = published.assets.coded(index, &request) else {
        return shared::Error::Internal(anyhow::anyhow!("{file} could not be decoded"))
            .into_response();
    };
    // A Content-Encoding set here: the shared compression layer leaves the answer alone.
    let mut response = (page_headers(COMPRESSED[index].1), cache, bytes).into_response();
    if let Some(coding) = coding {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    shared::platform::compress::add_vary(response.headers_mut());
    response
}

/// The page: Swagger UI, served by the routes above, pointed at the document. Without
/// JavaScript it still says where the document is.
const PAGE: &str = include_str!("docs.html");
