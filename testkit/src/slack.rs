//! A fake of the Slack Web API on loopback: `users.list` and `users.profile.get`,
//! answering in Slack's documented shapes (`ok`, `members`,
//! `response_metadata.next_cursor`, `profile` with `fields`, `error`), checking the
//! bearer token as Slack does (`not_authed` without one, `invalid_auth` for a wrong
//! one), and told when to misbehave: a 429 with `Retry-After`, a 5xx, a member
//! whose profile never answers, or going down altogether (connections refused) after
//! a number of calls, to come back on the same port later.

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
    /// Stop serving once this many calls have arrived (counted over the fake's life).
    down_after: Option<usize>,
    /// Tells the running server to stop accepting and close its connections.
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
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
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Slack");
        let port = listener.local_addr().expect("a bound address").port();
        let fake = Self {
            port,
            inner,
            server: Mutex::new(None),
        };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/api/users.list", get(users_list).post(users_list))
            .route(
                "/api/users.profile.get",
                get(users_profile_get).post(users_profile_get),
            )
            .with_state(self.inner.clone());
        let (shutdown, mut down) = tokio::sync::watch::channel(false);
        self.lock().shutdown = Some(shutdown);
        let server = tokio::spawn(async move {
            // Graceful: the call that brought it down still gets its answer; then the
            // listener closes and idle connections with it, so later calls are refused.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = down.wait_for(|down| *down).await;
                })
                .await;
        });
        if let Some(old) = self
            .server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(server)
        {
            old.abort();
        }
    }

    /// Goes down once `calls` requests have arrived in all (the last of them is still
    /// answered): from then on connections are refused, until [`FakeSlack::resume`].
    pub fn go_down_after(&self, calls: usize) {
        let mut inner = self.lock();
        inner.down_after = Some(calls);
        if inner.calls.len() >= calls {
            stop(&mut inner);
        }
    }

    /// Serves again on the same port (the same members and profiles), after
    /// [`FakeSlack::go_down_after`] brought it down.
    pub async fn resume(&self) {
        self.lock().down_after = None;
        let handle = self.server.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mut handle) = handle {
            // The old server lets its last connections finish; give them a moment.
            if tokio::time::timeout(std::time::Duration::from_secs(5), &mut handle)
                .await
                .is_err()
            {
                handle.abort();
            }
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the fake Slack's port again");
        self.serve(listener);
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

    /// Adds `count` alike members, `U0`, `U1`, ..., each `A B <a@example.com>`.
    pub fn add_alike(&self, count: usize) {
        for i in 0..count {
            self.add(member(&format!("U{i}")), profile("A", "B", "a@example.com"));
        }
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
        if let Some(server) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            server.abort();
        }
    }
}

/// Brings the server down (see [`FakeSlack::go_down_after`]).
fn stop(inner: &mut Inner) {
    if let Some(shutdown) = &inner.shutdown {
        let _ = shutdown.send(true);
    }
}

/// Records a call, and brings the server down when it is the last one allowed.
fn record(inner: &mut Inner, call: Call) {
    inner.calls.push(call);
    if inner.down_after.is_some_and(|n| inner.calls.len() >= n) {
        stop(inner);
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
                let call = Call {
                    method: method.to_owned(),
                    param: param.map(str::to_owned),
                    at: Instant::now(),
                    status: 0,
                };
                record(&mut inner, call);
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
    let call = Call {
        method: method.to_owned(),
        param: param.map(str::to_owned),
        at: Instant::now(),
        status: answer.as_ref().map_or(200, |r| r.status().as_u16()),
    };
    record(&mut inner, call);
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
