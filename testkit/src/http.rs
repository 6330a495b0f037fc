//! Requests through a router in-process, and API Gateway events for function binaries.

use std::fmt::Display;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl TestResponse {
    /// The body as JSON; `Value::Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an error answer: `status`, with `{"detail": detail}` as its body.
    pub fn assert_error(&self, status: StatusCode, detail: &str) {
        assert_eq!(self.status, status, "{}", self.json());
        assert_eq!(self.json(), json!({ "detail": detail }));
    }

    /// Asserts a 500 that shows nothing of its cause.
    pub fn assert_internal_error(&self) {
        self.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
    }

    /// `field` (`loc`, `type`, ...) of every error in a 422's `detail` list.
    pub fn detail(&self, field: &str) -> Vec<Value> {
        self.json()["detail"]
            .as_array()
            .map(|errors| errors.iter().map(|e| e[field].clone()).collect())
            .unwrap_or_default()
    }
}

/// Path ids every route refuses with a 422: not a number, not positive, not whole, too
/// large for any integer column.
pub const INVALID_IDS: [&str; 5] = ["abc", "0", "-1", "1.5", "99999999999999999999"];

/// Sends each `(what, raw body, expected status)` of `cases`, labelled as JSON, to every
/// `(method, path)` of `targets` as `sso`, and asserts the status and that the answer
/// has a `detail`: bad bodies are 4xx, never 5xx.
pub async fn assert_raw_bodies(
    router: &Router,
    sso: &str,
    targets: &[(Method, String)],
    cases: Vec<(&str, Vec<u8>, StatusCode)>,
) {
    for (what, body, expected) in cases {
        for (method, path) in targets {
            let response = request(method.clone(), path)
                .as_user(sso)
                .header("content-type", "application/json")
                .header("content-length", &body.len().to_string())
                .body(body.clone())
                .send(router)
                .await;
            let answer = response.json();
            assert_eq!(response.status, expected, "{method} {what}: {answer}");
            assert!(!answer["detail"].is_null(), "{method} {what}: a detail");
        }
    }
}

/// Asserts that an admin-only request, sent by `send` as the caller it is given, is 401
/// with a `detail` for no caller and 403 for `member`, a registered non-admin.
pub async fn assert_admin_only(member: &str, send: impl AsyncFn(Option<&str>) -> TestResponse) {
    let anonymous = send(None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "no caller");
    assert!(
        anonymous.json()["detail"].is_string(),
        "no caller: a detail"
    );
    let non_admin = send(Some(member)).await;
    assert_eq!(non_admin.status, StatusCode::FORBIDDEN, "{member}");
}

/// Runs `attempts` (requests being sent) all at once and returns their statuses, in order.
pub async fn race(
    attempts: impl IntoIterator<Item = impl Future<Output = TestResponse>>,
) -> Vec<StatusCode> {
    futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status)
        .collect()
}

/// A collection resource's writes as the contract shapes them: `POST {PATH}` creates,
/// `PATCH {PATH}/{id}` updates and `DELETE {PATH}/{id}` deletes, each sent as `sso` (no
/// caller for `None`) with a JSON body where it takes one.
#[allow(async_fn_in_trait)] // test helpers, awaited where they are called
pub trait Collection {
    const PATH: &'static str;

    /// The router the requests go through.
    fn router(&self) -> &Router;

    async fn create(&self, sso: Option<&str>, body: Value) -> TestResponse {
        request(Method::POST, Self::PATH)
            .json(&body)
            .as_caller(sso)
            .send(self.router())
            .await
    }

    async fn patch(&self, sso: Option<&str>, id: impl Display, body: Value) -> TestResponse {
        request(Method::PATCH, &format!("{}/{id}", Self::PATH))
            .json(&body)
            .as_caller(sso)
            .send(self.router())
            .await
    }

    async fn delete(&self, sso: Option<&str>, id: impl Display) -> TestResponse {
        request(Method::DELETE, &format!("{}/{id}", Self::PATH))
            .as_caller(sso)
            .send(self.router())
            .await
    }
}

/// A request under construction.
pub struct TestRequest {
    builder: http::request::Builder,
    body: Body,
    sso_id: Option<String>,
    authorizer: Option<Value>,
}

pub fn request(method: Method, uri: &str) -> TestRequest {
    TestRequest {
        builder: Request::builder().method(method).uri(uri),
        body: Body::empty(),
        sso_id: None,
        authorizer: None,
    }
}

pub fn get(uri: &str) -> TestRequest {
    request(Method::GET, uri)
}

impl TestRequest {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// A JSON body.
    pub fn json(mut self, body: &Value) -> Self {
        self.builder = self.builder.header("content-type", "application/json");
        self.body = Body::from(body.to_string());
        self
    }

