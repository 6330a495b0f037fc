//! A fake of the Slack Web API on loopback: `users.list` and `users.profile.get`,
//! answering in Slack's documented shapes (`ok`, `members`,
//! `response_metadata.next_cursor`, `profile` with `fields`, `error`), checking the
//! bearer token as Slack does (`not_authed` without one, `invalid_auth` for a wrong
//! one), and told when to misbehave: a 429 with `Retry-After`, a 5xx, or a member
//! whose profile never answers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// The token the fake accepts.
pub const TOKEN: &str = "xoxb-test-0000000000-waffle";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// `users.list` or `users.profile.get`.
    pub method: String,
    /// The `cursor` or `user` parameter, if any.
    pub param: Option<String>,
    pub at: Instant,
    /// The status the fake answered; 0 for a stalled call (recorded when it arrived).
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    /// `users.list` entries, in order.
    members: Vec<Value>,
    /// `users.profile.get`'s `profile` by member id.
    profiles: HashMap<String, Value>,
    /// Misbehaviours for the next matching calls: (method, what to answer).
    planned: VecDeque<(String, Planned)>,
    /// Members whose profile always answers 500.
    broken_profiles: Vec<String>,
    calls: Vec<Call>,
}

#[derive(Debug, Clone)]
enum Planned {
    RateLimited {
        retry_after: u64,
    },
    Status(u16),
    /// Answer normally, but only after this long (a client's timeout meets it).
    Stall(std::time::Duration),
}

/// The fake; it serves until dropped.
pub struct FakeSlack {
    port: u16,
    inner: Arc<Mutex<Inner>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/api/users.list", get(users_list).post(users_list))
            .route(
                "/api/users.profile.get",
                get(users_profile_get).post(users_profile_get),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Slack");
        let port = listener.local_addr().expect("a bound address").port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            port,
            inner,
            server,
        }
    }

    /// The value for `SLACK_API_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a member: their `users.list` entry and their full profile.
    pub fn add(&self, member: Value, profile: Value) {
        let id = member["id"]
            .as_str()
            .expect("a member has an id")
            .to_owned();
        let mut inner = self.lock();
        inner.members.push(member);
        inner.profiles.insert(id, profile);
    }

    /// Replaces a member's profile.
    pub fn set_profile(&self, id: &str, profile: Value) {
        self.lock().profiles.insert(id.to_owned(), profile);
    }

    /// The next call of `method` answers 429 with `Retry-After: retry_after`.
    pub fn rate_limit_next(&self, method: &str, retry_after: u64) {
        self.lock()
            .planned
            .push_back((method.to_owned(), Planned::RateLimited { retry_after }));
    }

    /// The next call of `method` answers `status` (a 5xx, say) with an HTML body.
    pub fn fail_next(&self, method: &str, status: u16) {
        self.lock()
            .planned
            .push_back((method.to_owned(), Planned::Status(status)));
    }

    /// The next call of `method` answers normally, after `delay`.
    pub fn stall_next(&self, method: &str, delay: std::time::Duration) {
        self.lock()
            .planned
            .push_back((method.to_owned(), Planned::Stall(delay)));
    }

    /// Every `users.profile.get` of member `id` answers 500.
    pub fn break_profile(&self, id: &str) {
        self.lock().broken_profiles.push(id.to_owned());
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// How many requests of `method` arrived.
    pub fn count(&self, method: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .count()
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A `users.list` entry of an active, human member with a confirmed e-mail.
pub fn member(id: &str) -> Value {
    json!({
        "id": id,
        "team_id": "T0WAFFLE01",
        "name": id.to_lowercase(),
        "deleted": false,
        "real_name": "",
        "tz": "Asia/Seoul",
        "profile": {"real_name": "", "display_name": "", "team": "T0WAFFLE01"},
        "is_admin": false,
        "is_owner": false,
        "is_bot": false,
        "is_app_user": false,
        "updated": 1732000000,
        "is_email_confirmed": true
    })
}

/// A `users.profile.get` profile with these names and e-mail, and no custom fields.
pub fn profile(first_name: &str, last_name: &str, email: &str) -> Value {
    json!({
        "title": "",
        "phone": "",
        "real_name": format!("{last_name}{first_name}"),
        "display_name": first_name,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "image_192": "",
        "fields": {}
    })
}

/// Checks the bearer token and any planned misbehaviour (waiting out a planned stall);
/// records the call. `Some` answer instead of the normal one.
async fn gate(
    inner: &Mutex<Inner>,
    method: &str,
    param: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response> {
    let stall = {
        let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
        let index = inner
            .planned
            .iter()
            .position(|(m, p)| m == method && matches!(p, Planned::Stall(_)));
        match index.and_then(|i| inner.planned.remove(i)) {
            Some((_, Planned::Stall(delay))) => {
                // Recorded now: a client that times out never sees the answer.
                inner.calls.push(Call {
                    method: method.to_owned(),
                    param: param.map(str::to_owned),
                    at: Instant::now(),
                    status: 0,
                });
                Some(delay)
            }
            _ => None,
        }
    };
    if let Some(delay) = stall {
        tokio::time::sleep(delay).await;
        return None;
    }
    let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    let planned = inner
        .planned
        .iter()
        .position(|(m, p)| m == method && !matches!(p, Planned::Stall(_)))
        .and_then(|i| inner.planned.remove(i))
        .map(|(_, p)| p);
    let broken = method == "users.profile.get"
        && param.is_some_and(|user| inner.broken_profiles.iter().any(|b| b == user));
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let answer = match (planned, broken, token) {
        (Some(Planned::RateLimited { retry_after }), _, _) => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after.to_string())],
                axum::Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response(),
        ),
        (Some(Planned::Status(status)), _, _) => Some(html_error(status)),
        (Some(Planned::Stall(_)), _, _) => None,
        (None, true, _) => Some(html_error(500)),
        (None, false, None) => Some(slack_error("not_authed")),
        (None, false, Some(token)) if token != TOKEN => Some(slack_error("invalid_auth")),
        (None, false, Some(_)) => None,
    };
    inner.calls.push(Call {
        method: method.to_owned(),
        param: param.map(str::to_owned),
        at: Instant::now(),
        status: answer.as_ref().map_or(200, |r| r.status().as_u16()),
    });
    answer
}

