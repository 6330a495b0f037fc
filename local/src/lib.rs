//! The local server: every API function's routes on one port, behind the same shared
//! layers as in Lambda, plus CORS (API Gateway's job when deployed).

pub mod dev;
pub mod lambdas;

use std::sync::Arc;

use authorizer::{KeyError, Verifier};
use axum::Router;
use http::{HeaderName, HeaderValue, Method, header};
use shared::AppState;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Settings read from the environment besides the shared configuration.
#[derive(Debug, Clone, Default)]
pub struct LocalSettings {
    /// Origins allowed to call the API from a browser (`CORS_ALLOW_ORIGINS`).
    pub cors_origins: Vec<String>,
    /// The authorizer's check (`WAFFLE_JWT_PUBLIC_KEY`, `WAFFLE_JWT_ISSUER`). `None` when
    /// no key is set: every request is anonymous, and one that carries a token gets 403.
    pub verifier: Option<Arc<Verifier>>,
}

impl LocalSettings {
    /// Fails when the key is set but unusable, or set without an issuer.
    pub fn from_env() -> Result<Self, KeyError> {
        let cors_origins = std::env::var("CORS_ALLOW_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        let verifier = match authorizer::env_var(authorizer::PUBLIC_KEY_VAR)? {
            Some(_) => Some(Arc::new(Verifier::from_env()?)),
            None => {
                tracing::warn!(
                    "{} is not set: every request is anonymous, and any request with a token gets 403",
                    authorizer::PUBLIC_KEY_VAR
                );
                None
            }
        };
        Ok(Self {
            cors_origins,
            verifier,
        })
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

/// The whole local application.
pub fn app(state: AppState, batch: batch::Batch, settings: &LocalSettings) -> Router {
    let cors = cors(&settings.cors_origins);
    // What API Gateway runs before every route; CORS outside it, so that a 403 is
    // readable cross-origin and preflights (which carry no token) never reach it.
    let auth =
        axum::middleware::from_fn_with_state(settings.verifier.clone(), authorizer::middleware);
    shared::platform::http::with_shared_layers_and(routes(state, batch), |router| {
        router.layer(auth).layer(cors)
    })
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
