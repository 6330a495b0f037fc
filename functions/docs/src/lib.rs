//! `GET /api/openapi.json`: the OpenAPI document of every function, merged from what each
//! function registers with its routes; `GET /api/docs`: a page that renders it, with
//! Swagger UI's files served by `GET /api/docs/{file}` (vendored at build time, see `build.rs`).
//!
//! The document is built and serialized once per cold start, in `router`.

pub mod default_route;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use shared::AppState;
use shared::platform::openapi::{ErrorBody, SECURITY_SCHEME, security_scheme};
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
    api().with_state(Published { json }).into()
}

/// The deployed function: its routes, and the API's `$default` route (see
/// [`default_route`]) with `GET /api/v1/health/`, with the shared HTTP layer around both.
pub fn lambda_app() -> Router {
    let table = Arc::new(default_route::RouteTable::new(&document()));
    // The contract's trailing-slash path, which no HTTP API route can carry: it
    // reaches `$default`, and gets the health function's answer (no database).
    let routes = routes().route("/api/v1/health/", axum::routing::get(health::live));
    shared::platform::http::with_shared_layers_and(routes, |router| {
        router.layer(axum::middleware::from_fn_with_state(
            table,
            default_route::answer,
        ))
    })
}

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

/// The serialized document; `None` if serializing failed at start (logged then).
#[derive(Clone)]
struct Published {
    json: Option<Bytes>,
}

#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "docs_openapi",
    tag = "docs",
    summary = "This OpenAPI document",
    responses(
        (status = 200, description = "The OpenAPI document of every route.", content_type = "application/json", body = Object),
        (status = 500, description = "The document could not be serialized.", body = ErrorBody),
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
    responses((status = 200, description = "The page.", content_type = "text/html", body = String)),
)]
async fn docs_page() -> Response {
    (page_headers("text/html; charset=utf-8"), PAGE).into_response()
}

/// The page's files, built in: Swagger UI as vendored (see `build.rs`) and the script
/// that starts it. Name, content type, bytes.
const ASSETS: [(&str, &str, &[u8]); 3] = [
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui-bundle.js")),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui.css")),
    ),
    (
        "docs.js",
        "text/javascript; charset=utf-8",
        include_bytes!("docs.js"),
    ),
];

#[utoipa::path(
    get,
    path = "/api/docs/{file}",
    operation_id = "docs_asset",
    tag = "docs",
    summary = "A file of the API reference page",
    description = "The scripts and stylesheet `/api/docs` loads (Swagger UI, vendored), so the page needs no other origin.",
    params(("file" = String, Path, description = "`swagger-ui-bundle.js`, `swagger-ui.css` or `docs.js`.")),
    responses(
        (status = 200, description = "The file.", content_type = "text/javascript", body = String),
        (status = 404, description = "No such file.", body = ErrorBody),
    ),
)]
async fn docs_asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            page_headers(content_type),
            // The files change only with a release; an hour keeps a reload cheap.
            [(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            )],
            Bytes::from_static(bytes),
        )
            .into_response(),
        None => shared::Error::not_found("file").into_response(),
    }
}

/// The page: Swagger UI, served by the routes above, pointed at the document. Without
/// JavaScript it still says where the document is.
const PAGE: &str = include_str!("docs.html");
