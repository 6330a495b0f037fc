//! What the positions API reads and writes: the request body, parsed into a checked
//! value, and the views. Each type also describes itself in the OpenAPI document.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use shared::Error;
use shared::domain::admin_write::Audited;
use shared::platform::input::{self, Field, Mode};
use utoipa::ToSchema;

/// The longest position name, in characters (the column is `VARCHAR(50)`).
pub const NAME_MAX: usize = 50;

/// A position and how many users hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, ToSchema)]
pub struct PositionSummary {
    pub id: i32,
    #[schema(examples("백엔드"))]
    pub name: String,
    /// How many users hold the position.
    pub user_count: i64,
}

/// `GET /positions`: every position, in id order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PositionList {
    pub items: Vec<PositionSummary>,
}

/// A position as created or renamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, ToSchema)]
pub struct Position {
    pub id: i32,
    #[schema(examples("백엔드"))]
    pub name: String,
}

/// The audit log records a position's name.
impl Audited for Position {
    fn audit_state(&self) -> Value {
        json!({ "name": self.name })
    }
}

/// The body of `POST /positions` and `PATCH /positions/{id}`: the position's name.
const FIELDS: &[Field] = &[Field::required_line("name", 1, NAME_MAX)
    .doc("1–50 characters on one line, not only spaces.")
    .create_examples(&["데브옵스"])];

/// `POST /positions` and `PATCH /positions/{id}`: the position's name. Both read it as a
/// create: the name is required.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionBody {
    pub name: String,
}

shared::body_schema!(
    PositionBody,
    FIELDS,
    Mode::Create,
    "`POST /positions` and `PATCH /positions/{id}`: the position's name. Names are unique, \
     compared case-insensitively (`iOS` and `IOS` are one name). Unknown fields are a 422.",
);

impl PositionBody {
    /// The body's checked name, or a 422 listing every bad field.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, Error> {
        input::parse(body, FIELDS, Mode::Create)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<PositionBody, Error> {
        match body {
            Value::Object(map) => PositionBody::parse(&map),
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn names_count_characters() {
        let fifty = "가".repeat(50);
        assert_eq!(
            parse(json!({"name": fifty})).ok(),
            Some(PositionBody { name: fifty })
        );
        assert!(matches!(
            parse(json!({"name": "가".repeat(51)})),
            Err(Error::Validation(_))
        ));
    }

    #[test]
    fn blank_missing_and_mistyped_names_are_refused() {
        for body in [
            json!({}),
            json!({"name": null}),
            json!({"name": ""}),
            json!({"name": "   "}),
            json!({"name": 3}),
            json!({"name": "a\nb"}),
            json!({"name": "ok", "extra": 1}),
        ] {
            assert!(
                matches!(parse(body.clone()), Err(Error::Validation(_))),
                "{body}"
            );
        }
    }
}
