//! What every HTTP function puts around its routes: request ids, a body limit, the token
//! check, JSON 404/405 answers, a panic guard, compression, and the Lambda entry point.
//!
//! A function's `router()` returns bare routes; `with_shared_layers` adds this once,
//! whether the routes run alone in Lambda or merged with the others in the local server.

use std::any::Any;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, header};
use lambda_http::request::RequestContext;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::AppState;
use crate::platform::error::Error;
use crate::platform::identity::Identity;
use crate::platform::token::{self, Decision, Tokens};

/// The largest request body any route accepts (docs/api.md: 413 above 64 KiB).
pub const BODY_LIMIT: usize = 64 * 1024;

/// How long a handler may take before the request is answered 503. The pool gives up
/// on a connection after 3 s, but a query already sent to a server that froze (or
/// that a partition cut off) would wait forever; docs/api.md wants a 503 within 4 s.
pub const ANSWER_DEADLINE: Duration = Duration::from_millis(3_500);

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, as sent back in `x-request-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Adds the shared behaviour to a function's routes; `tokens` checks the callers'
/// tokens ([`authenticate`]).
pub fn with_shared_layers(routes: Router, tokens: Tokens) -> Router {
    with_shared_layers_and(routes, tokens, |router| router, |router| router)
}

/// Like `with_shared_layers`, with two places for a caller's own layers, both of which
/// see unknown paths and wrong methods too, inside the request id: `behind_auth` runs
/// after the token check (the docs function's 405s: a refused token is 403 first),
/// `before_auth` before it (the local server's CORS, so that a 403 stays readable
/// cross-origin and preflights never need a token).
pub fn with_shared_layers_and(
    routes: Router,
    tokens: Tokens,
    behind_auth: impl FnOnce(Router) -> Router,
    before_auth: impl FnOnce(Router) -> Router,
) -> Router {
    let routes = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(deadline));
    let routes = behind_auth(routes).layer(middleware::from_fn_with_state(tokens, authenticate));
    before_auth(routes)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(reject_large_bodies))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(crate::platform::compress::layer))
        .layer(middleware::from_fn(request_id))
}

/// The whole `main` of an HTTP function: logging, configuration and pool (once per
/// cold start), then its routes served as a Lambda function behind an HTTP API
/// (payload 2.0). A configuration error is logged in words and fails the init.
/// The pool keeps its connection between invocations for a short idle time
/// (docs/operations.md, "Connection budget").
pub async fn run_lambda(router: fn(AppState) -> Router) -> Result<(), lambda_http::Error> {
    crate::platform::telemetry::init();
    let state = AppState::for_http_function()
        .await
        .inspect_err(crate::platform::process::start_failed)?;
    let tokens = state.config.tokens.clone();
    lambda_http::run(with_shared_layers(router(state), tokens)).await
}

/// The caller's identity, from the `Authorization` header alone, before any route or
/// fallback: no header passes as anonymous, a valid token puts the caller's
/// [`Identity`] into the request's extensions (where the extractors read it), anything
/// else is 403 with `detail`, on every path and method. An `Identity` already in the
/// extensions is dropped first: only this check creates one.
async fn authenticate(State(tokens): State<Tokens>, mut request: Request, next: Next) -> Response {
    request.extensions_mut().remove::<Identity>();
    match token::decide(tokens.as_deref(), request.headers()) {
        Decision::Anonymous => {}
        Decision::User(sso_id) => {
            request.extensions_mut().insert(Identity { sso_id });
        }
        Decision::Denied(_) => {
            return Error::Forbidden("invalid or expired token".into()).into_response();
        }
    }
    next.run(request).await
}

async fn not_found() -> Error {
    Error::NotFound("Not Found".into())
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

/// Answers 413 from the declared length, before any handler reads the body. Bodies
/// without a length are cut at the same size by `DefaultBodyLimit` in the extractors.
async fn reject_large_bodies(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        return Error::PayloadTooLarge.into_response();
    }
    next.run(request).await
}

/// Answers 503 when the handler has not answered by [`ANSWER_DEADLINE`]. Dropping the
/// handler drops its connection too; the pool pings it on its way back (sqlx does on
/// every release) and drops it if it does not answer.
async fn deadline(request: Request, next: Next) -> Response {
    match tokio::time::timeout(ANSWER_DEADLINE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Error::Unavailable("no answer in time; the database may be unreachable".into())
            .into_response(),
    }
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    Error::Internal(anyhow::anyhow!("handler panicked: {message}")).into_response()
}

/// Gives every request our id (API Gateway's, or a new one), runs it in a span carrying
/// that id, logs its outcome, and returns the id in `x-request-id`. A client's own
/// `x-request-id` is only logged beside it, as `client_request_id`: a client cannot
/// choose the id our log lines are found by (nor make its lines pass for another
/// request's).
async fn request_id(mut request: Request, next: Next) -> Response {
    // API Gateway's own id when there is one: the access log's `requestId`, so an
    // access-log line leads to every function log line of its request.
    let gateway_id = gateway_request_id(&request);
    let id = gateway_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let client_id = client_request_id(&request).unwrap_or_default();
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        apigw_request_id = %gateway_id.unwrap_or_default(),
        client_request_id = %client_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "handled"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}

/// The caller's `x-request-id`, when it is short and printable (else it is not logged).
fn client_request_id(request: &Request) -> Option<String> {
    request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_id(v))
        .map(str::to_owned)
}

/// `requestContext.requestId` of an HTTP API (payload 2.0) event.
fn gateway_request_id(request: &Request) -> Option<String> {
    match request.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    }
    .filter(|v| is_sane_id(v))
}

/// A caller's id is written into logs: keep it short and printable.
fn is_sane_id(id: &str) -> bool {
    crate::platform::input::rules::is_token(id, 128, b"-_.:=+/")
}

#[cfg(test)]
mod tests {
    use super::is_sane_id;

    #[test]
    fn request_ids_from_clients_are_checked() {
        let too_long = "x".repeat(129);
        for (id, sane) in [
            ("hjO8IQwiTGrnbjo=", true),
            ("6f1c2a9e-1b7d-4c1e-9a53-1f0b6f5b7a10", true),
            ("", false),
            ("has space", false),
            ("line\nbreak", false),
            (too_long.as_str(), false),
        ] {
            assert_eq!(is_sane_id(id), sane, "{id:?}");
        }
    }
}
