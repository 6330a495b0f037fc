//! The sync's database side: what the directory holds (loaded once per run), what a
//! member's mapped profile would change, and the write, through the same code as the
//! users function (`shared::domain::users::repo`) and audited as `slack-sync`.
//!
//! A member whose user already matches Slack costs no query at all: the comparison is
//! made against the rows loaded up front.

use std::collections::HashMap;

use serde_json::Value;
use shared::Error;
use shared::domain::audit::{self, Action, Actor, Changes, Entity};
use shared::domain::users::{Patch, UserInput, repo};
use shared::platform::db::in_transaction;
use sqlx::{MySqlConnection, MySqlPool};

use crate::mapping::{Mapped, Positions};

/// What a user synced from Slack holds of the fields Slack writes.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Existing {
    pub id: i32,
    pub slack_id: String,
    pub first_name: String,
    pub last_name: String,
    pub image_url: Option<String>,
    pub slack_email: Option<String>,
    pub phone_number: Option<String>,
    pub github_id: Option<String>,
    pub generation: Option<String>,
    pub is_member: bool,
    #[sqlx(skip)]
    pub positions: Vec<String>,
}

/// The users that have a Slack id, and the positions that exist.
#[derive(Debug, Default)]
pub struct Directory {
    /// By upper-cased Slack id (the column compares case-insensitively).
    users: HashMap<String, Existing>,
    pub positions: Positions,
}

impl Directory {
    /// Three queries, whatever the number of users.
    pub async fn load(conn: &mut MySqlConnection) -> Result<Self, Error> {
        let rows: Vec<Existing> = sqlx::query_as(
            "SELECT id, slack_id, first_name, last_name, image_url, slack_email, phone_number, \
             github_id, generation, is_member FROM `user` WHERE slack_id IS NOT NULL",
        )
        .fetch_all(&mut *conn)
        .await?;
        let links: Vec<(i32, String)> = sqlx::query_as(
            "SELECT pua.user_id, p.name FROM position_user_association pua \
             JOIN `position` p ON p.id = pua.position_id \
             JOIN `user` u ON u.id = pua.user_id \
             WHERE u.slack_id IS NOT NULL ORDER BY p.id",
        )
        .fetch_all(&mut *conn)
        .await?;
        // The organisers' position (운영팀, whatever it is called now) is given by admins
        // only: Slack's free text can never name it.
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM `position` \
             WHERE id NOT IN (SELECT position_id FROM organisers_position)",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut by_id: HashMap<i32, Existing> = rows.into_iter().map(|u| (u.id, u)).collect();
        for (user_id, name) in links {
            if let Some(user) = by_id.get_mut(&user_id) {
                user.positions.push(name);
            }
        }
        Ok(Self {
            users: by_id
                .into_values()
                .map(|u| (u.slack_id.to_uppercase(), u))
                .collect(),
            positions: Positions::new(names.iter().map(String::as_str)),
        })
    }

    pub fn user(&self, slack_id: &str) -> Option<&Existing> {
        self.users.get(&slack_id.to_uppercase())
    }
}

/// What to do for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// No user has the member's Slack id.
    Create(UserInput),
    /// These fields differ from Slack's non-empty values; `add_positions` are Slack's
    /// positions the user lacks (added to theirs, none removed).
    Update {
        id: i32,
        input: UserInput,
        add_positions: Vec<String>,
    },
    Unchanged,
}