fn html_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "text/html")],
        "<html><body>upstream error</body></html>",
    )
        .into_response()
}

/// Slack's error shape: HTTP 200, `{"ok": false, "error": ...}`.
fn slack_error(error: &str) -> Response {
    axum::Json(json!({"ok": false, "error": error})).into_response()
}

async fn users_list(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let cursor = query.get("cursor").filter(|c| !c.is_empty());
    if let Some(answer) = gate(&inner, "users.list", cursor.map(String::as_str), &headers).await {
        return answer;
    }
    // Slack's default page is 100 members (0 means "as many as it likes"); at most 1000.
    let limit = match query.get("limit").and_then(|l| l.parse::<usize>().ok()) {
        None | Some(0) => 100,
        Some(n) => n.min(1000),
    };
    let start = match cursor {
        None => 0,
        Some(cursor) => match cursor
            .strip_prefix("dXNlcjo")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(start) => start,
            None => return slack_error("invalid_cursor"),
        },
    };
    let inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    let end = (start + limit).min(inner.members.len());
    let page = inner.members.get(start..end).unwrap_or_default().to_vec();
    let next_cursor = if end < inner.members.len() {
        format!("dXNlcjo{end}")
    } else {
        String::new()
    };
    axum::Json(json!({
        "ok": true,
        "members": page,
        "cache_ts": 1732000000,
        "response_metadata": {"next_cursor": next_cursor}
    }))
    .into_response()
}

async fn users_profile_get(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let user = query.get("user").map(String::as_str);
    if let Some(answer) = gate(&inner, "users.profile.get", user, &headers).await {
        return answer;
    }
    let inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    match user.and_then(|u| inner.profiles.get(u)) {
        Some(profile) => axum::Json(json!({"ok": true, "profile": profile})).into_response(),
        None => slack_error("user_not_found"),
    }
}
