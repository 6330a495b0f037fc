//! The `image-tag-updater` function, successor of ecr-heimdall: an ECR push event becomes
//! one commit in the GitOps repository, so that ArgoCD deploys the new image.
//!
//! Read top to bottom: the handler (which events count, the read–rewrite–commit loop),
//! the rewrite of one file, then the GitHub client (the Git Data API).

pub mod config;
pub mod redrive;

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::{StreamExt as _, TryStreamExt as _};
use lambda_runtime::LambdaEvent;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::Instrument as _;

pub use config::{Config, ConfigError};

/// How many times the commit is rebuilt when the branch moves under it.
pub const MAX_ATTEMPTS: u32 = 5;
/// Files larger than this are not manifests; they are left alone unread.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;
/// Blobs fetched at once.
const CONCURRENT_READS: usize = 8;
/// The WARN message of a push whose namespace has no directory. A CloudWatch metric
/// filter in template.yaml counts it: keep it word for word.
pub const UNKNOWN_NAMESPACE: &str = "unknown namespace: no file under apps/<namespace>/";

// ---------------------------------------------------------------------------------------
// The handler

/// What an invocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Updated,
    Unchanged,
    Ignored,
}

/// The answer: `{"status", "files", "commit"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub status: Status,
    /// Paths of the files the commit changed, sorted.
    pub files: Vec<String>,
    pub commit: Option<String>,
}

impl Answer {
    fn without_commit(status: Status) -> Self {
        Self {
            status,
            files: Vec::new(),
            commit: None,
        }
    }
}

/// Why an invocation failed. Every failure fails the invocation, so that EventBridge
/// delivers the event again.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(
        "the tree of branch {branch} is too large for one recursive read (GitHub truncated it); \
         no file was changed"
    )]
    TreeTruncated { branch: String },
    #[error(
        "branch {branch} moved during each of {attempts} attempts to commit; giving up for now \
         (the event is retried)"
    )]
    BranchKeepsMoving { branch: String, attempts: u32 },
}

impl From<Failure> for lambda_runtime::Diagnostic {
    fn from(failure: Failure) -> Self {
        let error_type = match &failure {
            Failure::GitHub(error) => error.kind(),
            Failure::TreeTruncated { .. } => "TreeTruncated",
            Failure::BranchKeepsMoving { .. } => "BranchKeepsMoving",
        };
        Self {
            error_type: error_type.into(),
            error_message: failure.to_string(),
        }
    }
}

/// A successful, tagged push of a `<namespace>/<app>` repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The ECR repository name, `<namespace>/<app>`.
    pub repository: String,
    pub tag: String,
}

impl Push {
    /// Reads an EventBridge `ECR Image Action` event; `Err` holds why it is ignored.
    pub fn from_event(event: &Value) -> Result<Self, String> {
        let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
        let expect = |pointer: &str, field: &str, wanted: &str| match text(pointer) {
            Some(value) if value == wanted => Ok(()),
            Some(value) => Err(format!("{field} is {value:?}, not {wanted:?}")),
            None => Err(format!("no {field} (expected {wanted:?})")),
        };
        expect("/source", "source", "aws.ecr")?;
        expect("/detail-type", "detail-type", "ECR Image Action")?;
        expect("/detail/action-type", "detail.action-type", "PUSH")?;
        expect("/detail/result", "detail.result", "SUCCESS")?;
        let tag = match text("/detail/image-tag") {
            None | Some("") => return Err("the push has no image-tag".into()),
            Some(tag) if !is_tag(tag) => return Err(format!("image-tag {tag:?} is not a tag")),
            Some(tag) => tag.to_owned(),
        };
        let repository = match text("/detail/repository-name") {
            Some(name) if is_namespace_and_app(name) => name.to_owned(),
            Some(name) => {
                return Err(format!("repository-name {name:?} is not <namespace>/<app>"));
            }
            None => return Err("no detail.repository-name".into()),
        };
        Ok(Self { repository, tag })
    }