/// Compares a member's mapped profile with their user, if any.
pub fn plan(existing: Option<&Existing>, mapped: &Mapped) -> Plan {
    let Some(user) = existing else {
        let set = |value: &Option<String>| value.clone().map_or(Patch::Absent, Patch::Set);
        return Plan::Create(UserInput {
            first_name: Patch::Set(mapped.first_name.clone().unwrap_or_default()),
            last_name: Patch::Set(mapped.last_name.clone().unwrap_or_default()),
            image_url: set(&mapped.image_url),
            slack_email: set(&mapped.slack_email),
            phone_number: set(&mapped.phone_number),
            github_id: set(&mapped.github_id),
            generation: set(&mapped.generation),
            slack_id: Patch::Set(mapped.slack_id.clone()),
            is_member: Patch::Set(true),
            positions: if mapped.positions.is_empty() {
                Patch::Absent
            } else {
                Patch::Set(mapped.positions.clone())
            },
            ..UserInput::default()
        });
    };
    // Only a non-empty Slack value that differs overwrites.
    let overwrite = |slack: &Option<String>, stored: Option<&str>| match slack {
        Some(value) if stored != Some(value.as_str()) => Patch::Set(value.clone()),
        _ => Patch::Absent,
    };
    let add_positions: Vec<String> = mapped
        .positions
        .iter()
        .filter(|name| {
            !user
                .positions
                .iter()
                .any(|p| p.to_lowercase() == name.to_lowercase())
        })
        .cloned()
        .collect();
    let input = UserInput {
        first_name: overwrite(&mapped.first_name, Some(&user.first_name)),
        last_name: overwrite(&mapped.last_name, Some(&user.last_name)),
        image_url: overwrite(&mapped.image_url, user.image_url.as_deref()),
        slack_email: overwrite(&mapped.slack_email, user.slack_email.as_deref()),
        phone_number: overwrite(&mapped.phone_number, user.phone_number.as_deref()),
        github_id: overwrite(&mapped.github_id, user.github_id.as_deref()),
        generation: overwrite(&mapped.generation, user.generation.as_deref()),
        is_member: if user.is_member {
            Patch::Absent
        } else {
            Patch::Set(true)
        },
        ..UserInput::default()
    };
    if input == UserInput::default() && add_positions.is_empty() {
        Plan::Unchanged
    } else {
        Plan::Update {
            id: user.id,
            input,
            add_positions,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created(i32),
    Updated,
    Unchanged,
}

/// Carries out a plan: each create or update in its own transaction, with its audit
/// entry. An update that turns out to change nothing (someone else wrote the same
/// values meanwhile) records nothing.
pub async fn apply(pool: &MySqlPool, plan: Plan) -> Result<Applied, Error> {
    let actor = Actor::SlackSync;
    match plan {
        Plan::Unchanged => Ok(Applied::Unchanged),
        Plan::Create(input) => {
            let id = in_transaction(pool, async |tx| {
                let id = repo::create(tx, None, &input).await?;
                let created = repo::audit_state(tx, id).await?.unwrap_or_default();
                let changes = Changes::between(&Value::Null, &created);
                audit::record(tx, &actor, Action::Create, Entity::User, id, &changes).await?;
                Ok(id)
            })
            .await?;
            Ok(Applied::Created(id))
        }
        Plan::Update {
            id,
            mut input,
            add_positions,
        } => {
            in_transaction(pool, async |tx| {
                if !repo::lock(tx, id).await? {
                    return Err(Error::not_found("user"));
                }
                let before = repo::audit_state(tx, id)
                    .await?
                    .ok_or_else(|| Error::not_found("user"))?;
                if !add_positions.is_empty() {
                    // Added to what the user holds now, not to what the run loaded.
                    let mut names: Vec<String> = before["positions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                    for name in &add_positions {
                        if !names
                            .iter()
                            .any(|n| n.to_lowercase() == name.to_lowercase())
                        {
                            names.push(name.clone());
                        }
                    }
                    input.positions = Patch::Set(names);
                }
                repo::update(tx, id, &input).await?;
                let after = repo::audit_state(tx, id).await?.unwrap_or_default();
                let changes = Changes::between(&before, &after);
                if changes.is_empty() {
                    return Ok(Applied::Unchanged);
                }
                audit::record(tx, &actor, Action::Update, Entity::User, id, &changes).await?;
                Ok(Applied::Updated)
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn existing() -> Existing {
        Existing {
            id: 7,
            slack_id: "U1".into(),
            first_name: "와플".into(),
            last_name: "김".into(),
            image_url: Some("https://img.example/1.png".into()),
            slack_email: Some("kim@example.com".into()),
            phone_number: None,
            github_id: Some("kim".into()),
            generation: Some("19".into()),
            is_member: true,
            positions: vec!["iOS".into()],
        }
    }

    fn mapped() -> Mapped {
        Mapped {
            slack_id: "U1".into(),
            first_name: Some("와플".into()),
            last_name: Some("김".into()),
            image_url: Some("https://img.example/1.png".into()),
            slack_email: Some("kim@example.com".into()),
            github_id: Some("kim".into()),
            generation: Some("19".into()),
            positions: vec!["iOS".into()],
            ..Mapped::default()
        }
    }

    #[test]
    fn matching_users_are_unchanged() {
        assert_eq!(plan(Some(&existing()), &mapped()), Plan::Unchanged);
        // Empty Slack values never clear anything.
        let sparse = Mapped {
            slack_id: "U1".into(),
            ..Mapped::default()
        };
        assert_eq!(plan(Some(&existing()), &sparse), Plan::Unchanged);
        // Positions compare case-insensitively.
        let mut user = existing();
        user.positions = vec!["IOS".into()];
        assert_eq!(plan(Some(&user), &mapped()), Plan::Unchanged);
    }

    #[test]
    fn only_differing_non_empty_values_are_written() {
        let mut slack = mapped();
        slack.phone_number = Some("01012345678".into());
        slack.last_name = None;
        slack.positions = vec!["백엔드".into(), "iOS".into()];
        let mut user = existing();
        user.is_member = false;
        let Plan::Update {
            id,
            input,
            add_positions,
        } = plan(Some(&user), &slack)
        else {
            panic!("an update");
        };
        assert_eq!(id, 7);
        assert_eq!(
            input,
            UserInput {
                phone_number: Patch::Set("01012345678".into()),
                is_member: Patch::Set(true),
                ..UserInput::default()
            }
        );
        assert_eq!(add_positions, ["백엔드"]);
    }

    #[test]
    fn new_members_are_created_as_members_with_empty_missing_names() {
        let slack = Mapped {
            slack_id: "U2".into(),
            first_name: Some("A".into()),
            ..Mapped::default()
        };
        let Plan::Create(input) = plan(None, &slack) else {
            panic!("a create");
        };
        assert_eq!(input.first_name, Patch::Set("A".into()));
        assert_eq!(input.last_name, Patch::Set(String::new()));
        assert_eq!(input.slack_id, Patch::Set("U2".into()));
        assert_eq!(input.is_member, Patch::Set(true));
        assert_eq!(input.positions, Patch::Absent);
        assert!(
            input.sso_id.is_absent() && input.username.is_absent() && input.is_admin.is_absent()
        );
    }
}
