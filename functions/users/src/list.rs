//! The query string of `GET /users`, its next-page link, and its ETag.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::users::Filter;
use shared::{Error, FieldError};

pub const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: Filter,
    pub limit: Option<u32>,
    /// The last id of the previous page.
    pub cursor: Option<i32>,
    /// Every pair as sent, to rebuild the next page's URL.
    pairs: Vec<(String, String)>,
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
            pairs: Vec::new(),
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
        query.pairs = pairs;
        Ok(query)
    }

    /// The URL of the page after `last_id`: the same query with a new cursor.
    pub fn next_link(&self, last_id: i32) -> String {
        let mut pairs: Vec<(&str, String)> = self
            .pairs
            .iter()
            .filter(|(name, _)| name != "cursor")
            .map(|(name, value)| (name.as_str(), value.clone()))
            .collect();
        pairs.push(("cursor", last_id.to_string()));
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("</api/v1/users?{query}>; rel=\"next\"")
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

/// A JSON answer with a strong ETag of its bytes; `304 Not Modified` when the caller's
/// `If-None-Match` already names it.
pub fn cached_json(body: Vec<u8>, request: &HeaderMap) -> Response {
    let tag = format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(&body));
    let matches = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*");
    let etag = HeaderValue::from_str(&tag).ok();
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    };
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_keeps_the_filters_and_replaces_the_cursor() {
        let query = ListQuery::parse(Some(
            "position=%EB%B0%B1%EC%97%94%EB%93%9C&limit=2&cursor=5",
        ))
        .unwrap();
        assert_eq!(
            query.next_link(9),
            "</api/v1/users?position=%EB%B0%B1%EC%97%94%EB%93%9C&limit=2&cursor=9>; rel=\"next\""
        );
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
