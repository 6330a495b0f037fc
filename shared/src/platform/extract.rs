//! Extractors that turn request parts into checked values, answering bad input with
//! the contract's 4xx: the JSON body and numeric path ids. (Admin callers are checked
//! against the member directory: `domain::admin`.)

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use http::request::Parts;
use serde_json::{Map, Value};

use crate::platform::error::{Error, FieldError};

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
        let [id] = path_ids(parts, state, ["id"]).await?;
        Ok(Self(id))
    }
}

/// The `{id}` and `{user_id}` of a path such as `/teams/{id}/members/{user_id}`, each a
/// positive 32-bit integer; a 422 names every bad one (`path.id`, `path.user_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathIds(pub i32, pub i32);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let [id, user_id] = path_ids(parts, state, ["id", "user_id"]).await?;
        Ok(Self(id, user_id))
    }
}

/// The path parameters `names`, each a positive 32-bit integer, for extractors of paths
/// with other parameter names. Anything else is a 422 with one entry per bad parameter.
pub async fn path_ids<S: Send + Sync, const N: usize>(
    parts: &mut Parts,
    state: &S,
    names: [&str; N],
) -> Result<[i32; N], Error> {
    let params = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
        .await
        .map(|Path(params)| params)
        .unwrap_or_default();
    let mut ids = [0; N];
    let mut errors = Vec::new();
    for (slot, name) in ids.iter_mut().zip(names) {
        let id = params
            .iter()
            .find(|(param, _)| param == name)
            .and_then(|(_, value)| value.parse::<i32>().ok())
            .filter(|id| *id > 0);
        match id {
            Some(id) => *slot = id,
            None => errors.push(FieldError::path(
                name,
                "Input should be a positive integer",
                "int_parsing",
            )),
        }
    }
    if errors.is_empty() {
        Ok(ids)
    } else {
        Err(Error::Validation(errors))
    }
}
