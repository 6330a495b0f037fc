//! The `slack-sync` function: Slack's members into the user directory.
//!
//! One run: list every member (`users.list`, pages of 200), leave out those docs/api.md
//! skips, read the others' profiles (`users.profile.get`, a few at a time), map them
//! (`mapping`), compare them with the users loaded once up front, and create or update
//! only where something differs (`sync`). Each run is a row of `batch_run`
//! (`shared::domain::batch`): queued, running, then succeeded or failed with its stats.
//!
//! Entry points: [`handle`] for Lambda (an EventBridge Scheduler event, or a force-run's
//! `{"run_id": N}` from the batch function), [`run()`] for a queued run (the Lambda
//! handler, the local server's background task, the command line).
//!
//! Read in this order: [`handler`] (the invocation), [`mod@run`] (the run lifecycle),
//! [`pass`] (one sync pass), then [`slack`] (the client), [`mapping`] and [`mod@sync`]
//! (the database side).

pub mod handler;
pub mod mapping;
pub mod pass;
pub mod run;
pub mod slack;
pub mod sync;
pub mod token;

pub use handler::{Failure, Invocation, finished, handle, parse_event};
pub use pass::{Report, SyncError, sync};
pub use run::{Outcome, run, scheduled};
pub use slack::{SlackClient, SlackError, SlackSettings};

/// The INFO message of a run that succeeded. A CloudWatch metric filter in template.yaml
/// counts it (a missing run raises an alarm): keep it word for word, here in lib.rs,
/// where the docs function's tests look for the messages the filters count.
pub const RUN_SUCCEEDED: &str = "Slack sync succeeded";
/// The ERROR message of a run that failed, counted by another metric filter.
pub const RUN_FAILED: &str = "Slack sync failed";
