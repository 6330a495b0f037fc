//! What the OpenAPI document of every function shares: the error bodies and the security
//! scheme. Each function documents its routes where it registers them (`utoipa-axum`);
//! the `docs` function merges the parts into one document.

use std::collections::BTreeMap;

use utoipa::openapi::RefOr;
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, ToSchema};

/// The name routes give in `security((SECURITY_SCHEME = []))`.
pub const SECURITY_SCHEME: &str = "waffle_sso";

/// The Waffle Studio SSO access token, checked by every function before any route
/// (`http::authenticate`).
pub fn security_scheme() -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "The Waffle Studio SSO access token (waffle-account-server): a JWT signed with \
                 RS512 or RS256. Without a token the request is anonymous; a bad, expired or \
                 foreign token is denied with 403 before the route runs.",
            ))
            .build(),
    )
}

/// Every error but a validation error: `{"detail": "<human-readable message>"}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Documentation only: `Error` writes these bodies.
pub struct ErrorBody {
    #[schema(examples("user not found"))]
    pub detail: String,
}

/// A 422: one entry per bad field, as FastAPI answers.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Documentation only: `Error::Validation` writes these bodies.
pub struct ValidationErrorBody {
    pub detail: Vec<crate::platform::error::FieldError>,
}

/// One step of a `loc`: a place (`body`, `query`, `path`), a field name, or a list index.
#[derive(Debug, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Documentation only: `loc` holds JSON values.
pub enum LocItem {
    Name(String),
    Index(u32),
}

// The error answers most routes share, as response sets for `#[utoipa::path]`'s
// `responses(...)`: one wording for each in the whole document. A route whose answer says
// more (which field, which rule) keeps its own line.

/// 401: the route needs a token and there was none.
#[derive(IntoResponses)]
#[response(status = 401, description = "No token.")]
pub struct NoToken(pub ErrorBody);

/// 403 of a route anyone may call: a token is optional there, but one that is sent is
/// checked, and a bad, expired or foreign one is denied before the route runs. Such a
/// route declares `security((), ("waffle_sso" = []))`: anonymous, or with the token.
#[derive(IntoResponses)]
#[response(status = 403, description = "The token was denied.")]
pub struct TokenDenied(pub ErrorBody);

/// 403 of an admin route.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "The token was denied, or the caller is not an admin."
)]
pub struct NotAdmin(pub ErrorBody);

/// 503 from `Error::Unavailable`, with the `Retry-After` it sends.
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "The database is unreachable.",
    headers(("Retry-After" = u32))
)]
pub struct DbUnavailable(pub ErrorBody);

/// The three answers every admin route has besides its own: [`NoToken`], [`NotAdmin`]
/// and [`DbUnavailable`], worded where they are declared.
pub struct AdminErrors;

impl IntoResponses for AdminErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut responses = NoToken::responses();
        responses.extend(NotAdmin::responses());
        responses.extend(DbUnavailable::responses());
        responses
    }
}
