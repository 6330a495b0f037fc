//! The GitHub client: the Git Data API of one repository and branch.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use reqwest::header::{self, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::ConfigError;
use crate::error::{GitHubError, classify};

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
pub(crate) struct Tree {
    pub(crate) tree: Vec<TreeEntry>,
    #[serde(default)]
    pub(crate) truncated: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewTreeEntry {
    pub(crate) path: String,
    pub(crate) mode: String,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) sha: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ShaOnly {
    pub(crate) sha: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Commit {
    pub(crate) tree: ShaOnly,
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
    pub(crate) repository: String,
    pub(crate) branch: String,
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

    pub(crate) async fn commit(&self, sha: &str) -> Result<Commit, GitHubError> {
        self.call(Method::GET, &format!("/git/commits/{sha}"), None)
            .await
    }

    pub(crate) async fn tree_recursive(&self, sha: &str) -> Result<Tree, GitHubError> {
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
    pub(crate) async fn create_blob(&self, content: &[u8]) -> Result<String, GitHubError> {
        let body = json!({"content": BASE64.encode(content), "encoding": "base64"});
        let created: ShaOnly = self.call(Method::POST, "/git/blobs", Some(body)).await?;
        Ok(created.sha)
    }

    /// A tree: `base_tree` with `entries` replaced.
    pub(crate) async fn create_tree(
        &self,
        base_tree: &str,
        entries: &[NewTreeEntry],
    ) -> Result<String, GitHubError> {
        let body = json!({"base_tree": base_tree, "tree": entries});
        let created: ShaOnly = self.call(Method::POST, "/git/trees", Some(body)).await?;
        Ok(created.sha)
    }

    pub(crate) async fn create_commit(
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
    pub(crate) async fn update_branch(&self, commit: &str) -> Result<(), GitHubError> {
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

    #[test]
    fn branch_names_are_encoded_for_the_path() {
        assert_eq!(encode_path("main"), "main");
        assert_eq!(encode_path("release/2026#1"), "release/2026%231");
    }
}
