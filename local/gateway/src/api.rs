//! The HTTP API stand-in: one request's way through API Gateway. Its quotas, CORS
//! preflights no route takes, route selection, throttling, the Lambda authorizer, the
//! integration on the gateway's clock, and CORS headers on the way out. Every answer
//! API Gateway gives itself is `{"message": ...}`, as AWS documents
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-lambda.html).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use crate::environments::Invoked;
use crate::events::{self, gateway_answer};
use crate::template::Cors;
use crate::{Gateway, limits, routes};

/// Authorizer answers kept for `ReauthorizeEvery` seconds, by identity source values.
#[derive(Default)]
pub struct AuthCache(Mutex<BTreeMap<String, (Instant, Value)>>);

/// Invocations the HTTP API has made since it started: the integrations' and the
/// authorizers' (cached answers are not invocations). `GET /local/counters` on the
/// internal port reads them (the identity benchmark's invocations per request).
#[derive(Debug, Default)]
pub struct Counters {
    pub integration_invocations: AtomicU64,
    pub authorizer_invocations: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> Value {
        json!({
            "integration_invocations": self.integration_invocations.load(Ordering::Relaxed),
            "authorizer_invocations": self.authorizer_invocations.load(Ordering::Relaxed),
        })
    }
}

pub async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    // "Total combined size of request line and header values", 10,240 bytes
    // (http-api-quotas.html). AWS does not say what it answers above it; 431 is HTTP's
    // status for it, in API Gateway's `{"message"}` form.
    let request_line = parts.method.as_str().len() + 1 + parts.uri.to_string().len() + 9;
    let values: usize = parts.headers.values().map(HeaderValue::len).sum();
    if request_line + values > limits::HTTP_API_HEADER_BYTES {
        return gateway_answer(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        );
    }
    // "Payload size", 10 MB (http-api-quotas.html).
    let Ok(body) = axum::body::to_bytes(body, limits::HTTP_API_BODY_BYTES).await else {
        return gateway_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let mut headers = parts.headers;
    forwarded(&mut headers, peer, gateway.api_port);
    let request = events::Request {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
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

/// The `x-forwarded-*` headers an HTTP API hands the integration: the client's address
/// appended to any `x-forwarded-for` it sent, and the protocol and port it called,
/// replacing whatever it sent. AWS's pages show the headers in events without stating
/// the rule; a client's `X-Forwarded-Proto` is reported replaced (stac-utils/stac-server#130).
/// The stand-in serves plain HTTP on its own port, and says so.
fn forwarded(headers: &mut HeaderMap, peer: SocketAddr, port: u16) {
    let ip = peer.ip().to_string();
    let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(sent) if !sent.trim().is_empty() => format!("{sent}, {ip}"),
        _ => ip,
    };
    for (name, value) in [
        ("x-forwarded-for", chain),
        ("x-forwarded-proto", "http".to_owned()),
        ("x-forwarded-port", port.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// Whether throttling admits the request: the account's bucket, then the route's own
/// (`RouteSettings` for its route key) or else the stage's (`DefaultRouteSettings`)
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html).
fn admitted(gateway: &Gateway, route_key: &str) -> bool {
    let throttles = &gateway.throttles;
    if !throttles.account.take() {
        return false;
    }
    match throttles.routes.get(route_key).or(throttles.stage.as_ref()) {
        Some(bucket) => bucket.take(),
        None => true,
    }
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
    // "429 Too Many Requests" above the limits (http-api-throttling.html).
    if !admitted(gateway, &route_key) {
        return gateway_answer(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
    }
    let authorizer = match authorize(
        gateway,
        request,
        matched.route,
        &route_key,
        &matched.parameters,
    )
    .await
    {
        Ok(context) => context,
        Err(response) => return response,
    };
    let event = request.proxy_event(&route_key, &matched.parameters, authorizer.as_ref());
    let Some(pool) = gateway.pools.get(&matched.route.function).cloned() else {
        return gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let server_error =
        || gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    // The integration timeout runs on API Gateway's clock, from the call: waiting for
    // an environment and its cold start count. When it passes, API Gateway answers 503
    // and the invocation runs on, as Lambda would (http-api-quotas.html, "Maximum
    // integration timeout"; the answer: http-api-troubleshooting-lambda.html).
    let name = pool.spec.name.clone();
    gateway
        .counters
        .integration_invocations
        .fetch_add(1, Ordering::Relaxed);
    let invocation = tokio::spawn(async move { pool.invoke(Bytes::from(event.to_string())).await });
    let timeout = Duration::from_millis(matched.route.timeout_ms);
    let invoked = match tokio::time::timeout(timeout, invocation).await {
        Ok(Ok(invoked)) => invoked,
        Ok(Err(_)) => return server_error(),
        Err(_) => {
            tracing::warn!(function = %name, ?timeout, "integration timeout: answered 503");
            return gateway_answer(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
    };
    match invoked {
        Invoked::Response(answer) => events::response(&answer).unwrap_or_else(|| {
            tracing::error!(function = %name, "malformed Lambda proxy response");
            server_error()
        }),
        Invoked::NotJson(_) => {
            tracing::error!(function = %name, "the function's answer is not JSON");
            server_error()
        }
        // "If the Lambda API rejects the invocation request, API Gateway returns a 500
        // error code" (https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html;
        // re:Post: https://repost.aws/knowledge-center/api-gateway-internal-server-error,
        // "Throttling issues"): a throttled function (Lambda's 429) and an event over
        // 6 MB (Lambda's 413) are API Gateway's 500, in HTTP API's wording.
        Invoked::Throttled(reason) => {
            tracing::warn!(function = %name, %reason, "Lambda throttled the integration: answered 500");
            server_error()
        }
        Invoked::RequestTooLarge => {
            tracing::warn!(function = %name, "the event is over Lambda's 6 MB: answered 500");
            server_error()
        }
        // A function error, a crash, a response over 6 MB, or the function's own
        // `Timeout`: an integration failure, 500.
        Invoked::Error(error) => {
            tracing::warn!(function = %name, %error, "function error: answered 500");
            server_error()
        }
        Invoked::TimedOut => server_error(),
    }
}

/// The authorizer's context for the integration (`{"lambda": {...}}`), `None` for a
/// route without an authorizer (the event then has no `requestContext.authorizer`), or
/// API Gateway's own answer. As https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html
/// says: a request missing any identity source is 401 without invoking the authorizer;
/// with a TTL and identity sources, answers are cached by the sources' values (across
/// the routes of the same authorizer); without identity sources the authorizer runs on
/// every request; `isAuthorized: false` is 403; an error or a malformed answer is 500.
async fn authorize(
    gateway: &Gateway,
    request: &events::Request,
    route: &crate::template::Route,
    route_key: &str,
    parameters: &BTreeMap<String, String>,
) -> Result<Option<Value>, Response> {
    let Some(spec) = route
        .authorizer
        .as_ref()
        .and_then(|name| gateway.stack.authorizers.get(name))
    else {
        return Ok(None);
    };
    let server_error =
        || gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    let mut identity = Vec::new();
    for source in &spec.identity_sources {
        let value = if let Some(name) = source.strip_prefix("$request.header.") {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        } else if let Some(name) = source.strip_prefix("$request.querystring.") {
            query_value(&request.raw_query, name)
        } else {
            None
        };
        match value {
            Some(value) if !value.is_empty() => identity.push(value),
            _ => return Err(gateway_answer(StatusCode::UNAUTHORIZED, "Unauthorized")),
        }
    }
    // Caching needs identity sources; without them API Gateway never caches.
    let cache_key = (spec.ttl_secs > 0 && !identity.is_empty())
        .then(|| format!("{}\u{0}{}", spec.name, identity.join("\u{0}")));
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
            gateway
                .counters
                .authorizer_invocations
                .fetch_add(1, Ordering::Relaxed);
            match pool.invoke(Bytes::from(event.to_string())).await {
                Invoked::Response(answer) => answer,
                _ => return Err(server_error()),
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

/// The raw value of `name` in a query string (the identity source's value as sent).
fn query_value(raw_query: &str, name: &str) -> Option<String> {
    raw_query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
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
