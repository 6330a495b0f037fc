//! One sync pass: Slack's members listed, their profiles read a few at a time, mapped
//! (`mapping`), and written where they differ from the directory (`sync`).

use futures::{StreamExt, TryStreamExt, stream};
use serde_json::Value;
use shared::Database;
use shared::domain::batch::RunStats;

use crate::mapping;
use crate::slack::{SlackClient, SlackError, SlackSettings};
use crate::sync::{self, Applied, Directory};

/// Why a sync stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error("database: {0}")]
    Database(#[from] shared::Error),
}

/// What a sync did, and why it stopped if it stopped early.
#[derive(Debug)]
pub struct Report {
    pub stats: RunStats,
    pub unknown_positions: u32,
    pub error: Option<SyncError>,
}

/// One pass over Slack's members. Stops early on an auth error from Slack, a member
/// list that cannot be read, or a database that cannot be reached; a member whose
/// profile cannot be read, or whose row cannot be written, is counted `failed` and
/// the pass goes on.
pub async fn sync(db: &Database, settings: &SlackSettings) -> Report {
    let mut report = Report {
        stats: RunStats::default(),
        unknown_positions: 0,
        error: None,
    };
    if let Err(error) = sync_into(db, settings, &mut report).await {
        report.error = Some(error);
    }
    report
}

async fn sync_into(
    db: &Database,
    settings: &SlackSettings,
    report: &mut Report,
) -> Result<(), SyncError> {
    let client = SlackClient::new(settings)?;
    let members = client.list_members().await?;
    let mut candidates = Vec::with_capacity(members.len());
    for member in members {
        match mapping::skip_reason(&member) {
            Some(reason) => {
                tracing::debug!(slack_id = %member.id, reason, "member skipped");
                report.stats.skipped += 1;
            }
            None => candidates.push(member),
        }
    }

    // Every profile first, a few at a time; an auth error, or Slack refusing
    // connections, stops the lot at once (before anything is written).
    let client = &client;
    let mut profiles: Vec<(usize, String, Result<Value, SlackError>)> =
        stream::iter(candidates.into_iter().enumerate())
            .map(|(index, member)| async move {
                let profile = client.profile(&member.id).await;
                (index, member.id, profile)
            })
            .buffer_unordered(settings.concurrency.max(1))
            .map(|(index, id, profile)| match profile {
                Err(error) if error.is_fatal() => Err(error),
                profile => Ok((index, id, profile)),
            })
            .try_collect()
            .await?;
    // Slack's order, so that new users get ids in a stable order.
    profiles.sort_by_key(|(index, _, _)| *index);

    let pool = db.pool().await?;
    let directory = {
        let mut conn = pool.acquire().await.map_err(shared::Error::from)?;
        Directory::load(&mut conn).await?
    };
    for (_, slack_id, profile) in profiles {
        let profile = match profile {
            Ok(profile) => profile,
            Err(error) => {
                tracing::warn!(%slack_id, %error, "profile unreadable; member counted failed");
                report.stats.failed += 1;
                continue;
            }
        };
        let mapped = mapping::map_profile(&slack_id, &profile, &directory.positions);
        if !mapped.unknown_positions.is_empty() {
            tracing::info!(%slack_id, names = ?mapped.unknown_positions, "unknown positions ignored");
            report.unknown_positions += mapped.unknown_positions.len() as u32;
        }
        let plan = sync::plan(directory.user(&slack_id), &mapped);
        match sync::apply(pool, plan).await {
            Ok(Applied::Created(id)) => {
                tracing::debug!(%slack_id, id, "user created");
                report.stats.created += 1;
            }
            Ok(Applied::Updated) => report.stats.updated += 1,
            Ok(Applied::Unchanged) => report.stats.unchanged += 1,
            Err(error @ shared::Error::Unavailable(_)) => return Err(error.into()),
            Err(error) => {
                tracing::warn!(%slack_id, %error, "member could not be written; counted failed");
                report.stats.failed += 1;
            }
        }
    }
    Ok(())
}
