//! What a function crate's routes share beyond the extractors: the two entry points every
//! crate defines from its one registration of routes, and the answer of a create.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

#[doc(hidden)]
pub use axum::Router;
#[doc(hidden)]
pub use utoipa::openapi::OpenApi;

/// Defines a function crate's `pub fn router(state: AppState) -> Router` and
/// `pub fn openapi() -> OpenApi` from its `fn api() -> OpenApiRouter<AppState>`, which
/// registers each route with its documentation: what `router` serves is what `openapi`
/// describes. A crate whose handlers run with a state of their own writes its `router`
/// itself.
#[macro_export]
macro_rules! router_and_openapi {
    () => {
        /// The routes, bare: `shared::platform::http::with_shared_layers` adds what every function
        /// puts around them.
        pub fn router(state: $crate::AppState) -> $crate::platform::api::Router {
            api().with_state(state).into()
        }

        /// The OpenAPI description of every route `router` serves.
        pub fn openapi() -> $crate::platform::api::OpenApi {
            api().into_openapi()
        }
    };
}

/// 201 with `body` and `Location: <location>` (the new thing's path).
pub fn created(location: &str, body: impl Serialize) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