    pub fn namespace(&self) -> &str {
        self.repository
            .split_once('/')
            .map_or(self.repository.as_str(), |(namespace, _)| namespace)
    }

    /// `Automated commit by ECR push (<repository-name>:<tag>)`, as ecr-heimdall wrote it.
    pub fn commit_message(&self) -> String {
        format!(
            "Automated commit by ECR push ({}:{})",
            self.repository, self.tag
        )
    }
}

/// A Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    tag.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Two ECR path components (lowercase letters, digits, `._-` between them): also keeps
/// the directory `apps/<namespace>/` a plain folder name (no `..`).
fn is_namespace_and_app(name: &str) -> bool {
    let component = |part: &str| {
        let bytes = part.as_bytes();
        let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        edge(bytes.first())
            && edge(bytes.last())
            && bytes.iter().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
    };
    matches!(name.split_once('/'), Some((namespace, app)) if component(namespace) && component(app))
}

/// The function's state, built once per cold start.
pub struct Updater {
    ecr_host: String,
    github: GitHub,
}

impl Updater {
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            ecr_host: config.ecr_host.clone(),
            github: GitHub::new(
                &config.api_url,
                &config.repository,
                &config.branch,
                &config.token,
            )?,
        })
    }

    /// Handles one event: ignores what is not a successful tagged push, else commits the
    /// new tag to every manifest of the namespace that names this image.
    pub async fn process(&self, event: &Value) -> Result<Answer, Failure> {
        let push = match Push::from_event(event) {
            Ok(push) => push,
            Err(reason) => {
                let id = event.get("id").and_then(Value::as_str).unwrap_or("-");
                tracing::info!(event_id = id, %reason, "event ignored");
                return Ok(Answer::without_commit(Status::Ignored));
            }
        };
        let span = tracing::info_span!("push", repository = %push.repository, tag = %push.tag);
        self.commit_push(&push).instrument(span).await
    }

    async fn commit_push(&self, push: &Push) -> Result<Answer, Failure> {
        let image = format!("{}/{}", self.ecr_host, push.repository);
        let directory = format!("apps/{}/", push.namespace());
        for attempt in 1..=MAX_ATTEMPTS {
            // One read of the ref, its commit and the whole tree: a consistent snapshot.
            let head = self.github.branch_head().await?;
            let commit = self.github.commit(&head).await?;
            let tree = self.github.tree_recursive(&commit.tree.sha).await?;
            if tree.truncated {
                return Err(Failure::TreeTruncated {
                    branch: self.github.branch.clone(),
                });
            }
            let files: Vec<TreeEntry> = tree
                .tree
                .into_iter()
                .filter(|e| e.kind == "blob" && e.path.starts_with(&directory))
                .collect();
            if files.is_empty() {
                // A new or misspelt namespace: retrying cannot help, so it is answered,
                // not failed, and counted by the message (API.md).
                tracing::warn!(
                    namespace = push.namespace(),
                    repository = %self.github.repository,
                    branch = %self.github.branch,
                    "{UNKNOWN_NAMESPACE}"
                );
                return Ok(Answer::without_commit(Status::Unchanged));
            }
            let changes = self.rewrite_files(files, &image, &push.tag).await?;
            if changes.is_empty() {
                tracing::info!(head = %head, "every manifest already has this tag; nothing to commit");
                return Ok(Answer::without_commit(Status::Unchanged));
            }

            let mut entries = Vec::with_capacity(changes.len());
            for (entry, content) in &changes {
                let sha = self.github.create_blob(content).await?;
                entries.push(NewTreeEntry {
                    path: entry.path.clone(),
                    mode: entry.mode.clone(),
                    kind: "blob",
                    sha,
                });
            }
            let tree = self.github.create_tree(&commit.tree.sha, &entries).await?;
            let new_commit = self
                .github
                .create_commit(&push.commit_message(), &tree, &head)
                .await?;
            match self.github.update_branch(&new_commit).await {
                Ok(()) => {
                    let mut files: Vec<String> = entries.into_iter().map(|e| e.path).collect();
                    files.sort();
                    tracing::info!(commit = %new_commit, parent = %head, ?files, "manifests updated");
                    return Ok(Answer {
                        status: Status::Updated,
                        files,
                        commit: Some(new_commit),
                    });
                }
                Err(GitHubError::NotFastForward) => {
                    tracing::warn!(attempt, parent = %head, "the branch moved meanwhile");
                    if attempt < MAX_ATTEMPTS {
                        // A short, growing pause: the other pusher is likely a burst.
                        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(Failure::BranchKeepsMoving {
            branch: self.github.branch.clone(),
            attempts: MAX_ATTEMPTS,
        })
    }

    /// Reads every candidate file and returns those whose content changes, in tree order.
    async fn rewrite_files(
        &self,
        files: Vec<TreeEntry>,
        image: &str,
        tag: &str,
    ) -> Result<Vec<(TreeEntry, Vec<u8>)>, Failure> {
        let candidates = files.into_iter().filter(|entry| {
            // Symbolic links (120000) point elsewhere; huge files are not manifests.
            let regular = entry.mode == "100644" || entry.mode == "100755";
            let small = entry.size.is_none_or(|size| size <= MAX_FILE_SIZE);
            if regular && !small {
                tracing::warn!(path = %entry.path, size = ?entry.size, "file too large to be a manifest; left alone");
            }
            regular && small
        });
        let read: Vec<(TreeEntry, Vec<u8>)> = futures::stream::iter(candidates)
            .map(|entry| async move {
                let content = self.github.blob(&entry.sha).await?;
                Ok::<_, GitHubError>((entry, content))
            })
            .buffered(CONCURRENT_READS)
            .try_collect()
            .await?;
        Ok(read
            .into_iter()
            .filter_map(|(entry, content)| {
                // A NUL byte: binary, not a manifest (git's own test for text).
                if content.contains(&0) {
                    return None;
                }
                rewrite(&content, image, tag).map(|new| (entry, new))
            })
            .collect())
    }
}

/// The Lambda handler. A failure is logged and fails the invocation.
pub async fn handle(updater: &Updater, event: LambdaEvent<Value>) -> Result<Answer, Failure> {
    let answer = updater.process(&event.payload).await;
    if let Err(failure) = &answer {
        tracing::error!(error = %failure, "invocation failed");
    }
    answer
}

// ---------------------------------------------------------------------------------------
// The rewrite of one file

/// Gives every `image: <image>:<tag>` in `content` the tag `new_tag`, leaving every
/// other byte as it is; `None` when nothing changes.
///
/// - `image` is `<ECR_HOST>/<repository-name>` and must be followed by `:` right away,
///   so `.../snutt-dev/snutt-ev:` never matches `.../snutt-dev/snutt-ev-web:`.
/// - The key is `image` as a word (not `baseImage:`), then `:`, one or more spaces or
///   tabs, and the value, bare or opened by a `"` or `'`: it must start with `image`
///   (another registry's `otherhost/snutt-dev/snutt-ev:` does not match).
/// - The tag is everything after that `:` up to the first whitespace (so also a CR of a
///   CRLF line), quote, `#`, `,`, `]` or `}` (these end a value in a flow mapping or
///   list). A `@sha256:...` digest after the tag is part of it and is replaced too: the
///   new tag, not an old pin, decides the image. An empty tag matches nothing.
/// - Every occurrence on a line is rewritten; content is bytes, so encodings, line
///   endings and a missing final newline pass through untouched.
pub fn rewrite(content: &[u8], image: &str, new_tag: &str) -> Option<Vec<u8>> {
    const KEY: &[u8] = b"image:";
    let image = image.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = find(&content[from..], KEY) {
        let key = from + found;
        from = key + KEY.len();
        let word_start = key == 0
            || !matches!(content[key - 1], b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.');
        if !word_start {
            continue;
        }
        let mut at = from;
        while matches!(content.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        if at == from {
            continue;
        }
        if matches!(content.get(at), Some(b'"' | b'\'')) {
            at += 1;
        }
        if !content[at..].starts_with(image) || content.get(at + image.len()) != Some(&b':') {
            continue;
        }
        let tag_start = at + image.len() + 1;
        let tag_end = content[tag_start..]
            .iter()
            .position(|b| b.is_ascii_whitespace() || b"\"'#,]}".contains(b))
            .map_or(content.len(), |n| tag_start + n);
        from = tag_end;
        if tag_end == tag_start || &content[tag_start..tag_end] == new_tag.as_bytes() {
            continue;
        }
        out.extend_from_slice(&content[copied..tag_start]);
        out.extend_from_slice(new_tag.as_bytes());
        copied = tag_end;
    }
    if copied == 0 {
        return None;
    }
    out.extend_from_slice(&content[copied..]);
    Some(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// The GitHub client: the Git Data API of one repository and branch

/// Why a GitHub call failed.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub authentication failed (401 {message}): the token is wrong, expired or revoked")]
    Unauthorized { message: String },
    #[error("GitHub rate limit exceeded ({status}): {retry}")]
    RateLimited { status: u16, retry: Retry },
    #[error("GitHub refused {method} {path} (403 {message}): the token lacks a permission")]
    Forbidden {
        method: Method,
        path: String,
        message: String,
    },
    #[error(
        "GitHub answered 404 to {method} {path}: the repository, the branch or the object does \
         not exist, or the token cannot see it"
    )]
    NotFound { method: Method, path: String },
    #[error("the branch moved: the update is not a fast forward")]
    NotFastForward,
    #[error("GitHub answered {status} to {method} {path}: {message}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        message: String,
    },
    #[error("GitHub could not be reached ({method} {path}): {reason}")]
    Unreachable {
        method: Method,
        path: String,
        reason: String,
    },
    #[error("GitHub's answer to {method} {path} could not be read: {reason}")]
    Unexpected {
        method: Method,
        path: String,
        reason: String,
    },
}

impl GitHubError {
    /// The Lambda error type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "GitHubAuthenticationFailed",
            Self::RateLimited { .. } => "GitHubRateLimited",
            Self::Forbidden { .. } => "GitHubForbidden",
            Self::NotFound { .. } => "GitHubNotFound",
            Self::NotFastForward => "BranchMoved",
            Self::Unreachable { .. } => "GitHubUnreachable",
            Self::Status { .. } | Self::Unexpected { .. } => "GitHubError",
        }
    }
}

/// When GitHub lets us call again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    /// `x-ratelimit-reset`: the epoch second the quota resets.
    At {
        reset: i64,
        now: i64,
    },
    /// `retry-after` in seconds.
    After {
        seconds: u64,
    },
    Unknown,
}

