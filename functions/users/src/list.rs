//! The query string of `GET /users`: parsed, normalized (the cache's key) and turned
//! into the next page's path.

use shared::Error;
use shared::domain::users::Filter;
use shared::platform::input::{RuleError, query};

pub const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: Filter,
    pub limit: Option<u32>,
    /// The last id of the previous page.
    pub cursor: Option<i32>,
}

impl ListQuery {
    /// Parses the query string as `shared::platform::input::query::read` reads one; bad values are
    /// a 422 naming each one.
    pub fn parse(raw: Option<&str>) -> Result<Self, Error> {
        let mut parsed = Self {
            filter: Filter::default(),
            limit: None,
            cursor: None,
        };
        query::read(raw, |name, value| {
            let filter = &mut parsed.filter;
            match name {
                "position" => filter.position = Some(query::text(value, 0, 50)?),
                "generation" => filter.generation = Some(query::text(value, 0, 30)?),
                "q" => filter.q = Some(query::text(value, 0, 100)?),
                "is_active" => filter.is_active = Some(query::boolean(value)?),
                "is_member" => filter.is_member = Some(query::boolean(value)?),
                "limit" => parsed.limit = Some(limit(value)?),
                "cursor" => parsed.cursor = Some(cursor(value)?),
                _ => {}
            }
            Ok(())
        })?;
        Ok(parsed)
    }

    /// The parameters that decide the answer, in a fixed order and spelling: queries
    /// that differ only in order, repeats, unknown parameters or the spelling of a
    /// boolean share one cache entry.
    pub fn key(&self) -> String {
        self.encode(self.cursor)
    }

    /// The path of the page after `last_id`: the same query with a new cursor. The
    /// scheme and host are the caller's, added per request (see `cache::Answer`).
    pub fn next_path(&self, last_id: i32) -> String {
        format!("/api/v1/users?{}", self.encode(Some(last_id)))
    }

    fn encode(&self, cursor: Option<i32>) -> String {
        let filter = &self.filter;
        let pairs: Vec<(&str, String)> = [
            ("position", filter.position.clone()),
            ("generation", filter.generation.clone()),
            ("is_active", filter.is_active.map(|b| b.to_string())),
            ("is_member", filter.is_member.map(|b| b.to_string())),
            ("q", filter.q.clone()),
            ("limit", self.limit.map(|l| l.to_string())),
            ("cursor", cursor.map(|c| c.to_string())),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

fn limit(value: &str) -> Result<u32, RuleError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .ok_or_else(|| {
            (
                format!("Input should be an integer from 1 to {MAX_LIMIT}"),
                "int_parsing",
            )
        })
}

fn cursor(value: &str) -> Result<i32, RuleError> {
    value
        .parse::<i32>()
        .ok()
        .filter(|cursor| *cursor >= 0)
        .ok_or_else(|| {
            (
                "Input should be a cursor from a Link header".into(),
                "value_error",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_path_keeps_the_filters_and_replaces_the_cursor() {
        let query = ListQuery::parse(Some(
            "limit=2&position=%EB%B0%B1%EC%97%94%EB%93%9C&cursor=5&utm=x",
        ))
        .unwrap();
        assert_eq!(
            query.next_path(9),
            "/api/v1/users?position=%EB%B0%B1%EC%97%94%EB%93%9C&limit=2&cursor=9"
        );
    }

    #[test]
    fn equivalent_queries_share_a_key() {
        let a = ListQuery::parse(Some("is_active=1&limit=5&x=y")).unwrap();
        let b = ListQuery::parse(Some("limit=5&is_active=true")).unwrap();
        let c = ListQuery::parse(Some("limit=5&is_active=false")).unwrap();
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        assert_eq!(a.key(), "is_active=true&limit=5");
    }

    #[test]
    fn bad_parameters_are_each_named() {
        let Err(Error::Validation(errors)) =
            ListQuery::parse(Some("limit=0&is_active=maybe&cursor=x"))
        else {
            panic!("expected a 422");
        };
        let names: Vec<_> = errors.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(names, ["limit", "is_active", "cursor"]);
    }
}
