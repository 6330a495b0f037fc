//! The audit log: every successful write appends one entry, on the writer's own
//! connection, inside the writer's transaction, so that the write and its entry commit
//! or fail together.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sqlx::MySqlConnection;

use crate::platform::error::Error;

/// Who made a change: a caller's SSO id, or the Slack sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(String),
    SlackSync,
}

impl Actor {
    pub fn as_str(&self) -> &str {
        match self {
            Self::User(sso_id) => sso_id,
            Self::SlackSync => "slack-sync",
        }
    }
}

/// What kind of thing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    User,
    Position,
    Team,
    /// A user's membership of a team; `entity_id` is `<team_id>:<user_id>`.
    TeamMember,
}

impl Entity {
    /// Every entity (a new variant goes here too: the audit reader accepts these names).
    pub const ALL: [Self; 4] = [Self::User, Self::Position, Self::Team, Self::TeamMember];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Position => "position",
            Self::Team => "team",
            Self::TeamMember => "team_member",
        }
    }

    /// The entity named `name` exactly, as `as_str` spells it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|entity| entity.as_str() == name)
    }
}

/// What happened to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    /// A membership added (teams) or a position linked.
    Add,
    /// A membership or a position link removed.
    Remove,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Add => "add",
            Self::Remove => "remove",
        }
    }
}

/// `{field: [old, new]}` for the fields a write changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Changes(BTreeMap<String, (Value, Value)>);

impl Changes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `field` when `old` and `new` differ.
    pub fn field(&mut self, field: &str, old: impl Serialize, new: impl Serialize) -> &mut Self {
        let old = serde_json::to_value(old).unwrap_or(Value::Null);
        let new = serde_json::to_value(new).unwrap_or(Value::Null);
        if old != new {
            self.0.insert(field.to_owned(), (old, new));
        }
        self
    }

    /// Every field of two JSON objects that differs (`null` for a missing side).
    pub fn between(old: &Value, new: &Value) -> Self {
        let mut changes = Self::new();
        let empty = serde_json::Map::new();
        let old = old.as_object().unwrap_or(&empty);
        let new = new.as_object().unwrap_or(&empty);
        for key in old.keys().chain(new.keys()) {
            let before = old.get(key).cloned().unwrap_or(Value::Null);
            let after = new.get(key).cloned().unwrap_or(Value::Null);
            changes.field(key, before, after);
        }
        changes
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Appends an entry. Call it on the connection of the transaction that made the write.
pub async fn record(
    conn: &mut MySqlConnection,
    actor: &Actor,
    action: Action,
    entity: Entity,
    entity_id: impl ToString,
    changes: &Changes,
) -> Result<(), Error> {
    let changes = serde_json::to_string(changes).map_err(anyhow::Error::from)?;
    sqlx::query(
        "INSERT INTO audit_log (actor, action, entity, entity_id, changes) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(actor.as_str())
    .bind(action.as_str())
    .bind(entity.as_str())
    .bind(entity_id.to_string())
    .bind(changes)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_keep_only_what_differs() {
        let changes = Changes::between(
            &json!({"first_name": "A", "last_name": "B", "positions": ["iOS"]}),
            &json!({"first_name": "A", "last_name": "C", "positions": ["iOS", "백엔드"], "phone_number": "01012345678"}),
        );
        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            json!({
                "last_name": ["B", "C"],
                "positions": [["iOS"], ["iOS", "백엔드"]],
                "phone_number": [null, "01012345678"],
            })
        );
    }
}
