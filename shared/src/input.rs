//! Reading a small JSON object body field by field into checked values, collecting one
//! `FieldError` per bad field (FastAPI's 422 list), for bodies that need no parser of
//! their own (users have one: `crate::users::input`). Field rules are the users' ones
//! (`crate::users::fields`): lengths count characters.

use serde_json::{Map, Value};

pub use crate::users::fields::RuleError;
pub use crate::users::input::Patch;

use crate::error::{Error, FieldError};

/// A body being read. Every key the caller did not declare is a 422 `extra_forbidden`.
#[derive(Debug)]
pub struct Fields<'a> {
    body: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// Starts reading `body`, whose only allowed keys are `known`.
    pub fn new(body: &'a Map<String, Value>, known: &[&str]) -> Self {
        let errors = body
            .keys()
            .filter(|key| !known.contains(&key.as_str()))
            .map(|key| FieldError::body(key, "Extra inputs are not permitted", "extra_forbidden"))
            .collect();
        Self { body, errors }
    }

    /// A string that must be there: missing or `null` is a 422 `missing`. `None` when
    /// the field is bad (the error is recorded).
    pub fn required(
        &mut self,
        field: &str,
        rule: impl Fn(&str) -> Result<String, RuleError>,
    ) -> Option<String> {
        match self.body.get(field) {
            None | Some(Value::Null) => {
                self.errors
                    .push(FieldError::body(field, "Field required", "missing"));
                None
            }
            Some(value) => self.string(field, value, rule),
        }
    }

    /// A string that may be left out or be `null` (both `None`).
    pub fn optional(
        &mut self,
        field: &str,
        rule: impl Fn(&str) -> Result<String, RuleError>,
    ) -> Option<String> {
        match self.body.get(field) {
            None | Some(Value::Null) => None,
            Some(value) => self.string(field, value, rule),
        }
    }

    /// A string of a partial update: left out is `Absent`, `null` is `Clear` when
    /// `nullable`, else a 422 `null_not_allowed`. A bad value is recorded and `Absent`.
    pub fn patch(
        &mut self,
        field: &str,
        nullable: bool,
        rule: impl Fn(&str) -> Result<String, RuleError>,
    ) -> Patch<String> {
        match self.body.get(field) {
            None => Patch::Absent,
            Some(Value::Null) if nullable => Patch::Clear,
            Some(Value::Null) => {
                self.errors.push(FieldError::body(
                    field,
                    "Field may not be null",
                    "null_not_allowed",
                ));
                Patch::Absent
            }
            Some(value) => self
                .string(field, value, rule)
                .map_or(Patch::Absent, Patch::Set),
        }
    }

    /// `Ok` when every field read so far was good, else a 422 listing each bad one.
    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }

    /// `value` (built from what was read) when every field was good, else a 422 listing
    /// each bad one. `value` can only be `None` when a required field was bad.
    pub fn finish_with<T>(self, value: Option<T>) -> Result<T, Error> {
        self.finish()?;
        value.ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "a required field was neither read nor reported"
            ))
        })
    }

    fn string(
        &mut self,
        field: &str,
        value: &Value,
        rule: impl Fn(&str) -> Result<String, RuleError>,
    ) -> Option<String> {
        let Value::String(text) = value else {
            self.errors.push(FieldError::body(
                field,
                "Input should be a valid string",
                "string_type",
            ));
            return None;
        };
        match rule(text) {
            Ok(value) => Some(value),
            Err((msg, kind)) => {
                self.errors.push(FieldError::body(field, msg, kind));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::fields;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn locs(result: Result<(), Error>) -> Vec<Value> {
        match result {
            Err(Error::Validation(errors)) => {
                errors.into_iter().map(|e| Value::Array(e.loc)).collect()
            }
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_reported_once() {
        let body = object(json!({"name": 7, "introduction": "가".repeat(11), "extra": true}));
        let mut reader = Fields::new(&body, &["name", "introduction", "title"]);
        assert_eq!(reader.required("name", |v| fields::name(v, 1, 5)), None);
        assert_eq!(
            reader.optional("introduction", |v| fields::text(v, 0, 10)),
            None
        );
        assert_eq!(reader.required("title", |v| fields::name(v, 1, 5)), None);
        let mut locs = locs(reader.finish());
        locs.sort_by_key(Value::to_string);
        assert_eq!(
            locs,
            [
                json!(["body", "extra"]),
                json!(["body", "introduction"]),
                json!(["body", "name"]),
                json!(["body", "title"]),
            ]
        );
    }

    #[test]
    fn patches_keep_absent_null_and_set_apart() {
        let body = object(json!({"a": null, "b": "x", "c": null}));
        let mut reader = Fields::new(&body, &["a", "b", "c", "d"]);
        let rule = |v: &str| fields::text(v, 0, 5);
        assert_eq!(reader.patch("a", true, rule), Patch::Clear);
        assert_eq!(reader.patch("b", true, rule), Patch::Set("x".into()));
        assert_eq!(reader.patch("d", true, rule), Patch::Absent);
        assert_eq!(reader.patch("c", false, rule), Patch::Absent);
        assert_eq!(locs(reader.finish()), [json!(["body", "c"])]);
    }

    #[test]
    fn a_good_body_passes() {
        let body = object(json!({"name": "iOS"}));
        let mut reader = Fields::new(&body, &["name"]);
        assert_eq!(
            reader.required("name", |v| fields::name(v, 1, 50)),
            Some("iOS".into())
        );
        assert!(reader.finish().is_ok());
    }
}
