//! Extractors that turn request parts into checked values, answering bad input with
//! the contract's 4xx: the JSON body, numeric path ids, and admin callers.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use http::request::Parts;
use serde_json::{Map, Value};

use crate::error::{Error, FieldError};
use crate::identity::Identity;
use crate::state::AppState;
use crate::users::repo::{self, Registered};

/// A request body that is a JSON object. Not JSON (or not UTF-8): 400. JSON but not an
/// object: 422. Over 64 KiB: 413.
#[derive(Debug, Clone)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    Error::PayloadTooLarge
                } else {
                    Error::BadRequest("could not read the request body".into())
                }
            })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(Error::Validation(vec![FieldError {
                loc: vec!["body".into()],
                msg: "Input should be a JSON object".into(),
                kind: "model_type".into(),
            }])),
            Err(e) if e.is_eof() && bytes.iter().all(u8::is_ascii_whitespace) => Err(
                Error::BadRequest("request body is empty; expected a JSON object".into()),
            ),
            Err(e) => Err(Error::BadRequest(format!(
                "request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))),
        }
    }
}

/// The `{id}` of a path, a positive 32-bit integer; anything else is a 422 on `path.id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathId(pub i32);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = || {
            Error::Validation(vec![FieldError::path(
                "id",
                "Input should be a positive integer",
                "int_parsing",
            )])
        };
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid())?;
        let raw = params
            .iter()
            .find(|(name, _)| name == "id")
            .map(|(_, value)| value.as_str())
            .ok_or_else(invalid)?;
        match raw.parse::<i32>() {
            Ok(id) if id > 0 => Ok(Self(id)),
            _ => Err(invalid()),
        }
    }
}

/// A registered user with `is_admin`: 401 without a token, 403 otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Admin(pub Registered);

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let identity = Identity::from_request_parts(parts, state).await?;
        let pool = state.db.pool().await?;
        let mut conn = pool.acquire().await?;
        match repo::registered(&mut conn, &identity.sso_id).await? {
            Some(user) if user.is_admin => Ok(Self(user)),
            _ => Err(Error::Forbidden("only admins may do this".into())),
        }
    }
}
