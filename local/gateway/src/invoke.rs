//! The Lambda Invoke API (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html)
//! and a door for EventBridge events, on the stand-in's second, internal port: in AWS
//! these are IAM-signed calls that never pass through the HTTP API, so the public port
//! does not serve them. Signatures are not checked (loopback only).
//!
//! - `POST /2015-03-31/functions/{name}/invocations`, `X-Amz-Invocation-Type`
//!   `RequestResponse` (default: 200 with the payload, `X-Amz-Function-Error:
//!   Unhandled` on a function error), `Event` (202, run in the background) or `DryRun`
//!   (204).
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

use crate::Gateway;
use crate::environments::{Invoked, Pool, error_payload};

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route("/events", post(put_event))
        .route("/schedules/{name}", post(run_schedule))
        .with_state(gateway)
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
            // Lambda queues the event and answers at once.
            tokio::spawn(async move {
                pool.invoke(payload).await;
            });
            (StatusCode::ACCEPTED, Body::empty()).into_response()
        }
        "DryRun" => StatusCode::NO_CONTENT.into_response(),
        _ => {
            let (payload, failed) = match pool.invoke(payload).await {
                Invoked::Response(value) => (value, false),
                Invoked::Error(value) => (value, true),
                Invoked::TimedOut => (
                    error_payload(
                        "Sandbox.Timedout",
                        &format!("Task timed out after {}.00 seconds", pool.spec.timeout_secs),
                    ),
                    true,
                ),
            };
            let mut response = (StatusCode::OK, payload.to_string()).into_response();
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
            background(pool.clone(), event.to_string());
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
    background(pool.clone(), input);
    (
        StatusCode::OK,
        axum::Json(json!({ "schedule": name, "function": pool.spec.name })),
    )
        .into_response()
}

fn background(pool: Arc<Pool>, payload: String) {
    tokio::spawn(async move {
        pool.invoke(Bytes::from(payload)).await;
    });
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