impl fmt::Display for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::At { reset, now } => {
                let when = time::OffsetDateTime::from_unix_timestamp(*reset)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_else(|| format!("epoch second {reset}"));
                write!(f, "retry after {when} (in {} s)", (reset - now).max(0))
            }
            Self::After { seconds } => write!(f, "retry after {seconds} s"),
            Self::Unknown => write!(f, "retry in a few minutes"),
        }
    }
}

/// One entry of a tree listing.
#[derive(Debug, Clone, Deserialize)]
pub struct TreeEntry {
    pub path: String,
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sha: String,
    #[serde(default)]
    pub size: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct Tree {
    tree: Vec<TreeEntry>,
    #[serde(default)]
    truncated: bool,
}

#[derive(Debug, Serialize)]
struct NewTreeEntry {
    path: String,
    mode: String,
    #[serde(rename = "type")]
    kind: &'static str,
    sha: String,
}

#[derive(Debug, Deserialize)]
struct ShaOnly {
    sha: String,
}

#[derive(Debug, Deserialize)]
struct Commit {
    tree: ShaOnly,
}

#[derive(Debug, Deserialize)]
struct Reference {
    object: ShaOnly,
}

#[derive(Debug, Deserialize)]
struct Blob {
    content: String,
    #[serde(default)]
    encoding: String,
}

/// The client: one `reqwest::Client` with GitHub's headers, the token's header marked
/// sensitive.
pub struct GitHub {
    http: reqwest::Client,
    /// `{api}/repos/{owner}/{name}`.
    base: String,
    repository: String,
    branch: String,
}

impl GitHub {
    pub fn new(
        api_url: &str,
        repository: &str,
        branch: &str,
        token: &SecretString,
    ) -> Result<Self, ConfigError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
            .map_err(|_| ConfigError::Invalid {
                name: "GITHUB_TOKEN",
                reason: "the token holds characters a header cannot carry".into(),
            })?;
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, authorization);
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static("2022-11-28"),
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "waffledotcom-image-tag-updater/",
                env!("CARGO_PKG_VERSION")
            ))
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        Ok(Self {
            http,
            base: format!("{api_url}/repos/{repository}"),
            repository: repository.to_owned(),
            branch: branch.to_owned(),
        })
    }

    /// The commit the branch points at.
    pub async fn branch_head(&self) -> Result<String, GitHubError> {
        let path = format!("/git/ref/heads/{}", encode_path(&self.branch));
        let reference: Reference = self.call(Method::GET, &path, None).await?;
        Ok(reference.object.sha)
    }

    async fn commit(&self, sha: &str) -> Result<Commit, GitHubError> {
        self.call(Method::GET, &format!("/git/commits/{sha}"), None)
            .await
    }

    async fn tree_recursive(&self, sha: &str) -> Result<Tree, GitHubError> {
        self.call(Method::GET, &format!("/git/trees/{sha}?recursive=1"), None)
            .await
    }

    /// A blob's bytes (GitHub sends base64 with a newline every 60 characters).
    pub async fn blob(&self, sha: &str) -> Result<Vec<u8>, GitHubError> {
        let path = format!("/git/blobs/{sha}");
        let blob: Blob = self.call(Method::GET, &path, None).await?;
        match blob.encoding.as_str() {
            "base64" => {
                let compact: Vec<u8> = blob
                    .content
                    .bytes()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                BASE64.decode(compact).map_err(|e| GitHubError::Unexpected {
                    method: Method::GET,
                    path,
                    reason: format!("bad base64 content: {e}"),
                })
            }
            "utf-8" | "utf8" => Ok(blob.content.into_bytes()),
            other => Err(GitHubError::Unexpected {
                method: Method::GET,
                path,
                reason: format!("unknown encoding {other:?}"),
            }),
        }
    }

    /// Stores `content` as a blob (base64, so any bytes survive) and returns its sha.
    async fn create_blob(&self, content: &[u8]) -> Result<String, GitHubError> {
        let body = json!({"content": BASE64.encode(content), "encoding": "base64"});
        let created: ShaOnly = self.call(Method::POST, "/git/blobs", Some(body)).await?;
        Ok(created.sha)
    }

    /// A tree: `base_tree` with `entries` replaced.
    async fn create_tree(
        &self,
        base_tree: &str,
        entries: &[NewTreeEntry],
    ) -> Result<String, GitHubError> {
        let body = json!({"base_tree": base_tree, "tree": entries});
        let created: ShaOnly = self.call(Method::POST, "/git/trees", Some(body)).await?;
        Ok(created.sha)
    }

    async fn create_commit(
        &self,
        message: &str,
        tree: &str,
        parent: &str,
    ) -> Result<String, GitHubError> {
        let body = json!({"message": message, "tree": tree, "parents": [parent]});
        let created: ShaOnly = self.call(Method::POST, "/git/commits", Some(body)).await?;
        Ok(created.sha)
    }

    /// Moves the branch to `commit`, only as a fast forward.
    async fn update_branch(&self, commit: &str) -> Result<(), GitHubError> {
        let path = format!("/git/refs/heads/{}", encode_path(&self.branch));
        let body = json!({"sha": commit, "force": false});
        let _: Value = self.call(Method::PATCH, &path, Some(body)).await?;
        Ok(())
    }

    /// One request; any status but 2xx becomes a [`GitHubError`].
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, GitHubError> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let unreachable = |e: reqwest::Error| GitHubError::Unreachable {
            method: method.clone(),
            path: path.to_owned(),
            // Without the URL: the path says which call it was.
            reason: e.without_url().to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| GitHubError::Unexpected {
                method,
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("no message").to_owned());
        Err(classify(method, path, status, &headers, message))
    }
}

