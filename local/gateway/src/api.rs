//! The HTTP API stand-in: one request's way through API Gateway. CORS preflights
//! no route takes, route selection, the Lambda authorizer, the integration, and CORS
//! headers on the way out. Every answer API Gateway gives itself is
//! `{"message": ...}`, as AWS documents
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-lambda.html).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use crate::Gateway;
use crate::environments::Invoked;
use crate::events::{self, gateway_answer};
use crate::routes;
use crate::template::Cors;

/// An HTTP API's request payload limit, 10 MB
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
const PAYLOAD_LIMIT: usize = 10 * 1024 * 1024;
/// The integration timeout of an HTTP API, 30 s (same page).
const INTEGRATION_TIMEOUT_SECS: u64 = 30;

/// Authorizer answers kept for `ReauthorizeEvery` seconds, by identity source values.
#[derive(Default)]
pub struct AuthCache(Mutex<BTreeMap<String, (Instant, Value)>>);

pub async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, PAYLOAD_LIMIT).await else {
        return gateway_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let request = events::Request {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
        request_id: request_id(),
        source_ip: peer.ip().to_string(),
    };
    let origin = request.headers.get(header::ORIGIN).cloned();
    let preflight = request.method == Method::OPTIONS
        && origin.is_some()
        && request
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = route(&gateway, &request, preflight).await;
    if let (Some(cors), Some(origin)) = (&gateway.stack.cors, origin) {
        add_cors(cors, &origin, preflight, response.headers_mut());
    }
    if let Ok(id) = HeaderValue::from_str(&request.request_id) {
        response.headers_mut().insert("apigw-requestid", id);
    }
    response
}

async fn route(gateway: &Gateway, request: &events::Request, preflight: bool) -> Response {
    let Some(matched) = routes::select(
        &gateway.stack.routes,
        request.method.as_str(),
        &request.path,
    ) else {
        // "API Gateway automatically sends a response to preflight OPTIONS requests,
        // even if there isn't an OPTIONS route" (http-api-cors.html) — when no route,
        // not even `$default`, takes the request.
        if preflight && gateway.stack.cors.is_some() {
            return empty(StatusCode::NO_CONTENT);
        }
        return gateway_answer(StatusCode::NOT_FOUND, "Not Found");
    };
    let route_key = matched.route.key();
    let authorizer = match authorize(gateway, request, &route_key, &matched.parameters).await {
        Ok(context) => context,
        Err(response) => return response,
    };
    let event = request.proxy_event(&route_key, &matched.parameters, authorizer.as_ref());
    let Some(pool) = gateway.pools.get(&matched.route.function) else {
        return gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    match pool.invoke(Bytes::from(event.to_string())).await {
        Invoked::Response(answer) => events::response(&answer).unwrap_or_else(|| {
            tracing::error!(function = %pool.spec.name, "malformed Lambda proxy response");
            gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }),
        // A function's timeout below the integration's is a function error (500);
        // only the integration timeout itself is a 503.
        Invoked::TimedOut if pool.spec.timeout_secs >= INTEGRATION_TIMEOUT_SECS => {
            gateway_answer(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
        }
        Invoked::Error(_) | Invoked::TimedOut => {
            gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// The authorizer's context for the integration (`{"lambda": {...}}`), or API
/// Gateway's own answer (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html):
/// a missing identity source 401, `isAuthorized: false` 403, an error or a malformed
/// answer 500.
async fn authorize(
    gateway: &Gateway,
    request: &events::Request,
    route_key: &str,
    parameters: &BTreeMap<String, String>,
) -> Result<Option<Value>, Response> {
    let Some(spec) = &gateway.stack.authorizer else {
        return Ok(None);
    };
    let server_error =
        || gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    let mut identity = Vec::new();
    for source in &spec.identity_sources {
        let value = source
            .strip_prefix("$request.header.")
            .and_then(|name| request.headers.get(name))
            .and_then(|v| v.to_str().ok());
        match value {
            Some(value) => identity.push(value.to_owned()),
            None => return Err(gateway_answer(StatusCode::UNAUTHORIZED, "Unauthorized")),
        }
    }
    // Caching needs identity sources; without them API Gateway never caches.
    let cache_key = (spec.ttl_secs > 0 && !identity.is_empty()).then(|| identity.join("\u{0}"));
    let cached = cache_key.as_ref().and_then(|key| {
        let cache = gateway
            .auth_cache
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < Duration::from_secs(spec.ttl_secs))
            .map(|(_, answer)| answer.clone())
    });
    let answer = match cached {
        Some(answer) => answer,
        None => {
            let Some(pool) = gateway.pools.get(&spec.function) else {
                return Err(server_error());
            };
            let event = request.authorizer_event(route_key, parameters, &identity);
            match pool.invoke(Bytes::from(event.to_string())).await {
                Invoked::Response(answer) => answer,
                Invoked::Error(_) | Invoked::TimedOut => return Err(server_error()),
            }
        }
    };
    if !spec.simple_responses {
        tracing::error!("only simple authorizer responses are emulated");
        return Err(server_error());
    }
    let Some(authorized) = answer.get("isAuthorized").and_then(Value::as_bool) else {
        return Err(server_error());
    };
    if let Some(key) = cache_key {
        let mut cache = gateway
            .auth_cache
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache.insert(key, (Instant::now(), answer.clone()));
    }
    if !authorized {
        return Err(gateway_answer(StatusCode::FORBIDDEN, "Forbidden"));
    }
    let context = answer.get("context").cloned().unwrap_or_else(|| json!({}));
    Ok(Some(json!({ "lambda": context })))
}

/// The configured CORS headers, replacing any the integration sent
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html).
fn add_cors(cors: &Cors, origin: &HeaderValue, preflight: bool, headers: &mut HeaderMap) {
    let names: Vec<_> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
    let allowed = origin.to_str().is_ok_and(|origin| {
        cors.allow_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    });
    if !allowed {
        return;
    }
    let mut set = |name: header::HeaderName, values: &[String]| {
        if !values.is_empty()
            && let Ok(value) = HeaderValue::from_str(&values.join(","))
        {
            headers.insert(name, value);
        }
    };
    set(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        &[String::from_utf8_lossy(origin.as_bytes()).into_owned()],
    );
    if cors.allow_credentials {
        set(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            &["true".to_owned()],
        );
    }
    if preflight {
        set(header::ACCESS_CONTROL_ALLOW_METHODS, &cors.allow_methods);
        set(header::ACCESS_CONTROL_ALLOW_HEADERS, &cors.allow_headers);
        if let Some(max_age) = cors.max_age {
            set(header::ACCESS_CONTROL_MAX_AGE, &[max_age.to_string()]);
        }
    } else {
        set(header::ACCESS_CONTROL_EXPOSE_HEADERS, &cors.expose_headers);
    }
}

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// An id in API Gateway's style (`JKJaXmPLvHcESHA=`): 10 random bytes in base64.
fn request_id() -> String {
    let bytes = uuid::Uuid::new_v4();
    base64::engine::general_purpose::STANDARD.encode(&bytes.as_bytes()[..10])
}
