//! One push becomes one commit: read a snapshot of the branch, rewrite the manifests of
//! the push's namespace, commit them, and start again when the branch moved meanwhile.

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};

use crate::UNKNOWN_NAMESPACE;
use crate::error::{Failure, GitHubError};
use crate::event::Push;
use crate::github::{GitHub, NewTreeEntry, TreeEntry};
use crate::handler::{Answer, Status};
use crate::rewrite::rewrite;

/// How many times the commit is rebuilt when the branch moves under it.
pub const MAX_ATTEMPTS: u32 = 5;
/// Files larger than this are not manifests; they are left alone unread.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;
/// Blobs fetched at once.
const CONCURRENT_READS: usize = 8;

/// Commits the new tag of `push` to every manifest of its namespace that names the image
/// `<ecr_host>/<repository-name>`.
pub(crate) async fn commit_push(
    github: &GitHub,
    ecr_host: &str,
    push: &Push,
) -> Result<Answer, Failure> {
    let image = format!("{ecr_host}/{}", push.repository);
    let directory = format!("apps/{}/", push.namespace());
    for attempt in 1..=MAX_ATTEMPTS {
        // One read of the ref, its commit and the whole tree: a consistent snapshot.
        let head = github.branch_head().await?;
        let commit = github.commit(&head).await?;
        let tree = github.tree_recursive(&commit.tree.sha).await?;
        if tree.truncated {
            return Err(Failure::TreeTruncated {
                branch: github.branch.clone(),
            });
        }
        let files: Vec<TreeEntry> = tree
            .tree
            .into_iter()
            .filter(|e| e.kind == "blob" && e.path.starts_with(&directory))
            .collect();
        if files.is_empty() {
            // A new or misspelt namespace: retrying cannot help, so it is answered,
            // not failed, and counted by the message (docs/api.md).
            tracing::warn!(
                namespace = push.namespace(),
                repository = %github.repository,
                branch = %github.branch,
                "{UNKNOWN_NAMESPACE}"
            );
            return Ok(Answer::without_commit(Status::Unchanged));
        }
        let changes = rewrite_files(github, files, &image, &push.tag).await?;
        if changes.is_empty() {
            tracing::info!(head = %head, "every manifest already has this tag; nothing to commit");
            return Ok(Answer::without_commit(Status::Unchanged));
        }

        let mut entries = Vec::with_capacity(changes.len());
        for (entry, content) in &changes {
            let sha = github.create_blob(content).await?;
            entries.push(NewTreeEntry {
                path: entry.path.clone(),
                mode: entry.mode.clone(),
                kind: "blob",
                sha,
            });
        }
        let tree = github.create_tree(&commit.tree.sha, &entries).await?;
        let new_commit = github
            .create_commit(&push.commit_message(), &tree, &head)
            .await?;
        match github.update_branch(&new_commit).await {
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
        branch: github.branch.clone(),
        attempts: MAX_ATTEMPTS,
    })
}

/// Reads every candidate file and returns those whose content changes, in tree order.
async fn rewrite_files(
    github: &GitHub,
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
            let content = github.blob(&entry.sha).await?;
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