/// Maps a failed answer to an error, reading GitHub's rate-limit headers.
fn classify(
    method: Method,
    path: &str,
    status: StatusCode,
    headers: &HeaderMap,
    message: String,
) -> GitHubError {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let retry = || match (
        header("retry-after").and_then(|v| v.parse::<u64>().ok()),
        header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok()),
    ) {
        (Some(seconds), _) => Retry::After { seconds },
        (None, Some(reset)) => Retry::At {
            reset,
            now: time::OffsetDateTime::now_utc().unix_timestamp(),
        },
        (None, None) => Retry::Unknown,
    };
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    match status.as_u16() {
        401 => GitHubError::Unauthorized { message },
        429 => GitHubError::RateLimited {
            status: 429,
            retry: retry(),
        },
        // GitHub's primary limit (quota spent) and secondary limits (retry-after) are 403s.
        403 if exhausted || header("retry-after").is_some() => GitHubError::RateLimited {
            status: 403,
            retry: retry(),
        },
        403 => GitHubError::Forbidden {
            method,
            path: path.to_owned(),
            message,
        },
        404 => GitHubError::NotFound {
            method,
            path: path.to_owned(),
        },
        422 if method == Method::PATCH && message.to_ascii_lowercase().contains("fast forward") => {
            GitHubError::NotFastForward
        }
        other => GitHubError::Status {
            method,
            path: path.to_owned(),
            status: other,
            message,
        },
    }
}

