//! The one error type of every function, and its mapping to HTTP.
//!
//! Handlers return `Result<_, Error>`; `IntoResponse` below is the only place where an
//! error becomes a status code and a `{"detail": ...}` body.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::json;

/// Seconds a client should wait before retrying while the database is unreachable.
pub const RETRY_AFTER_SECS: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body could not be parsed at all (not JSON, not UTF-8).
    #[error("{0}")]
    BadRequest(String),
    /// The route needs an identity and the caller sent none.
    #[error("not authenticated")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A uniqueness rule would break; the message names the field, never the value.
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than 64 KiB")]
    PayloadTooLarge,
    /// Well-formed input that breaks the contract's rules: one entry per bad field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The database cannot be reached or is not ready (pending migrations).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: logged with its cause, answered with a generic message.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// One entry of a FastAPI-style 422 body: `{"loc": [...], "msg": ..., "type": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where the bad value is: `["body", "username"]`, `["body", "positions", 0]`, `["query", "limit"]`.
    #[schema(value_type = Vec<crate::platform::openapi::LocItem>, examples(json!(["body", "username"])))]
    pub loc: Vec<serde_json::Value>,
    #[schema(examples("String should have at least 4 characters"))]
    pub msg: String,
    /// A pydantic-style error type, e.g. `string_too_short`, `missing`, `extra_forbidden`.
    #[serde(rename = "type")]
    #[schema(examples("string_too_short"))]
    pub kind: String,
}

impl FieldError {
    /// An error about `body.<field>`.
    pub fn body(field: &str, msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            loc: vec!["body".into(), field.into()],
            msg: msg.into(),
            kind: kind.into(),
        }
    }

    /// An error about item `index` of the list `body.<field>`.
    pub fn body_item(
        field: &str,
        index: usize,
        msg: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        Self::body_path(&[field.into(), index.into()], msg, kind)
    }

    /// An error about a nested place in the body: `["body", ...path]`.
    pub fn body_path(
        path: &[serde_json::Value],
        msg: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        let mut loc = vec!["body".into()];
        loc.extend_from_slice(path);
        Self {
            loc,
            msg: msg.into(),
            kind: kind.into(),
        }
    }

    /// An error about the path parameter `name`.
    pub fn path(name: &str, msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            loc: vec!["path".into(), name.into()],
            msg: msg.into(),
            kind: kind.into(),
        }
    }

    /// An error about the query parameter `name`.
    pub fn query(name: &str, msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            loc: vec!["query".into(), name.into()],
            msg: msg.into(),
            kind: kind.into(),
        }
    }
}

impl Error {
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = match &self {
            Self::Validation(errors) => json!({ "detail": errors }),
            Self::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                json!({ "detail": "Internal server error" })
            }
            Self::Unavailable(reason) => {
                tracing::warn!(%reason, "answering 503");
                json!({ "detail": reason })
            }
            other => json!({ "detail": other.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

/// MySQL's error number for a duplicate key.
const ER_DUP_ENTRY: u16 = 1062;

/// The server's error number (`code()` is the SQLSTATE, which lumps many together).
fn error_number(db: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|e| e.number())
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if error_number(db.as_ref()) == Some(ER_DUP_ENTRY) => {
                Self::Conflict(conflict_message(db.message()))
            }
            e if is_connectivity(e) => {
                Self::Unavailable(format!("database unavailable: {}", short(e)))
            }
            _ => Self::Internal(error.into()),
        }
    }
}

/// The server's refusals of a new connection for want of room: `max_connections`
/// (ER_CON_COUNT_ERROR 1040), the global `max_user_connections` (ER_TOO_MANY_USER_CONNECTIONS
/// 1203), and the account's `MAX_USER_CONNECTIONS`, the API's connection budget
/// (ER_USER_LIMIT_REACHED 1226).
const CONNECTION_LIMITS: [u16; 3] = [1040, 1203, 1226];

/// Whether the server refused a connection because it has no room for one: the
/// connection budget at work, answered 503 like any unavailability.
pub fn is_connection_limit(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db)
        if error_number(db.as_ref()).is_some_and(|n| CONNECTION_LIMITS.contains(&n)))
}

/// Errors that mean "the database is not there right now", as opposed to a bad query.
pub fn is_connectivity(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        e if is_connection_limit(e) => true,
        // Server shutting down, connection killed, read-only.
        sqlx::Error::Database(db) => matches!(
            error_number(db.as_ref()),
            Some(1053 | 1077 | 1290 | 1836 | 1927 | 2006 | 2013)
        ),
        _ => false,
    }
}

fn short(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection",
        sqlx::Error::Io(_) => "connection failed",
        sqlx::Error::Tls(_) => "TLS handshake failed",
        e if is_connection_limit(e) => "too many connections, try again shortly",
        _ => "server not accepting queries",
    }
}

/// `Duplicate entry 'x' for key 'user.username'` → `username is already taken`.
/// The value itself is left out: it may be someone else's e-mail or phone number.
fn conflict_message(message: &str) -> String {
    let key = message
        .rsplit("for key ")
        .next()
        .map(|k| k.trim_matches(|c| c == '\'' || c == '`'))
        .map(|k| k.rsplit('.').next().unwrap_or(k))
        .filter(|k| !k.is_empty() && !message.starts_with(k));
    match key {
        Some("PRIMARY") | None => "already exists".to_owned(),
        Some(key) => format!("{key} is already taken"),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_names_the_key_and_hides_the_value() {
        assert_eq!(
            conflict_message("Duplicate entry 'kim@snu.ac.kr' for key 'user.slack_email'"),
            "slack_email is already taken"
        );
        assert_eq!(
            conflict_message("Duplicate entry 'waffle' for key 'username'"),
            "username is already taken"
        );
        assert_eq!(
            conflict_message("Duplicate entry '1-2' for key 'PRIMARY'"),
            "already exists"
        );
        assert_eq!(conflict_message("something else"), "already exists");
    }

    #[test]
    fn unavailable_carries_retry_after() {
        let response = Error::Unavailable("down".into()).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
