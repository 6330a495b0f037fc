//! The query string of `GET /audit-logs`: the filters, the page size and the cursor.

use std::fmt;

use shared::Error;
use shared::domain::audit::Entity;
use shared::platform::input::{RuleError, query};

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
/// The width of the `actor` and `entity_id` columns.
const MAX_TEXT: usize = 64;

/// What an entry must match; absent filters match everything, present ones combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub entity: Option<Entity>,
    pub entity_id: Option<String>,
    pub actor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: Filter,
    pub limit: u32,
    /// `None` for the first page.
    pub cursor: Option<Cursor>,
}

/// Where a page starts: below the id of the previous page's last entry. Ids only grow,
/// so entries appended while a client pages are never in a later page, and none is
/// skipped. Clients get it as `next_cursor` and send it back as is; it happens to be
/// that id in decimal, which nobody outside this module relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    below: i64,
}

impl Cursor {
    /// The cursor of the page after the one that ends with entry `id`.
    pub fn after(id: i64) -> Self {
        Self { below: id }
    }

    /// Entries of the page have ids below this.
    pub fn below(self) -> i64 {
        self.below
    }

    /// A cursor this module wrote: a positive decimal id, digits only.
    fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Self::after)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.below)
    }
}

impl ListQuery {
    /// Parses the query string as `shared::platform::input::query::read` reads one (a repeated
    /// parameter counts once, with its last value, as FastAPI does); bad values are a
    /// 422 naming each. `entity_id` and `actor` are 1 to 64 characters: longer ones fit
    /// no column value, and an empty one is more likely a client's mistake than a wish
    /// to match nothing.
    pub fn parse(raw: Option<&str>) -> Result<Self, Error> {
        let mut parsed = Self {
            filter: Filter::default(),
            limit: DEFAULT_LIMIT,
            cursor: None,
        };
        query::read(raw, |name, value| {
            let filter = &mut parsed.filter;
            match name {
                "entity" => filter.entity = Some(entity(value)?),
                "entity_id" => filter.entity_id = Some(query::text(value, 1, MAX_TEXT)?),
                "actor" => filter.actor = Some(query::text(value, 1, MAX_TEXT)?),
                "limit" => parsed.limit = query::limit(value, MAX_LIMIT)?,
                "cursor" => {
                    parsed.cursor = Some(Cursor::parse(value).ok_or_else(|| {
                        (
                            "Input should be the next_cursor of a previous page".to_owned(),
                            "value_error",
                        )
                    })?)
                }
                _ => {}
            }
            Ok(())
        })?;
        Ok(parsed)
    }
}

fn entity(value: &str) -> Result<Entity, RuleError> {
    Entity::parse(value).ok_or_else(|| (format!("Input should be {}", entity_names()), "enum"))
}

/// `'user', 'position', 'team' or 'team_member'`, as pydantic words an enum error.
fn entity_names() -> String {
    let names: Vec<String> = Entity::ALL
        .iter()
        .map(|e| format!("'{}'", e.as_str()))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locs(raw: &str) -> Vec<String> {
        match ListQuery::parse(Some(raw)) {
            Err(Error::Validation(errors)) => errors
                .iter()
                .map(|e| e.loc[1].as_str().unwrap_or_default().to_owned())
                .collect(),
            other => panic!("expected a 422 for {raw:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_filters() {
        let query = ListQuery::parse(None).unwrap();
        assert_eq!(query.limit, DEFAULT_LIMIT);
        assert_eq!(query.cursor, None);
        assert_eq!(query.filter, Filter::default());

        let query = ListQuery::parse(Some(
            "entity=team_member&entity_id=3%3A7&actor=slack-sync&limit=1000&cursor=42&other=x",
        ))
        .unwrap();
        assert_eq!(
            query.filter,
            Filter {
                entity: Some(Entity::TeamMember),
                entity_id: Some("3:7".into()),
                actor: Some("slack-sync".into()),
            }
        );
        assert_eq!(query.limit, 1000);
        assert_eq!(query.cursor.map(Cursor::below), Some(42));
    }

    #[test]
    fn cursors_round_trip_and_nothing_else_passes() {
        let cursor = Cursor::after(9_007_199_254_740_993);
        assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
        for bad in [
            "",
            "0",
            "-1",
            "+5",
            " 5",
            "1e3",
            "abc",
            "99999999999999999999",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bad_parameters_are_each_named() {
        assert_eq!(
            locs("limit=0&entity=users&cursor=x&actor=&entity_id="),
            ["limit", "entity", "cursor", "actor", "entity_id"]
        );
        assert_eq!(locs("limit=1001"), ["limit"]);
        assert_eq!(locs("limit=ten"), ["limit"]);
        assert_eq!(locs(&format!("actor={}", "가".repeat(65))), ["actor"]);
        assert!(ListQuery::parse(Some(&format!("actor={}", "가".repeat(64)))).is_ok());
    }

    #[test]
    fn the_entity_error_lists_the_names() {
        let Err(Error::Validation(errors)) = ListQuery::parse(Some("entity=User")) else {
            panic!("names are exact");
        };
        assert_eq!(
            errors[0].msg,
            "Input should be 'user', 'position', 'team' or 'team_member'"
        );
    }
}
