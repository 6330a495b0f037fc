//! The Lambda Invoke API (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html)
//! and a door for EventBridge events, on the stand-in's second, internal port: in AWS
//! these are IAM-signed calls that never pass through the HTTP API, so the public port
//! does not serve them. Signatures are not checked (loopback only).
//!
//! - `POST /2015-03-31/functions/{name}/invocations`, `X-Amz-Invocation-Type`
//!   `RequestResponse` (default: 200 with the payload, `X-Amz-Function-Error:
//!   Unhandled` on a function error; 429 `TooManyRequestsException` at once when the
//!   function has no concurrency left; 413 `RequestTooLargeException` over 6 MB),
//!   `Event` (202, then Lambda's asynchronous handling, [`crate::asynchronous`]; 413
//!   over 1 MB) or `DryRun` (204).
//! - `POST /events`: an EventBridge event (`source`, `detail-type`, `detail`), sent
//!   asynchronously to every function whose rule's pattern matches; `POST
//!   /schedules/{name}`: the schedule's target, with the schedule's `Input`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::environments::{Invoked, error_payload};
use crate::{Gateway, asynchronous, limits};

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route("/events", post(put_event))
        .route("/schedules/{name}", post(run_schedule))
        // Not AWS: the stand-in's own invocation counts, for `scripts/bench identity`.
        .route(
            "/local/counters",
            axum::routing::get(|State(gateway): State<Arc<Gateway>>| async move {
                axum::Json(gateway.counters.snapshot())
            }),
        )
        // Payload sizes are Lambda's to judge, not axum's 2 MB default.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(gateway)
}

/// An Invoke API error: its status, `x-amzn-ErrorType` and `{"Type", "message"}`
/// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors).
fn invoke_error(status: StatusCode, kind: &str, message: &str, extra: Value) -> Response {
    let mut body = json!({ "Type": "User", "message": message });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let mut response = (status, body.to_string()).into_response();
    if let Ok(kind) = HeaderValue::from_str(kind) {
        response.headers_mut().insert("x-amzn-errortype", kind);
    }
    response
}

async fn invoke(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    payload: Bytes,
) -> Response {
    let Some(pool) = gateway.function(&name) else {
        let body = json!({ "Type": "User", "Message": format!("Function not found: {name}") });
        return (
            StatusCode::NOT_FOUND,
            [("x-amzn-errortype", "ResourceNotFoundException")],
            body.to_string(),
        )
            .into_response();
    };
    let kind = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse");
    match kind {
        "Event" => {
            if payload.len() > limits::ASYNC_REQUEST_BYTES {
                return too_large(limits::ASYNC_REQUEST_BYTES);
            }
            // Lambda keeps the event and answers at once.
            asynchronous::invoke(pool, gateway.destinations.clone(), payload);
            (StatusCode::ACCEPTED, Body::empty()).into_response()
        }
        "DryRun" => StatusCode::NO_CONTENT.into_response(),
        _ => {
            let (payload, failed) = match pool.invoke(payload).await {
                Invoked::Response(value) => (value.to_string().into_bytes(), false),
                Invoked::NotJson(bytes) => (bytes.to_vec(), false),
                Invoked::Error(value) => (value.to_string().into_bytes(), true),
                Invoked::TimedOut => (
                    error_payload(
                        "Sandbox.Timedout",
                        &format!("Task timed out after {}.00 seconds", pool.spec.timeout_secs),
                    )
                    .to_string()
                    .into_bytes(),
                    true,
                ),
                Invoked::Throttled(reason) => {
                    return invoke_error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "TooManyRequestsException",
                        "Rate Exceeded.",
                        json!({ "Reason": reason }),
                    );
                }
                Invoked::RequestTooLarge => return too_large(limits::SYNC_REQUEST_BYTES),
            };
            let mut response = (StatusCode::OK, payload).into_response();
            let headers = response.headers_mut();
            headers.insert(
                "x-amz-executed-version",
                HeaderValue::from_static("$LATEST"),
            );
            if failed {
                headers.insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
            }
            response
        }
    }
}

fn too_large(limit: usize) -> Response {
    invoke_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestTooLargeException",
        &format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
        json!({}),
    )
}

async fn put_event(State(gateway): State<Arc<Gateway>>, Json(mut event): Json) -> Response {
    // EventBridge's envelope around what the sender gave.
    // https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html
    for (key, value) in [
        ("version", json!("0")),
        ("id", json!(uuid::Uuid::new_v4().to_string())),
        ("account", json!(crate::template::ACCOUNT)),
        ("region", json!(crate::template::REGION)),
        ("time", json!(now_rfc3339())),
        ("resources", json!([])),
    ] {
        if event.get(key).is_none() {
            event[key] = value;
        }
    }
    let mut matched = Vec::new();
    for trigger in &gateway.stack.triggers {
        let Some(pattern) = &trigger.pattern else {
            continue;
        };
        if !matches(pattern, &event) {
            continue;
        }
        if let Some(pool) = gateway.pools.get(&trigger.function) {
            matched.push(json!({ "rule": trigger.name, "function": pool.spec.name }));
            asynchronous::invoke(
                pool.clone(),
                gateway.destinations.clone(),
                Bytes::from(event.to_string()),
            );
        }
    }
    (StatusCode::OK, axum::Json(json!({ "matched": matched }))).into_response()
}

async fn run_schedule(State(gateway): State<Arc<Gateway>>, Path(name): Path<String>) -> Response {
    let trigger = gateway
        .stack
        .triggers
        .iter()
        .find(|t| t.schedule.is_some() && t.name == name);
    let Some((trigger, pool)) = trigger.and_then(|t| Some((t, gateway.pools.get(&t.function)?)))
    else {
        return (StatusCode::NOT_FOUND, format!("no schedule {name}")).into_response();
    };
    let input = trigger.input.clone().unwrap_or_else(|| "{}".into());
    asynchronous::invoke(
        pool.clone(),
        gateway.destinations.clone(),
        Bytes::from(input),
    );
    (
        StatusCode::OK,
        axum::Json(json!({ "schedule": name, "function": pool.spec.name })),
    )
        .into_response()
}

/// EventBridge pattern matching for the forms the template uses: a list of allowed
/// values, or a nested object
/// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html).
/// Content filters (`prefix`, `anything-but`, ...) are not emulated: they match nothing.
fn matches(pattern: &Value, event: &Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(key, wanted)| {
        let Some(actual) = event.get(key) else {
            return false;
        };
        match wanted {
            Value::Array(allowed) => match actual {
                Value::Array(items) => items.iter().any(|i| allowed.contains(i)),
                value => allowed.contains(value),
            },
            Value::Object(_) => matches(wanted, actual),
            _ => false,
        }
    })
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A JSON body, or 400.
struct Json(Value);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Json {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()).into_response())
    }
}
