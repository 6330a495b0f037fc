//! A fake of GitHub's REST API for one repository: the Git Data API (refs, commits,
//! trees, blobs) in GitHub's documented shapes, over real content-addressed state (object
//! ids are git's own SHA-1s), on loopback.
//!
//! It checks the bearer token (401 `Bad credentials`), wants a `User-Agent` (as GitHub
//! does), refuses a ref update that is not a fast forward (422 `Update is not a fast
//! forward`), can answer every call as rate limited (403 with `x-ratelimit-remaining: 0`,
//! or 429 with `retry-after`), and can move the branch by itself just before the next ref
//! updates, as another pusher would. It records every request.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, routing::post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use sha1::{Digest as _, Sha1};

const DOCS: &str = "https://docs.github.com/rest";
/// The date of every commit the fake writes itself.
const DATE: &str = "2026-11-20T04:12:09Z";

/// How the fake answers while rate limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// The primary limit: 403, `x-ratelimit-remaining: 0`, `x-ratelimit-reset: <epoch s>`.
    Primary { reset: u64 },
    /// A secondary limit as 429 with `retry-after: <seconds>`.
    TooManyRequests { retry_after: u64 },
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, e.g. `/repos/o/r/git/trees/<sha>?recursive=1`.
    pub uri: String,
    pub headers: HeaderMap,
}

/// A commit as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub tree: String,
    pub parents: Vec<String>,
    pub message: String,
}

#[derive(Debug, Clone)]
enum Object {
    Blob(Vec<u8>),
    Tree(Vec<Entry>),
    Commit(CommitInfo),
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    mode: String,
    sha: String,
}

impl Entry {
    fn is_tree(&self) -> bool {
        self.mode == "40000"
    }
}

struct Repo {
    owner: String,
    name: String,
    token: String,
    objects: HashMap<String, Object>,
    /// `heads/<branch>` → commit sha.
    refs: HashMap<String, String>,
    rate_limit: Option<RateLimit>,
    /// Changes committed on the branch (by "someone else") just before ref updates.
    moves: VecDeque<(String, String, Vec<u8>)>,
    requests: Vec<Recorded>,
}

/// The fake, serving until dropped.
pub struct FakeGitHub {
    url: String,
    repo: Arc<Mutex<Repo>>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeGitHub {
    /// Serves `repository` (`owner/name`) whose `branch` holds `files` in one commit,
    /// accepting `token`.
    pub async fn start(
        repository: &str,
        branch: &str,
        token: &str,
        files: &[(&str, &[u8])],
    ) -> Self {
        let (owner, name) = repository
            .split_once('/')
            .expect("the repository is owner/name");
        let mut repo = Repo {
            owner: owner.to_owned(),
            name: name.to_owned(),
            token: token.to_owned(),
            objects: HashMap::new(),
            refs: HashMap::new(),
            rate_limit: None,
            moves: VecDeque::new(),
            requests: Vec::new(),
        };
        let flat: BTreeMap<String, (String, String)> = files
            .iter()
            .map(|(path, content)| {
                let sha = repo.store(Object::Blob(content.to_vec()));
                (path.to_string(), ("100644".to_owned(), sha))
            })
            .collect();
        let tree = repo.build_tree(&flat);
        let commit = repo.store_commit(tree, vec![], "Initial commit");
        repo.refs.insert(format!("heads/{branch}"), commit);

        let repo = Arc::new(Mutex::new(repo));
        let app = Router::new()
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
            .with_state(repo.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the GitHub fake");
        let port = listener.local_addr().expect("a bound address").port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            repo,
            server,
        }
    }

    /// The value for `GITHUB_API_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn lock(&self) -> MutexGuard<'_, Repo> {
        self.repo.lock().expect("the fake's state")
    }

    /// The commit `branch` points at.
    pub fn head(&self, branch: &str) -> String {
        self.lock()
            .refs
            .get(&format!("heads/{branch}"))
            .cloned()
            .expect("the branch exists")
    }

    pub fn commit(&self, sha: &str) -> CommitInfo {
        match self.lock().objects.get(sha) {
            Some(Object::Commit(commit)) => commit.clone(),
            other => panic!("{sha} is not a commit: {other:?}"),
        }
    }

