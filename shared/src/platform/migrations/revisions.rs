//! The revisions this code knows: the files in `migrations/`, embedded at compile time.

use std::collections::BTreeMap;

use sqlx::migrate::{Migration, MigrationType, Migrator};

static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// One revision: its SQL both ways.
#[derive(Debug, Clone)]
pub struct Revision {
    pub version: i64,
    pub description: String,
    pub(super) up: &'static Migration,
    pub(super) down: &'static Migration,
}

/// Every revision this code knows, in order.
pub fn revisions() -> Vec<Revision> {
    let mut by_version: BTreeMap<i64, (Option<&Migration>, Option<&Migration>)> = BTreeMap::new();
    for migration in MIGRATOR.iter() {
        let entry = by_version.entry(migration.version).or_default();
        match migration.migration_type {
            MigrationType::ReversibleUp => entry.0 = Some(migration),
            MigrationType::ReversibleDown => entry.1 = Some(migration),
            // The build refuses simple migrations (see the test below): all are reversible.
            MigrationType::Simple => {}
        }
    }
    by_version
        .into_iter()
        .filter_map(|(version, pair)| match pair {
            (Some(up), Some(down)) => Some(Revision {
                version,
                description: up.description.to_string(),
                up,
                down,
            }),
            _ => None,
        })
        .collect()
}

/// The newest revision this code knows.
pub fn head() -> i64 {
    revisions().last().map_or(0, |r| r.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_revision_is_reversible_and_numbered_from_one() {
        let known = revisions();
        let versions: Vec<i64> = known.iter().map(|r| r.version).collect();
        let expected: Vec<i64> = (1..=known.len() as i64).collect();
        assert_eq!(versions, expected);
        // Every file in migrations/ belongs to an up/down pair.
        assert_eq!(MIGRATOR.iter().count(), known.len() * 2);
    }
}
