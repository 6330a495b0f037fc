//! The HTTP side: GitHub's checks before any route, and the Git Data API's routes in
//! GitHub's documented shapes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, routing::post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::objects::{Entry, Object, Repo};
use super::{CommitInfo, RateLimit, Recorded};

const DOCS: &str = "https://docs.github.com/rest";
/// The date of every commit the fake writes itself.
const DATE: &str = "2026-11-20T04:12:09Z";

type Shared = Arc<Mutex<Repo>>;

/// The routes of the Git Data API, behind the gate.
pub(super) fn router(repo: Shared) -> Router {
    Router::new()
        .route("/repos/{owner}/{repo}/git/ref/{*reference}", get(get_ref))
        .route(
            "/repos/{owner}/{repo}/git/refs/{*reference}",
            axum::routing::patch(update_ref),
        )
        .route("/repos/{owner}/{repo}/git/commits/{sha}", get(get_commit))
        .route("/repos/{owner}/{repo}/git/commits", post(create_commit))
        .route("/repos/{owner}/{repo}/git/trees/{sha}", get(get_tree))
        .route("/repos/{owner}/{repo}/git/trees", post(create_tree))
        .route("/repos/{owner}/{repo}/git/blobs/{sha}", get(get_blob))
        .route("/repos/{owner}/{repo}/git/blobs", post(create_blob))
        .fallback(|| async { not_found() })
        .layer(middleware::from_fn_with_state(repo.clone(), gate))
        .with_state(repo)
}

fn lock(repo: &Shared) -> MutexGuard<'_, Repo> {
    repo.lock().expect("the fake's state")
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"message": message, "documentation_url": DOCS, "status": status.as_str()})),
    )
        .into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
}

/// `found` as JSON, or GitHub's 404.
fn json_or_404(found: Option<Value>) -> Response {
    match found {
        Some(value) => Json(value).into_response(),
        None => not_found(),
    }
}

/// `/repos/{owner}/{repo}/git/{kind}/{key}`: the fake serves one repository, so only
/// the key (a sha or a ref name) counts.
type GitPath = Path<(String, String, String)>;

/// Records the request, then checks what GitHub checks before any route: a User-Agent,
/// the API version, the rate limit, the token, the repository.
async fn gate(State(repo): State<Shared>, request: Request, next: Next) -> Response {
    let headers = request.headers().clone();
    let uri = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (limit, token, owner, name) = {
        let mut repo = lock(&repo);
        repo.requests.push(Recorded {
            method: request.method().clone(),
            uri: uri.clone(),
            headers: headers.clone(),
        });
        (
            repo.rate_limit,
            repo.token.clone(),
            repo.owner.clone(),
            repo.name.clone(),
        )
    };
    if header("user-agent").is_none_or(|ua| ua.is_empty()) {
        return error(
            StatusCode::FORBIDDEN,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        );
    }
    if header("x-github-api-version").is_some_and(|v| v != "2022-11-28") {
        return error(
            StatusCode::BAD_REQUEST,
            "Unsupported 'X-GitHub-Api-Version' header",
        );
    }
    match limit {
        Some(RateLimit::Primary { reset }) => {
            let mut response = error(
                StatusCode::FORBIDDEN,
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
            );
            let h = response.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            h.insert("x-ratelimit-used", HeaderValue::from_static("5000"));
            h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
            if let Ok(v) = HeaderValue::from_str(&reset.to_string()) {
                h.insert("x-ratelimit-reset", v);
            }
            return response;
        }
        Some(RateLimit::TooManyRequests { retry_after }) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert("retry-after", v);
            }
            return response;
        }
        None => {}
    }
    let presented = header("authorization").and_then(|v| {
        let (scheme, credentials) = v.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
            .then(|| credentials.trim().to_owned())
    });
    if presented.as_deref() != Some(token.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let prefix = format!("/repos/{owner}/{name}/");
    if !request.uri().path().starts_with(&prefix) {
        return not_found();
    }
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
    response
}

fn ref_json(repo: &Repo, reference: &str, sha: &str) -> Value {
    json!({
        "ref": format!("refs/{reference}"),
        "node_id": "REF_kwDOfake",
        "url": repo.url(&format!("refs/{reference}")),
        "object": {"sha": sha, "type": "commit", "url": repo.url(&format!("commits/{sha}"))},
    })
}

async fn get_ref(State(repo): State<Shared>, Path((_, _, reference)): GitPath) -> Response {
    let repo = lock(&repo);
    let sha = repo.refs.get(&reference);
    json_or_404(sha.map(|sha| ref_json(&repo, &reference, sha)))
}