    /// Every file of `commit`, by path.
    pub fn files_at(&self, commit: &str) -> BTreeMap<String, Vec<u8>> {
        let repo = self.lock();
        let tree = match repo.objects.get(commit) {
            Some(Object::Commit(c)) => c.tree.clone(),
            other => panic!("{commit} is not a commit: {other:?}"),
        };
        repo.flatten(&tree)
            .into_iter()
            .map(|(path, (_, sha))| match repo.objects.get(&sha) {
                Some(Object::Blob(content)) => (path, content.clone()),
                other => panic!("{path} is not a blob: {other:?}"),
            })
            .collect()
    }

    /// Every file on `branch` now.
    pub fn files(&self, branch: &str) -> BTreeMap<String, Vec<u8>> {
        self.files_at(&self.head(branch))
    }

    /// The paths `commit` changed against its first parent.
    pub fn changed_paths(&self, commit: &str) -> Vec<String> {
        let info = self.commit(commit);
        let after = self.files_at(commit);
        let before = info
            .parents
            .first()
            .map(|p| self.files_at(p))
            .unwrap_or_default();
        let paths: std::collections::BTreeSet<&String> =
            after.keys().chain(before.keys()).collect();
        paths
            .into_iter()
            .filter(|p| after.get(*p) != before.get(*p))
            .cloned()
            .collect()
    }

    /// Commits `files` (path, content) on `branch` as another pusher would; returns the
    /// new head.
    pub fn push(&self, branch: &str, message: &str, files: &[(&str, &[u8])]) -> String {
        let mut repo = self.lock();
        let changes: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_vec()))
            .collect();
        repo.commit_on(&format!("heads/{branch}"), message, changes)
    }

    /// Before the next ref update, someone else commits `content` to `path` on the branch
    /// being updated. Call it again for each further update that should find the branch
    /// moved.
    pub fn move_branch_before_next_update(&self, path: &str, content: &[u8]) {
        self.lock().moves.push_back((
            path.to_owned(),
            "Concurrent change".to_owned(),
            content.to_vec(),
        ));
    }

    /// Answers every request as rate limited (`None` lifts it).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.lock().rate_limit = limit;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The requests whose method is `method`, as `path?query`.
    pub fn requests_of(&self, method: Method) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method)
            .map(|r| r.uri)
            .collect()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

// ---------------------------------------------------------------------------------------
// Git objects

fn git_hash(kind: &str, body: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("{kind} {}\0", body.len()).as_bytes());
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

impl Repo {
    fn store(&mut self, object: Object) -> String {
        let sha = match &object {
            Object::Blob(content) => git_hash("blob", content),
            Object::Tree(entries) => {
                let mut body = Vec::new();
                for e in entries {
                    body.extend_from_slice(format!("{} {}\0", e.mode, e.name).as_bytes());
                    body.extend_from_slice(&hex_to_bytes(&e.sha));
                }
                git_hash("tree", &body)
            }
            Object::Commit(c) => {
                let mut body = format!("tree {}\n", c.tree);
                for p in &c.parents {
                    body.push_str(&format!("parent {p}\n"));
                }
                let who = "Waffle Bot <bot@wafflestudio.com> 1795666329 +0000";
                body.push_str(&format!("author {who}\ncommitter {who}\n\n{}", c.message));
                git_hash("commit", body.as_bytes())
            }
        };
        let object = match object {
            Object::Commit(c) => Object::Commit(CommitInfo {
                sha: sha.clone(),
                ..c
            }),
            other => other,
        };
        self.objects.insert(sha.clone(), object);
        sha
    }

    fn store_commit(&mut self, tree: String, parents: Vec<String>, message: &str) -> String {
        self.store(Object::Commit(CommitInfo {
            sha: String::new(),
            tree,
            parents,
            message: message.to_owned(),
        }))
    }

