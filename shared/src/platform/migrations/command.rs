//! What `migrate` is asked to do, and what it answers.

use serde::{Deserialize, Serialize};

use super::error::MigrateError;
use super::revisions::Revision;

/// What `migrate` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Command {
    Upgrade {
        #[serde(default = "head_target")]
        target: Target,
    },
    Downgrade {
        target: Target,
    },
    Status,
}

fn head_target() -> Target {
    Target::Head
}

/// `head`, `base`, or a revision number (written as `status` prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Head,
    Base,
    Version(i64),
}

impl Target {
    pub fn parse(s: &str) -> Result<Self, MigrateError> {
        match s.trim() {
            "head" => Ok(Self::Head),
            "base" => Ok(Self::Base),
            other => other.parse().map(Self::Version).map_err(|_| {
                MigrateError::UnknownTarget(other.to_owned(), "head, base or a revision number")
            }),
        }
    }

    pub(super) fn resolve(self, known: &[Revision]) -> Result<i64, MigrateError> {
        match self {
            Self::Head => Ok(known.last().map_or(0, |r| r.version)),
            Self::Base => Ok(0),
            Self::Version(0) => Ok(0),
            Self::Version(v) if known.iter().any(|r| r.version == v) => Ok(v),
            Self::Version(v) => Err(MigrateError::UnknownRevision(
                v,
                known.iter().map(|r| r.version).collect(),
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Self::Version(n)),
            Raw::Text(t) => Self::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// The answer of every command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The newest applied revision; `null` at base.
    pub current: Option<i64>,
    pub applied: Vec<i64>,
    pub pending: Vec<i64>,
    /// A revision that failed halfway, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dirty: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::migrations::revisions::revisions;

    #[test]
    fn targets_parse_as_status_prints_them() {
        assert_eq!(Target::parse("head").unwrap(), Target::Head);
        assert_eq!(Target::parse("base").unwrap(), Target::Base);
        assert_eq!(Target::parse("2").unwrap(), Target::Version(2));
        assert!(Target::parse("latest").is_err());
        let command: Command =
            serde_json::from_str(r#"{"command": "downgrade", "target": 1}"#).unwrap();
        assert_eq!(
            command,
            Command::Downgrade {
                target: Target::Version(1)
            }
        );
        let command: Command = serde_json::from_str(r#"{"command": "upgrade"}"#).unwrap();
        assert_eq!(
            command,
            Command::Upgrade {
                target: Target::Head
            }
        );
    }

    #[test]
    fn unknown_revision_targets_are_refused() {
        let known = revisions();
        assert!(matches!(
            Target::Version(999).resolve(&known),
            Err(MigrateError::UnknownRevision(999, _))
        ));
        assert_eq!(Target::Base.resolve(&known).unwrap(), 0);
    }
}
