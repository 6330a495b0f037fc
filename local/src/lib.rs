//! The local server: every API function's routes on one port, behind the same shared
//! layers as in Lambda (the token check included), plus CORS (API Gateway's job when
//! deployed).

pub mod dev;
pub mod lambdas;

use axum::Router;
use http::{HeaderName, HeaderValue, Method, header};
use shared::AppState;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Settings read from the environment besides the shared configuration (which holds
/// the token check, `Config::tokens`, as in every function).
#[derive(Debug, Clone, Default)]
pub struct LocalSettings {
    /// Origins allowed to call the API from a browser (`CORS_ALLOW_ORIGINS`).
    pub cors_origins: Vec<String>,
}

impl LocalSettings {
    pub fn from_env() -> Self {
        let cors_origins = std::env::var("CORS_ALLOW_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        Self { cors_origins }
    }
}

/// Every function's routes, merged; batch runs with `batch`.
pub fn routes(state: AppState, batch: batch::Batch) -> Router {
    Router::new()
        .merge(health::router(state.clone()))
        .merge(users::router(state.clone()))
        .merge(positions::router(state.clone()))
        .merge(teams::router(state.clone()))
        .merge(audit::router(state.clone()))
        .merge(batch::router_with(state.clone(), batch))
        .merge(docs::router(state))
}

/// The whole local application: the same shared layers (token check included) as each
/// deployed function, plus CORS in front of the token check, so that a 403 is readable
/// cross-origin and preflights (which carry no token) never reach it.
pub fn app(state: AppState, batch: batch::Batch, settings: &LocalSettings) -> Router {
    let cors = cors(&settings.cors_origins);
    let tokens = state.config.tokens.clone();
    shared::platform::http::with_shared_layers_and(
        routes(state, batch),
        tokens,
        |router| router,
        |router| router.layer(cors),
    )
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            shared::platform::http::X_REQUEST_ID,
        ])
        .expose_headers([
            header::LINK,
            HeaderName::from_static("x-total-count"),
            header::ETAG,
            shared::platform::http::X_REQUEST_ID,
        ])
        .max_age(std::time::Duration::from_secs(600))
}