    /// Builds (and stores) the nested trees of a flat `path → (mode, sha)` map.
    fn build_tree(&mut self, flat: &BTreeMap<String, (String, String)>) -> String {
        let mut files: Vec<Entry> = Vec::new();
        let mut folders: BTreeMap<String, BTreeMap<String, (String, String)>> = BTreeMap::new();
        for (path, (mode, sha)) in flat {
            match path.split_once('/') {
                Some((folder, rest)) => {
                    folders
                        .entry(folder.to_owned())
                        .or_default()
                        .insert(rest.to_owned(), (mode.clone(), sha.clone()));
                }
                None => files.push(Entry {
                    name: path.clone(),
                    mode: mode.clone(),
                    sha: sha.clone(),
                }),
            }
        }
        for (name, inner) in folders {
            let sha = self.build_tree(&inner);
            files.push(Entry {
                name,
                mode: "40000".to_owned(),
                sha,
            });
        }
        // Git's order: by name, a folder's name compared as if it ended with '/'.
        files.sort_by_key(|e| {
            let mut key = e.name.clone().into_bytes();
            if e.is_tree() {
                key.push(b'/');
            }
            key
        });
        self.store(Object::Tree(files))
    }

    /// Every blob under `tree`, by full path.
    fn flatten(&self, tree: &str) -> BTreeMap<String, (String, String)> {
        let mut out = BTreeMap::new();
        self.walk(tree, "", &mut |path, entry| {
            if !entry.is_tree() {
                out.insert(path.to_owned(), (entry.mode.clone(), entry.sha.clone()));
            }
        });
        out
    }

    /// Visits every entry under `tree` (folders before their contents), in git's order.
    fn walk(&self, tree: &str, prefix: &str, visit: &mut dyn FnMut(&str, &Entry)) {
        if let Some(Object::Tree(entries)) = self.objects.get(tree) {
            for entry in entries {
                let path = format!("{prefix}{}", entry.name);
                visit(&path, entry);
                if entry.is_tree() {
                    self.walk(&entry.sha, &format!("{path}/"), visit);
                }
            }
        }
    }

    fn commit_on(
        &mut self,
        reference: &str,
        message: &str,
        changes: Vec<(String, Vec<u8>)>,
    ) -> String {
        let head = self
            .refs
            .get(reference)
            .cloned()
            .expect("the branch exists");
        let tree = match self.objects.get(&head) {
            Some(Object::Commit(c)) => c.tree.clone(),
            _ => panic!("the branch points at a commit"),
        };
        let mut flat = self.flatten(&tree);
        for (path, content) in changes {
            let sha = self.store(Object::Blob(content));
            flat.insert(path, ("100644".to_owned(), sha));
        }
        let tree = self.build_tree(&flat);
        let commit = self.store_commit(tree, vec![head], message);
        self.refs.insert(reference.to_owned(), commit.clone());
        commit
    }

    fn is_ancestor(&self, ancestor: &str, of: &str) -> bool {
        let mut seen = HashSet::new();
        let mut queue = vec![of.to_owned()];
        while let Some(sha) = queue.pop() {
            if sha == ancestor {
                return true;
            }
            if seen.insert(sha.clone())
                && let Some(Object::Commit(c)) = self.objects.get(&sha)
            {
                queue.extend(c.parents.iter().cloned());
            }
        }
        false
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "https://api.github.com/repos/{}/{}/git/{tail}",
            self.owner, self.name
        )
    }
}

// ---------------------------------------------------------------------------------------
// The HTTP side

type Shared = Arc<Mutex<Repo>>;

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

async fn get_ref(
    State(repo): State<Shared>,
    Path((_, _, reference)): Path<(String, String, String)>,
) -> Response {
    let repo = lock(&repo);
    match repo.refs.get(&reference) {
        Some(sha) => Json(ref_json(&repo, &reference, sha)).into_response(),
        None => not_found(),
    }
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

async fn get_commit(
    State(repo): State<Shared>,
    Path((_, _, sha)): Path<(String, String, String)>,
) -> Response {
    let repo = lock(&repo);
    match repo.objects.get(&sha) {
        Some(Object::Commit(c)) => Json(commit_json(&repo, c)).into_response(),
        _ => not_found(),
    }
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
    Path((_, _, sha)): Path<(String, String, String)>,
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

async fn get_blob(
    State(repo): State<Shared>,
    Path((_, _, sha)): Path<(String, String, String)>,
) -> Response {
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
    Path((_, _, reference)): Path<(String, String, String)>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_gits() {
        // `git hash-object` of "hello\n", and of the empty tree.
        assert_eq!(
            git_hash("blob", b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            git_hash("tree", b""),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
    }
}
