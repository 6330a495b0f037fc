//! What the teams API reads and writes: the request bodies, parsed into checked values,
//! and the views. Each type also describes itself in the OpenAPI document.

use serde::Serialize;
use serde_json::{Map, Value};
use shared::Error;
use shared::input::{Fields, Patch};
use shared::users::fields;
use utoipa::ToSchema;

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

/// `POST /teams`. Team names need not be unique. Unknown fields are a 422.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamCreateBody {
    /// 1–30 characters on one line, not only spaces.
    #[schema(min_length = 1, max_length = 30, examples("와플스튜디오 웹팀"))]
    pub name: String,
    /// At most 1000 characters; `null` or left out for none.
    #[schema(max_length = 1000)]
    pub introduction: Option<String>,
}

impl TeamCreateBody {
    /// The body's checked fields, or a 422 listing every bad one.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, Error> {
        let mut reader = Fields::new(body, &["name", "introduction"]);
        let name = reader.required("name", team_name);
        let introduction = reader.optional("introduction", introduction);
        reader.finish_with(name.map(|name| Self { name, introduction }))
    }
}

/// `PATCH /teams/{id}`: a partial update. A field left out stays as it is; `null`
/// clears `introduction` (and is a 422 for `name`). Unknown fields are a 422.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatchBody {
    /// 1–30 characters on one line, not only spaces; never `null`.
    #[schema(nullable = false, min_length = 1, max_length = 30)]
    pub name: Option<String>,
    /// At most 1000 characters; `null` clears it.
    #[schema(value_type = Option<String>, max_length = 1000)]
    pub introduction: Patch<String>,
}

impl TeamPatchBody {
    /// The body's checked fields, or a 422 listing every bad one.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, Error> {
        let mut reader = Fields::new(body, &["name", "introduction"]);
        let name = match reader.patch("name", false, team_name) {
            Patch::Set(name) => Some(name),
            Patch::Absent | Patch::Clear => None,
        };
        let introduction = reader.patch("introduction", true, introduction);
        reader.finish()?;
        Ok(Self { name, introduction })
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

fn team_name(value: &str) -> Result<String, fields::RuleError> {
    fields::name(value, 1, NAME_MAX)
}

fn introduction(value: &str) -> Result<String, fields::RuleError> {
    fields::text(value, 0, INTRODUCTION_MAX)
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