/// Percent-encodes what a branch name may hold that a URL path may not (keeps `/`).
fn encode_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "405906814034.dkr.ecr.ap-northeast-2.amazonaws.com/snutt-dev/snutt-ev";

    fn rewritten(content: &str) -> Option<String> {
        rewrite(content.as_bytes(), IMAGE, "241").map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn the_tag_is_replaced_and_nothing_else() {
        let host = "405906814034.dkr.ecr.ap-northeast-2.amazonaws.com";
        for (before, after) in [
            (
                format!("        image: {IMAGE}:240\n"),
                format!("        image: {IMAGE}:241\n"),
            ),
            (
                format!("  - image: {IMAGE}:240 # deployed by CI\r\n"),
                format!("  - image: {IMAGE}:241 # deployed by CI\r\n"),
            ),
            (
                format!("image: \"{IMAGE}:240\""),
                format!("image: \"{IMAGE}:241\""),
            ),
            (
                format!("image:\t'{IMAGE}:240'  # quoted\n"),
                format!("image:\t'{IMAGE}:241'  # quoted\n"),
            ),
            (
                format!("image: {IMAGE}:240#tight-comment"),
                format!("image: {IMAGE}:241#tight-comment"),
            ),
            (
                format!("{{image: {IMAGE}:240, name: ev}}"),
                format!("{{image: {IMAGE}:241, name: ev}}"),
            ),
            (
                format!("image: {IMAGE}:240@sha256:abcdef\n"),
                format!("image: {IMAGE}:241\n"),
            ),
            (
                format!("a: 1\nimage: {IMAGE}:old\nb: {IMAGE}:old\nimage: {IMAGE}:older"),
                format!("a: 1\nimage: {IMAGE}:241\nb: {IMAGE}:old\nimage: {IMAGE}:241"),
            ),
            (
                format!("[{{image: {IMAGE}:1}}, {{image: {IMAGE}:2}}]"),
                format!("[{{image: {IMAGE}:241}}, {{image: {IMAGE}:241}}]"),
            ),
            (
                format!("image: {host}/snutt-dev/snutt-ev:240 # 한국어 주석 ✓\n"),
                format!("image: {host}/snutt-dev/snutt-ev:241 # 한국어 주석 ✓\n"),
            ),
        ] {
            assert_eq!(
                rewritten(&before).as_deref(),
                Some(after.as_str()),
                "{before:?}"
            );
        }
    }

    #[test]
    fn other_images_and_keys_do_not_match() {
        for content in [
            format!("image: {IMAGE}-web:240\n"),
            format!("image: {IMAGE}/sub:240\n"),
            format!("image: other.registry/{IMAGE}:240\n"),
            "image: registry.example.com/snutt-dev/snutt-ev:240\n".to_owned(),
            format!("baseImage: {IMAGE}:240\n"),
            format!("my-image: {IMAGE}:240\n"),
            format!("image:{IMAGE}:240\n"),
            format!("image: {IMAGE}\n"),
            format!("image: {IMAGE}:\n"),
            format!("image: {IMAGE}:241\n"),
            format!("name: {IMAGE}:240\n"),
            String::new(),
        ] {
            assert_eq!(rewritten(&content), None, "{content:?}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_pass_through() {
        let mut content = b"\xff\xfe latin-1 \xe9\n".to_vec();
        content.extend_from_slice(format!("image: {IMAGE}:1\n").as_bytes());
        content.push(0xc3);
        let mut expected = b"\xff\xfe latin-1 \xe9\n".to_vec();
        expected.extend_from_slice(format!("image: {IMAGE}:241\n").as_bytes());
        expected.push(0xc3);
        assert_eq!(rewrite(&content, IMAGE, "241"), Some(expected));
    }

    fn event(detail: Value) -> Value {
        json!({"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": detail})
    }

    #[test]
    fn pushes_are_read_from_the_event() {
        let push = Push::from_event(&event(json!({
            "action-type": "PUSH", "result": "SUCCESS",
            "repository-name": "snutt-dev/snutt-ev", "image-tag": "v1.2_3-rc.1",
        })))
        .unwrap();
        assert_eq!(push.namespace(), "snutt-dev");
        assert_eq!(
            push.commit_message(),
            "Automated commit by ECR push (snutt-dev/snutt-ev:v1.2_3-rc.1)"
        );
        for (name, tag) in [
            ("snutt-dev", "1"),
            ("snutt-dev/snutt-ev/x", "1"),
            ("../etc", "1"),
            ("snutt-dev/..", "1"),
            ("Snutt/ev", "1"),
            ("/ev", "1"),
            ("snutt-dev/snutt-ev", "-1"),
            ("snutt-dev/snutt-ev", "a b"),
            ("snutt-dev/snutt-ev", "a#b"),
        ] {
            let reason = Push::from_event(&event(json!({
                "action-type": "PUSH", "result": "SUCCESS",
                "repository-name": name, "image-tag": tag,
            })))
            .unwrap_err();
            assert!(!reason.is_empty(), "{name}:{tag}");
        }
    }

    #[test]
    fn rate_limits_say_when_to_retry() {
        let retry = Retry::At {
            reset: 1_795_000_000,
            now: 1_794_999_400,
        };
        assert_eq!(
            retry.to_string(),
            "retry after 2026-11-18T11:06:40Z (in 600 s)"
        );
        assert_eq!(Retry::After { seconds: 60 }.to_string(), "retry after 60 s");
    }

    #[test]
    fn branch_names_are_encoded_for_the_path() {
        assert_eq!(encode_path("main"), "main");
        assert_eq!(encode_path("release/2026#1"), "release/2026%231");
    }
}
