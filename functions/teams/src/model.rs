//! What the teams API reads and writes: the request bodies, parsed into checked values,
//! and the views. Each type also describes itself in the OpenAPI document.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use shared::Error;
use shared::domain::admin_write::Audited;
use shared::platform::input::{self, Field, Mode, Patch, Rule};
use utoipa::{IntoParams, ToSchema};

/// The longest team name, in characters (the column is `VARCHAR(30)`).
pub const NAME_MAX: usize = 30;
/// The longest introduction, in characters (the column is `VARCHAR(1000)`).
pub const INTRODUCTION_MAX: usize = 1000;

/// A team and how many members it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, ToSchema)]
pub struct TeamSummary {
    pub id: i32,
    #[schema(examples("와플스튜디오 웹팀"))]
    pub name: String,
    #[schema(required)]
    pub introduction: Option<String>,
    /// How many users are members.
    pub member_count: i64,
}

/// `GET /teams`: every team, in id order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamList {
    pub items: Vec<TeamSummary>,
}

/// A row of `team`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TeamRow {
    pub id: i32,
    pub name: String,
    pub introduction: Option<String>,
}

/// The audit log records a team's name and introduction.
impl Audited for TeamRow {
    fn audit_state(&self) -> Value {
        json!({ "name": self.name, "introduction": self.introduction })
    }
}

/// One team with its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Team {
    pub id: i32,
    #[schema(examples("와플스튜디오 웹팀"))]
    pub name: String,
    #[schema(required)]
    pub introduction: Option<String>,
    /// In user id order.
    pub members: Vec<TeamMember>,
}

impl Team {
    pub fn new(row: TeamRow, members: Vec<TeamMember>) -> Self {
        Self {
            id: row.id,
            name: row.name,
            introduction: row.introduction,
            members,
        }
    }
}

/// A member of a team, as the public user summary shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, ToSchema)]
pub struct TeamMember {
    /// The user's id.
    pub id: i32,
    #[schema(required)]
    pub username: Option<String>,
    pub first_name: String,
    pub last_name: String,
    #[schema(required)]
    pub image_url: Option<String>,
}

/// The path of a membership route, `/teams/{id}/members/{user_id}` (`PathIds` reads it).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // Documentation only.
pub struct MembershipPath {
    /// The team's id.
    #[param(minimum = 1)]
    id: i32,
    /// The user's id.
    #[param(minimum = 1)]
    user_id: i32,
}

/// A team's writable fields.
const FIELDS: &[Field] = &[
    Field::required_line("name", 1, NAME_MAX)
        .create_doc("1–30 characters on one line, not only spaces.")
        .update_doc("1–30 characters on one line, not only spaces; never `null`.")
        .create_examples(&["와플스튜디오 웹팀"]),
    Field::new(
        "introduction",
        Rule::Text {
            min: 0,
            max: INTRODUCTION_MAX,
        },
    )
    .create_doc("At most 1000 characters; `null` or left out for none.")
    .update_doc("At most 1000 characters; `null` clears it."),
];

/// `POST /teams`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamCreateBody {
    pub name: String,
    #[serde(default)]
    pub introduction: Option<String>,
}

shared::body_schema!(
    TeamCreateBody,
    FIELDS,
    Mode::Create,
    "`POST /teams`. Team names need not be unique. Unknown fields are a 422.",
);

impl TeamCreateBody {
    /// The body's checked fields, or a 422 listing every bad one.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, Error> {
        input::parse(body, FIELDS, Mode::Create)
    }
}

/// `PATCH /teams/{id}`: a partial update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeamPatchBody {
    /// Never `null`: left out is `None`.
    pub name: Option<String>,
    pub introduction: Patch<String>,
}

shared::body_schema!(
    TeamPatchBody,
    FIELDS,
    Mode::Update,
    "`PATCH /teams/{id}`: a partial update. A field left out stays as it is; `null` clears \
     `introduction` (and is a 422 for `name`). Unknown fields are a 422.",
);

impl TeamPatchBody {
    /// The body's checked fields, or a 422 listing every bad one.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, Error> {
        input::parse(body, FIELDS, Mode::Update)
    }

    /// `row` with this update applied.
    pub fn apply(&self, row: &TeamRow) -> TeamRow {
        TeamRow {
            id: row.id,
            name: self.name.clone().unwrap_or_else(|| row.name.clone()),
            introduction: match &self.introduction {
                Patch::Absent => row.introduction.clone(),
                Patch::Clear => None,
                Patch::Set(text) => Some(text.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn a_thirty_character_korean_name_fits_and_thirty_one_do_not() {
        let fits = TeamCreateBody::parse(&object(json!({"name": "가".repeat(30)})));
        assert_eq!(fits.map(|b| b.name.chars().count()).ok(), Some(30));
        let long = TeamCreateBody::parse(&object(json!({"name": "가".repeat(31)})));
        assert!(matches!(long, Err(Error::Validation(_))));
    }

    #[test]
    fn a_patch_keeps_absent_fields_and_clears_null_ones() {
        let row = TeamRow {
            id: 1,
            name: "Old".into(),
            introduction: Some("intro".into()),
        };
        let keep = TeamPatchBody::parse(&object(json!({}))).map(|p| p.apply(&row));
        assert_eq!(keep.ok(), Some(row.clone()));
        let clear = TeamPatchBody::parse(&object(json!({"introduction": null, "name": "New"})))
            .map(|p| p.apply(&row));
        assert_eq!(
            clear.ok(),
            Some(TeamRow {
                id: 1,
                name: "New".into(),
                introduction: None,
            })
        );
        assert!(matches!(
            TeamPatchBody::parse(&object(json!({"name": null}))),
            Err(Error::Validation(_))
        ));
    }
}