fn commit_json(repo: &Repo, c: &CommitInfo) -> Value {
    let who = json!({"name": "Waffle Bot", "email": "bot@wafflestudio.com", "date": DATE});
    json!({
        "sha": c.sha,
        "node_id": "C_kwDOfake",
        "url": repo.url(&format!("commits/{}", c.sha)),
        "author": who,
        "committer": who,
        "message": c.message,
        "tree": {"sha": c.tree, "url": repo.url(&format!("trees/{}", c.tree))},
        "parents": c.parents.iter().map(|p| json!({"sha": p, "url": repo.url(&format!("commits/{p}"))})).collect::<Vec<_>>(),
        "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null},
    })
}

async fn get_commit(State(repo): State<Shared>, Path((_, _, sha)): GitPath) -> Response {
    let repo = lock(&repo);
    let Some(Object::Commit(c)) = repo.objects.get(&sha) else {
        return not_found();
    };
    Json(commit_json(&repo, c)).into_response()
}

fn tree_json(repo: &Repo, sha: &str, recursive: bool) -> Value {
    let mut entries = Vec::new();
    let mut push = |path: &str, e: &Entry| {
        let mut entry = json!({
            "path": path,
            "mode": if e.is_tree() { "040000" } else { e.mode.as_str() },
            "type": if e.is_tree() { "tree" } else { "blob" },
            "sha": e.sha,
            "url": repo.url(&format!("{}/{}", if e.is_tree() { "trees" } else { "blobs" }, e.sha)),
        });
        if let Some(Object::Blob(content)) = repo.objects.get(&e.sha) {
            entry["size"] = json!(content.len());
        }
        entries.push(entry);
    };
    if recursive {
        repo.walk(sha, "", &mut push);
    } else if let Some(Object::Tree(list)) = repo.objects.get(sha) {
        for e in list {
            push(&e.name, e);
        }
    }
    json!({"sha": sha, "url": repo.url(&format!("trees/{sha}")), "tree": entries, "truncated": false})
}

async fn get_tree(
    State(repo): State<Shared>,
    Path((_, _, sha)): GitPath,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let repo = lock(&repo);
    // GitHub: any value of `recursive` turns recursion on.
    let recursive = query.contains_key("recursive");
    let sha = match repo.objects.get(&sha) {
        Some(Object::Tree(_)) => sha,
        Some(Object::Commit(c)) => c.tree.clone(),
        _ => return not_found(),
    };
    Json(tree_json(&repo, &sha, recursive)).into_response()
}

async fn get_blob(State(repo): State<Shared>, Path((_, _, sha)): GitPath) -> Response {
    let repo = lock(&repo);
    let Some(Object::Blob(content)) = repo.objects.get(&sha) else {
        return not_found();
    };
    // GitHub wraps the base64 at 60 characters a line.
    let encoded = BASE64.encode(content);
    let mut wrapped = String::with_capacity(encoded.len() + encoded.len() / 60 + 1);
    for chunk in encoded.as_bytes().chunks(60) {
        wrapped.push_str(&String::from_utf8_lossy(chunk));
        wrapped.push('\n');
    }
    Json(json!({
        "sha": sha,
        "node_id": "B_kwDOfake",
        "size": content.len(),
        "url": repo.url(&format!("blobs/{sha}")),
        "content": wrapped,
        "encoding": "base64",
    }))
    .into_response()
}

fn unprocessable(message: &str) -> Response {
    error(StatusCode::UNPROCESSABLE_ENTITY, message)
}

async fn create_blob(State(repo): State<Shared>, Json(body): Json<Value>) -> Response {
    let Some(content) = body.get("content").and_then(Value::as_str) else {
        return unprocessable("Invalid request.\n\n\"content\" wasn't supplied.");
    };
    let bytes = match body
        .get("encoding")
        .and_then(Value::as_str)
        .unwrap_or("utf-8")
    {
        "utf-8" => content.as_bytes().to_vec(),
        "base64" => {
            let compact: String = content.split_whitespace().collect();
            match BASE64.decode(compact) {
                Ok(b) => b,
                Err(_) => {
                    return unprocessable("Invalid request.\n\nThe content is not valid Base64.");
                }
            }
        }
        _ => return unprocessable("Invalid request.\n\nencoding must be utf-8 or base64."),
    };
    let mut repo = lock(&repo);
    let sha = repo.store(Object::Blob(bytes));
    let url = repo.url(&format!("blobs/{sha}"));
    (StatusCode::CREATED, Json(json!({"sha": sha, "url": url}))).into_response()
}

