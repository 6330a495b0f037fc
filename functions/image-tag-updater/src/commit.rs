//! One push becomes one commit: read a snapshot of the branch, check with ECR that no
//! manifest would move back to an earlier push, rewrite the manifests of the push's
//! namespace, commit them, and start again when the branch moved meanwhile.

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};

use crate::UNKNOWN_NAMESPACE;
use crate::ecr::{Image, Registry, rfc3339};
use crate::error::{Failure, GitHubError};
use crate::event::Push;
use crate::github::{GitHub, NewTreeEntry, TreeEntry};
use crate::handler::{Answer, Decision, Mode, Status};
use crate::rewrite::{current_tags, rewrite};

/// How many times the commit is rebuilt when the branch moves under it.
pub const MAX_ATTEMPTS: u32 = 5;
/// Files larger than this are not manifests; they are left alone unread.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;
/// Blobs fetched at once.
const CONCURRENT_READS: usize = 8;

/// Commits the new tag of `push` (the image `pushed`, as ECR confirmed it) to every
/// manifest of its namespace that names the image `<ecr_host>/<repository-name>`, unless
/// one of them points at an image pushed later (`stale`). A dry run stops before writing.
pub(crate) async fn commit_push(
    github: &GitHub,
    registry: &Registry,
    ecr_host: &str,
    push: &Push,
    pushed: &Image,
    mode: Mode,
) -> Result<Decision, Failure> {
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
            return Ok(Decision::not_acted(
                Status::Unchanged,
                format!("no file under {directory}"),
            ));
        }
        let read = read_files(github, files).await?;
        // Checked on every attempt: a branch that moved may point somewhere newer now.
        if let Some(reason) = later_push(registry, push, pushed, &read, &image).await? {
            return Ok(Decision::not_acted(Status::Stale, reason));
        }
        let changes = rewrite_all(read, &image, &push.tag);
        if changes.is_empty() {
            tracing::info!(head = %head, "every manifest already has this tag; nothing to commit");
            return Ok(Decision::not_acted(
                Status::Unchanged,
                "every manifest already has this tag".into(),
            ));
        }
        if mode == Mode::DryRun {
            let mut files: Vec<String> = changes.into_iter().map(|(e, _)| e.path).collect();
            files.sort();
            return Ok(Decision::answer(Answer {
                status: Status::Updated,
                files,
                commit: None,
            }));
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
                return Ok(Decision::answer(Answer {
                    status: Status::Updated,
                    files,
                    commit: Some(new_commit),
                }));
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

/// Reads every candidate file: regular files of at most [`MAX_FILE_SIZE`], in tree order.
async fn read_files(
    github: &GitHub,
    files: Vec<TreeEntry>,
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
        // A NUL byte: binary, not a manifest (git's own test for text).
        .try_filter(|(_, content)| futures::future::ready(!content.contains(&0)))
        .try_collect()
        .await?;
    Ok(read)
}

/// The files whose content changes, with their new content, in tree order.
fn rewrite_all(
    read: Vec<(TreeEntry, Vec<u8>)>,
    image: &str,
    tag: &str,
) -> Vec<(TreeEntry, Vec<u8>)> {
    read.into_iter()
        .filter_map(|(entry, content)| rewrite(&content, image, tag).map(|new| (entry, new)))
        .collect()
}

/// Why the push is stale, if it is: a tag the manifests give the image now whose ECR
/// image was pushed after `pushed`. A tag ECR no longer holds (deleted, expired) tells
/// nothing and does not stop the update.
async fn later_push(
    registry: &Registry,
    push: &Push,
    pushed: &Image,
    read: &[(TreeEntry, Vec<u8>)],
    image: &str,
) -> Result<Option<String>, Failure> {
    let mut tags: Vec<String> = Vec::new();
    for (_, content) in read {
        for tag in current_tags(content, image) {
            if tag != push.tag && !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    let found: Vec<(String, Option<Image>)> = futures::stream::iter(tags)
        .map(|tag| async move {
            let image = registry.image(&push.repository, &tag).await?;
            Ok::<_, Failure>((tag, image))
        })
        .buffered(CONCURRENT_READS)
        .try_collect()
        .await?;
    let newest = found
        .into_iter()
        .filter_map(|(tag, image)| image.map(|image| (tag, image)))
        .filter(|(_, image)| image.pushed_at > pushed.pushed_at)
        .max_by_key(|(_, image)| image.pushed_at);
    Ok(newest.map(|(tag, image)| {
        format!(
            "the manifests point at {}:{tag}, pushed {}, after the event's {} ({})",
            push.repository,
            rfc3339(&image.pushed_at),
            push.tag,
            rfc3339(&pushed.pushed_at),
        )
    }))
}
