//! The `image-tag-updater` function, successor of ecr-heimdall: an ECR push event becomes
//! one commit in the GitOps repository, so that ArgoCD deploys the new image.
//!
//! Read in this order: [`handler`] (which events count, what ECR must confirm, the
//! answer), [`event`] (what a push is), [`ecr`] (what ECR says of an image), [`commit`]
//! (the read–check–rewrite–commit loop), [`rewrite`] (the rewrite of one file),
//! [`github`] (the Git Data API client) and [`error`] (why an invocation fails).

pub mod commit;
pub mod config;
pub mod ecr;
pub mod error;
pub mod event;
pub mod github;
pub mod handler;
pub mod redrive;
pub mod rewrite;

pub use commit::{MAX_ATTEMPTS, MAX_FILE_SIZE};
pub use config::{Config, ConfigError};
pub use error::{Failure, GitHubError, Retry};
pub use event::{EcrImageAction, Push};
pub use github::{GitHub, TreeEntry};
pub use handler::{Answer, Decision, Mode, Status, Updater, handle};
pub use rewrite::rewrite;

/// The WARN message of a push whose namespace has no directory. A CloudWatch metric
/// filter in template.yaml counts it: keep it word for word (it stays in lib.rs, where
/// the docs function's tests look for the messages the filters count).
pub const UNKNOWN_NAMESPACE: &str = "unknown namespace: no file under apps/<namespace>/";

/// The WARN message of a push the manifests are already past: they point at an image ECR
/// says was pushed later (a late retry, an old redrive). Nothing is committed; the answer
/// is `stale`. A metric filter counts it: keep it word for word.
pub const STALE: &str = "stale event: the manifests point at an image pushed later";

/// The WARN message of a push the function does not trust: another account or region, no
/// digest, a tag ECR does not hold, or a digest other than ECR's (a forged or replayed
/// event). Nothing is committed; the answer is `ignored`, so the event is neither retried
/// nor kept for a redrive. A metric filter counts it: keep it word for word.
pub const REFUSED: &str = "event refused: ECR does not confirm this push";