async fn create_tree(State(repo): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut repo = lock(&repo);
    let mut flat = match body.get("base_tree").and_then(Value::as_str) {
        Some(base) => match repo.objects.get(base) {
            Some(Object::Tree(_)) => repo.flatten(base),
            _ => return unprocessable("Invalid tree info: base_tree is not a tree"),
        },
        None => BTreeMap::new(),
    };
    let Some(entries) = body.get("tree").and_then(Value::as_array) else {
        return unprocessable("Invalid request.\n\n\"tree\" wasn't supplied.");
    };
    for entry in entries {
        let (Some(path), Some(mode), Some(kind)) = (
            entry.get("path").and_then(Value::as_str),
            entry.get("mode").and_then(Value::as_str),
            entry.get("type").and_then(Value::as_str),
        ) else {
            return unprocessable("Invalid tree info: path, mode and type are required");
        };
        if path.is_empty()
            || path.starts_with('/')
            || path.ends_with('/')
            || path
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return unprocessable(&format!("Invalid tree info: bad path {path:?}"));
        }
        if kind != "blob" || !matches!(mode, "100644" | "100755" | "120000") {
            return unprocessable("Invalid tree info: this fake takes blob entries only");
        }
        let sha = match (
            entry.get("sha"),
            entry.get("content").and_then(Value::as_str),
        ) {
            (Some(Value::Null), None) => {
                flat.remove(path);
                continue;
            }
            (Some(Value::String(sha)), None) => {
                if !matches!(repo.objects.get(sha), Some(Object::Blob(_))) {
                    return unprocessable(&format!(
                        "GitHub Tree: tree.sha {sha} is not a valid blob"
                    ));
                }
                sha.clone()
            }
            (None, Some(content)) => repo.store(Object::Blob(content.as_bytes().to_vec())),
            _ => return unprocessable("Invalid tree info: give either sha or content"),
        };
        // A file replacing a folder, or under a file, would need git's own rules: refuse.
        if flat.keys().any(|p| p.starts_with(&format!("{path}/")))
            || path
                .match_indices('/')
                .any(|(i, _)| flat.contains_key(&path[..i]))
        {
            return unprocessable(&format!(
                "Invalid tree info: {path} clashes with a folder or file"
            ));
        }
        flat.insert(path.to_owned(), (mode.to_owned(), sha));
    }
    let sha = repo.build_tree(&flat);
    (StatusCode::CREATED, Json(tree_json(&repo, &sha, false))).into_response()
}

async fn create_commit(State(repo): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut repo = lock(&repo);
    let (Some(message), Some(tree)) = (
        body.get("message").and_then(Value::as_str),
        body.get("tree").and_then(Value::as_str),
    ) else {
        return unprocessable("Invalid request.\n\n\"message\" and \"tree\" are required.");
    };
    if !matches!(repo.objects.get(tree), Some(Object::Tree(_))) {
        return unprocessable("Tree SHA does not exist");
    }
    let parents: Vec<String> = body
        .get("parents")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if parents
        .iter()
        .any(|p| !matches!(repo.objects.get(p), Some(Object::Commit(_))))
    {
        return unprocessable("Parent SHA does not exist or is not a commit object");
    }
    let sha = repo.store_commit(tree.to_owned(), parents, message);
    let Some(Object::Commit(c)) = repo.objects.get(&sha) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the commit was just stored",
        );
    };
    (StatusCode::CREATED, Json(commit_json(&repo, c))).into_response()
}

async fn update_ref(
    State(repo): State<Shared>,
    Path((_, _, reference)): GitPath,
    Json(body): Json<Value>,
) -> Response {
    let mut repo = lock(&repo);
    if !repo.refs.contains_key(&reference) {
        return unprocessable("Reference does not exist");
    }
    // Someone else pushes first, when the test asked for it.
    if let Some((path, message, content)) = repo.moves.pop_front() {
        repo.commit_on(&reference, &message, vec![(path, content)]);
    }
    let Some(sha) = body.get("sha").and_then(Value::as_str).map(str::to_owned) else {
        return unprocessable("Invalid request.\n\n\"sha\" wasn't supplied.");
    };
    if !matches!(repo.objects.get(&sha), Some(Object::Commit(_))) {
        return unprocessable("Object does not exist");
    }
    let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
    let current = repo.refs.get(&reference).cloned().unwrap_or_default();
    if !force && !repo.is_ancestor(&current, &sha) {
        return unprocessable("Update is not a fast forward");
    }
    repo.refs.insert(reference.clone(), sha.clone());
    Json(ref_json(&repo, &reference, &sha)).into_response()
}
