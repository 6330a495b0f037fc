//! A fake of GitHub's REST API for one repository: the Git Data API (refs, commits,
//! trees, blobs) in GitHub's documented shapes, over real content-addressed state (object
//! ids are git's own SHA-1s), on loopback.
//!
//! It checks the bearer token (401 `Bad credentials`), wants a `User-Agent` (as GitHub
//! does), refuses a ref update that is not a fast forward (422 `Update is not a fast
//! forward`), can answer every call as rate limited (403 with `x-ratelimit-remaining: 0`,
//! or 429 with `retry-after`), and can move the branch by itself just before the next ref
//! updates, as another pusher would. It records every request.

mod api;
mod objects;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{HeaderMap, Method};

use objects::{Object, Repo};

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
        let app = api::router(repo.clone());
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