    /// A raw body, sent as is.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// As the caller `sso_id`: with `Authorization: Bearer <token>`, a token signed with
    /// the test key (`jwt::bearer`) that the function verifies itself.
    pub fn as_user(mut self, sso_id: &str) -> Self {
        self.sso_id = Some(sso_id.to_owned());
        self
    }

    /// As `sso` (see [`TestRequest::as_user`]), or with no caller for `None`.
    pub fn as_caller(self, sso: Option<&str>) -> Self {
        match sso {
            Some(sso) => self.as_user(sso),
            None => self,
        }
    }

    /// With this Lambda authorizer context (`requestContext.authorizer.lambda`) on the
    /// request, as a forged event would carry it: the functions must ignore it.
    pub fn with_authorizer_context(mut self, lambda: Value) -> Self {
        self.authorizer = Some(lambda);
        self
    }

    pub fn build(self) -> Request<Body> {
        let mut builder = self.builder;
        if let Some(sso_id) = &self.sso_id {
            builder = builder.header(http::header::AUTHORIZATION, crate::jwt::bearer(sso_id));
        }
        let mut request = builder.body(self.body).expect("a valid test request");
        if let Some(lambda) = self.authorizer {
            let context = serde_json::json!({
                "authorizer": { "lambda": lambda },
                "http": { "method": "GET" },
                "timeEpoch": 0,
            });
            request
                .extensions_mut()
                .insert(lambda_http::request::RequestContext::ApiGatewayV2(
                    serde_json::from_value(context).expect("a valid request context"),
                ));
        }
        request
    }

    /// Sends the request through `router` (with the shared layers already applied).
    pub async fn send(self, router: &Router) -> TestResponse {
        let response = router
            .clone()
            .oneshot(self.build())
            .await
            .expect("routers are infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("read the response body")
            .to_bytes()
            .to_vec();
        TestResponse {
            status,
            headers,
            bytes,
        }
    }
}

/// The sample HTTP API (payload 2.0) event, of an API without a Lambda authorizer.
const APIGW_SAMPLE: &str = include_str!("../fixtures/apigw-http-v2.json");

/// An API Gateway HTTP API event for `method path?query`, from the sample: as `sso_id`
/// (a signed token in `authorization`, `jwt::bearer`), or without a token for `None`.
pub fn apigw_event(
    method: &str,
    path_and_query: &str,
    body: Option<&Value>,
    sso_id: Option<&str>,
) -> Value {
    let mut event: Value = serde_json::from_str(APIGW_SAMPLE).expect("the fixture is JSON");
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    event["rawPath"] = path.into();
    event["rawQueryString"] = query.into();
    event["routeKey"] = "$default".into();
    event["requestContext"]["http"]["method"] = method.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["requestContext"]["requestId"] = format!("req-{}", uuid::Uuid::new_v4().simple()).into();
    if let Some(id) = sso_id {
        event["headers"]["authorization"] = crate::jwt::bearer(id).into();
    }
    if let Some(body) = body {
        event["body"] = body.to_string().into();
        event["headers"]["content-type"] = "application/json".into();
        event["headers"]["content-length"] = body.to_string().len().to_string().into();
    }
    event
}

/// The status, headers and JSON body of an HTTP API response payload.
pub fn apigw_response(payload: &Value) -> (u16, Value, Value) {
    let status = payload["statusCode"].as_u64().unwrap_or(0) as u16;
    let body = payload["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, payload["headers"].clone(), body)
}

/// The sample Lambda authorizer request (HTTP API, payload 2.0).
const AUTHORIZER_SAMPLE: &str = include_str!("../fixtures/authorizer-request-v2.json");

/// A Lambda authorizer request from the sample, with `authorization` as the header
/// (and identity source), or without either for `None`.
pub fn authorizer_event(authorization: Option<&str>) -> Value {
    let mut event: Value = serde_json::from_str(AUTHORIZER_SAMPLE).expect("the fixture is JSON");
    event["requestContext"]["requestId"] = format!("req-{}", uuid::Uuid::new_v4().simple()).into();
    match authorization {
        Some(value) => {
            event["headers"]["authorization"] = value.into();
            event["identitySource"] = serde_json::json!([value]);
        }
        None => {
            if let Some(headers) = event["headers"].as_object_mut() {
                headers.remove("authorization");
            }
            if let Some(event) = event.as_object_mut() {
                event.remove("identitySource");
            }
        }
    }
    event
}

/// A response from a real server, read over a real socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends one HTTP/1.1 request to `addr` and reads the whole answer (`Connection: close`).
pub async fn raw_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<RawResponse> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    // Chunked bodies are decoded just enough for JSON answers.
    let body = if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
