//! Who is calling, as the authorizer established it.
//!
//! The only source of identity is the authorizer context that API Gateway attaches to
//! the event (`requestContext.authorizer.lambda.waffle_user_id`); the local server
//! attaches the same context after running the same verification. Headers a client can
//! set (`waffle-user-id`, ...) are never read.

use axum::extract::FromRequestParts;
use http::request::Parts;
use lambda_http::request::RequestContext;

use crate::platform::error::Error;

/// The issuer of the tokens the local development tools mint (`scripts/token`, signed
/// with a key made on the developer's machine). Not a URL, so no SSO can ever be it; a
/// deployed authorizer refuses to start with it (functions/authorizer), so a local token
/// is denied by every deployed stack whatever key signed it.
pub const LOCAL_ISSUER: &str = "urn:waffledotcom:local-development";

/// The key under which the authorizer hands over the caller's SSO id.
pub const CONTEXT_KEY: &str = "waffle_user_id";

/// The key under which the authorizer hands over why it refused a token. The
/// authorizer lets such a request through (API Gateway's own 403 would have no
/// `detail` and no `x-request-id`), and the shared HTTP layer answers it 403 before
/// any handler runs (`http::deny_refused_tokens`).
pub const DENIAL_KEY: &str = "waffle_denied";

/// The authorizer's reason for refusing the caller's token, if it refused it.
pub fn denial(context: Option<&RequestContext>) -> Option<&str> {
    let Some(RequestContext::ApiGatewayV2(context)) = context else {
        return None;
    };
    context
        .authorizer
        .as_ref()?
        .fields
        .get(DENIAL_KEY)?
        .as_str()
}

/// A caller with a verified token; rejects anonymous callers with 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's `sub`: the caller's Waffle Studio SSO id.
    pub sso_id: String,
}

/// A caller who may or may not have sent a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaybeIdentity(pub Option<Identity>);

impl Identity {
    fn from_parts(parts: &Parts) -> Option<Self> {
        let RequestContext::ApiGatewayV2(context) = parts.extensions.get::<RequestContext>()?
        else {
            return None;
        };
        let sso_id = context
            .authorizer
            .as_ref()?
            .fields
            .get(CONTEXT_KEY)?
            .as_str()?;
        (!sso_id.is_empty()).then(|| Self {
            sso_id: sso_id.to_owned(),
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::from_parts(parts).ok_or(Error::Unauthorized)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeIdentity {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Identity::from_parts(parts)))
    }
}

/// The request context API Gateway builds for a request the authorizer let through:
/// with the caller's SSO id, or without any for an anonymous caller.
pub fn authorizer_context(sso_id: Option<&str>) -> RequestContext {
    let authorizer = sso_id.map(|id| serde_json::json!({ "lambda": { CONTEXT_KEY: id } }));
    let context = serde_json::json!({
        "authorizer": authorizer,
        "http": { "method": "GET" },
        "timeEpoch": 0,
    });
    // The shape is fixed above and matches the event format, so this cannot fail;
    // the default is the anonymous context all the same.
    RequestContext::ApiGatewayV2(serde_json::from_value(context).unwrap_or_default())
}
