//! The query string of `GET /users`: parsed, normalized (the cache's key) and turned
//! into the next page's path.

use shared::users::Filter;
use shared::{Error, FieldError};

pub const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: Filter,
    pub limit: Option<u32>,
    /// The last id of the previous page.
    pub cursor: Option<i32>,
}

impl ListQuery {
    /// Parses the query string; unknown parameters are ignored, bad values are a 422
    /// naming each one.
    pub fn parse(raw: Option<&str>) -> Result<Self, Error> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|_| Error::BadRequest("the query string is not valid".into()))?;
        let mut errors = Vec::new();
        let mut query = Self {
            filter: Filter::default(),
            limit: None,
            cursor: None,
        };
        for (name, value) in &pairs {
            match name.as_str() {
                "position" => query.filter.position = text(name, value, 50, &mut errors),
                "generation" => query.filter.generation = text(name, value, 30, &mut errors),
                "q" => query.filter.q = text(name, value, 100, &mut errors),
                "is_active" => query.filter.is_active = boolean(name, value, &mut errors),
                "is_member" => query.filter.is_member = boolean(name, value, &mut errors),
                "limit" => match value.parse::<u32>() {
                    Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => query.limit = Some(limit),
                    _ => errors.push(FieldError::query(
                        "limit",
                        format!("Input should be an integer from 1 to {MAX_LIMIT}"),
                        "int_parsing",
                    )),
                },
                "cursor" => match value.parse::<i32>() {
                    Ok(cursor) if cursor >= 0 => query.cursor = Some(cursor),
                    _ => errors.push(FieldError::query(
                        "cursor",
                        "Input should be a cursor from a Link header",
                        "value_error",
                    )),
                },
                _ => {}
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(query)
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

fn text(name: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    if value.chars().count() > max {
        errors.push(FieldError::query(
            name,
            format!("String should have at most {max} characters"),
            "string_too_long",
        ));
        return None;
    }
    Some(value.to_owned())
}

/// The spellings FastAPI accepts for a boolean query parameter.
fn boolean(name: &str, value: &str, errors: &mut Vec<FieldError>) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => {
            errors.push(FieldError::query(
                name,
                "Input should be a valid boolean",
                "bool_parsing",
            ));
            None
        }
    }
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
