//! Payload format 2.0: the events API Gateway's HTTP API sends to a Lambda authorizer
//! and to a Lambda integration, and how it reads the integration's answer.
//!
//! - Proxy event and response:
//!   https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
//! - Authorizer event:
//!   https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// What every event says about the request; built once per request.
pub struct Request {
    pub method: Method,
    pub path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: String,
    pub source_ip: String,
}

impl Request {
    /// Header names lower-cased, repeated headers joined with commas; cookies apart.
    fn headers_and_cookies(&self) -> (Map<String, Value>, Vec<Value>) {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        let mut cookies = Vec::new();
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if name == header::COOKIE {
                cookies.extend(
                    value
                        .split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(|c| Value::String(c.to_owned())),
                );
                continue;
            }
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push(',');
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let headers = headers
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        (headers, cookies)
    }

    /// Query parameters, decoded; repeated names joined with commas.
    fn query(&self) -> Option<Map<String, Value>> {
        if self.raw_query.is_empty() {
            return None;
        }
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        for pair in self.raw_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (decode(k), decode(v));
            params
                .entry(k)
                .and_modify(|e| {
                    e.push(',');
                    e.push_str(&v);
                })
                .or_insert(v);
        }
        Some(
            params
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    }

    fn context(&self, route_key: &str, authorizer: Option<&Value>) -> Value {
        let now = time::OffsetDateTime::now_utc();
        let format = time::macros::format_description!(
            "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
        );
        // The domain the client called, without a port (API Gateway serves 443 only;
        // the stand-in's port is in `x-forwarded-port`).
        let host = self
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let domain = strip_port(host);
        let mut context = json!({
            "accountId": crate::template::ACCOUNT,
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap_or(domain),
            "http": {
                "method": self.method.as_str(),
                "path": self.path,
                "protocol": "HTTP/1.1",
                "sourceIp": self.source_ip,
                "userAgent": self.headers.get(header::USER_AGENT).and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": self.request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(&format).unwrap_or_default(),
            "timeEpoch": now.unix_timestamp() * 1000 + i64::from(now.millisecond()),
        });
        if let Some(authorizer) = authorizer {
            context["authorizer"] = authorizer.clone();
        }
        context
    }

    /// The event for the route's integration. `authorizer` is what API Gateway
    /// attaches: `{"lambda": <the authorizer's context>}`, built by the stand-in only.
    pub fn proxy_event(
        &self,
        route_key: &str,
        path_parameters: &BTreeMap<String, String>,
        authorizer: Option<&Value>,
    ) -> Value {
        let (headers, cookies) = self.headers_and_cookies();
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": self.raw_query,
            "headers": headers,
            "requestContext": self.context(route_key, authorizer),
            "isBase64Encoded": false,
        });
        if !cookies.is_empty() {
            event["cookies"] = Value::Array(cookies);
        }
        if let Some(query) = self.query() {
            event["queryStringParameters"] = Value::Object(query);
        }
        if !path_parameters.is_empty() {
            event["pathParameters"] = json!(path_parameters);
        }
        if !self.body.is_empty() {
            match std::str::from_utf8(&self.body) {
                Ok(text) if is_text(&self.headers) => event["body"] = text.into(),
                _ => {
                    event["body"] = STANDARD.encode(&self.body).into();
                    event["isBase64Encoded"] = true.into();
                }
            }
        }
        event
    }

    /// The authorizer's event: the request as the route will see it, with
    /// `type: REQUEST`, the route's ARN and the identity source values.
    pub fn authorizer_event(
        &self,
        route_key: &str,
        path_parameters: &BTreeMap<String, String>,
        identity_source: &[String],
    ) -> Value {
        let mut event = self.proxy_event(route_key, path_parameters, None);
        if let Some(object) = event.as_object_mut() {
            object.remove("body");
            object.remove("isBase64Encoded");
        }
        event["type"] = "REQUEST".into();
        event["routeArn"] = format!(
            "arn:aws:execute-api:{}:{}:local/$default/{}{}",
            crate::template::REGION,
            crate::template::ACCOUNT,
            self.method,
            self.path
        )
        .into();
        event["identitySource"] = json!(identity_source);
        event
    }
}

/// Whether an HTTP API passes the body as text rather than base64. AWS's page says only
/// that a binary body is base64-encoded
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html,
/// `isBase64Encoded`); which content types count as text was established against AWS
/// (ministackorg/ministack#766, HTTP API, payload 2.0): `text/*`, `application/json`,
/// `application/xml` and `application/javascript` — everything else, a missing
/// `Content-Type` and `application/x-www-form-urlencoded` included, is base64. A "text"
/// body that is not UTF-8 is sent base64 too: AWS is silent there, and base64 at least
/// delivers the bytes intact.
fn is_text(headers: &HeaderMap) -> bool {
    let Some(kind) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let media = kind
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media.starts_with("text/")
        || matches!(
            media.as_str(),
            "application/json" | "application/xml" | "application/javascript"
        )
}

/// `host` without its `:port`, if it has one (an IPv6 literal keeps its brackets).
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match text.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16)) {
                Some(Ok(b)) => {
                    out.push(b);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The integration's answer as API Gateway reads a payload 2.0 response: with a
/// `statusCode`, its status, headers, cookies and (maybe base64) body; otherwise the
/// answer itself is a 200 JSON body. `None`: the answer is malformed (API Gateway
/// answers 500).
pub fn response(answer: &Value) -> Option<Response> {
    let Some(status) = answer.get("statusCode") else {
        let mut response = Response::new(Body::from(answer.to_string()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Some(response);
    };
    let status = StatusCode::from_u16(u16::try_from(status.as_u64()?).ok()?).ok()?;
    let body = match answer.get("body") {
        Some(Value::String(body)) if answer["isBase64Encoded"] == true => {
            STANDARD.decode(body).ok()?
        }
        Some(Value::String(body)) => body.clone().into_bytes(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in answer
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value),
        ) {
            headers.insert(name, value);
        }
    }
    for cookie in answer
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(Ok(value)) = cookie.as_str().map(HeaderValue::try_from) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    Some(response)
}

/// API Gateway's own answers: `{"message": ...}` with its status.
pub fn gateway_answer(status: StatusCode, message: &str) -> Response {
    let mut response = Response::new(Body::from(json!({ "message": message }).to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
