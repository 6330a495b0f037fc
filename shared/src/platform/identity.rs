//! Who is calling, as the function's own token check established it.
//!
//! The only source of identity is the `Identity` that `http::authenticate` puts into
//! the request's extensions after verifying the `Authorization` header
//! (`platform::token`). Nothing a client can set is read: no `waffle-user-id` header,
//! and no `requestContext.authorizer` either (there is no Lambda authorizer in the
//! stack; an event carrying such a context gets no identity from it).

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::platform::error::Error;

/// The issuer of the tokens the local development tools mint (`scripts/token`, signed
/// with a key made on the developer's machine). Not a URL, so no SSO can ever be it; a
/// deployed function refuses to start with it (`token::Verifier::from_env`), so a local
/// token is denied by every deployed stack whatever key signed it.
pub const LOCAL_ISSUER: &str = "urn:waffledotcom:local-development";

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
        parts.extensions.get::<Self>().cloned()
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
