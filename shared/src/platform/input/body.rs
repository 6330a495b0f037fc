//! Reading a JSON object body as its resource's fields describe it.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Field, Mode, Rule};
use crate::platform::error::{Error, FieldError};

/// Reads `body` with `fields` in `mode` into the type that holds the checked values
/// (a struct with the fields' names, `#[serde(default)]`, its update fields
/// [`Patch`](super::Patch)es), or a 422 listing every bad field.
pub fn parse<T: DeserializeOwned>(
    body: &Map<String, Value>,
    fields: &[Field],
    mode: Mode,
) -> Result<T, Error> {
    let values = read(body, fields, mode).map_err(Error::Validation)?;
    serde_json::from_value(Value::Object(values)).map_err(|error| {
        Error::Internal(anyhow::anyhow!(
            "a checked body does not fit its type: {error}"
        ))
    })
}

/// Reads `body` with `fields` in `mode`: the checked values of the fields it sends
/// (normalized as their rules say; `null` for a field an update clears), or one error
/// per bad field: unknown fields first, then the fields in their listed order.
pub fn read(
    body: &Map<String, Value>,
    fields: &[Field],
    mode: Mode,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let reading = match mode {
        Mode::Create => Reading::Create,
        Mode::Update => Reading::Update,
    };
    let mut reader = Reader { errors: Vec::new() };
    let values = reader.object(&[], body, fields, reading);
    if reader.errors.is_empty() {
        Ok(values)
    } else {
        Err(reader.errors)
    }
}

/// The admin-only fields that `body` sends, in the listed order.
pub fn admin_only(body: &Map<String, Value>, fields: &[Field]) -> Vec<&'static str> {
    fields
        .iter()
        .filter(|field| field.admin_only && body.contains_key(field.name))
        .map(|field| field.name)
        .collect()
}

/// What a `null` means where it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The same as leaving the field out.
    Create,
    /// Clear the field, where it is nullable.
    Update,
    /// Nothing special: a value of the wrong type (the fields of a list entry).
    Entry,
}

struct Reader {
    errors: Vec<FieldError>,
}

impl Reader {
    fn fail(&mut self, path: &[Value], msg: impl Into<String>, kind: &str) {
        self.errors.push(FieldError::body_path(path, msg, kind));
    }

    fn object(
        &mut self,
        path: &[Value],
        body: &Map<String, Value>,
        fields: &[Field],
        reading: Reading,
    ) -> Map<String, Value> {
        for key in body.keys() {
            if !fields.iter().any(|field| field.name == key) {
                let at = [path, &[key.as_str().into()]].concat();
                self.fail(&at, "Extra inputs are not permitted", "extra_forbidden");
            }
        }
        let mut values = Map::new();
        for field in fields {
            let at = [path, &[field.name.into()]].concat();
            match (body.get(field.name), reading) {
                (None, _) | (Some(Value::Null), Reading::Create) => {
                    if field.required && reading != Reading::Update {
                        self.fail(&at, "Field required", "missing");
                    }
                }
                (Some(Value::Null), Reading::Update) if field.nullable => {
                    values.insert(field.name.into(), Value::Null);
                }
                (Some(Value::Null), Reading::Update) => {
                    self.fail(&at, "Field may not be null", "null_not_allowed");
                }
                (Some(value), _) => {
                    if let Some(value) = self.value(&at, value, &field.rule) {
                        values.insert(field.name.into(), value);
                    }
                }
            }
        }
        values
    }

    /// `value` checked against `rule`, or `None` with the errors recorded.
    fn value(&mut self, path: &[Value], value: &Value, rule: &Rule) -> Option<Value> {
        match (rule, value) {
            (Rule::Bool, Value::Bool(_)) => Some(value.clone()),
            (Rule::Bool, _) => {
                self.fail(path, "Input should be a valid boolean", "bool_type");
                None
            }
            (Rule::List { max, unique, item }, _) => self.list(path, value, *max, *unique, item),
            (Rule::Object(fields), Value::Object(object)) => {
                let before = self.errors.len();
                let values = self.object(path, object, fields, Reading::Entry);
                (self.errors.len() == before).then_some(Value::Object(values))
            }
            (Rule::Object(fields), _) => {
                let names: Vec<&str> = fields.iter().map(|field| field.name).collect();
                let names = match names.split_last() {
                    Some((last, [])) => (*last).to_owned(),
                    Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                    None => String::new(),
                };
                self.fail(
                    path,
                    format!("Input should be an object with {names}"),
                    "model_type",
                );
                None
            }
            (_, Value::String(text)) => match rule.check_text(text)? {
                Ok(value) => Some(Value::String(value)),
                Err((msg, kind)) => {
                    self.fail(path, msg, kind);
                    None
                }
            },
            _ => {
                self.fail(path, "Input should be a valid string", "string_type");
                None
            }
        }
    }

    fn list(
        &mut self,
        path: &[Value],
        value: &Value,
        max: usize,
        unique: bool,
        item: &super::Item,
    ) -> Option<Value> {
        let Value::Array(entries) = value else {
            self.fail(path, "Input should be a valid list", "list_type");
            return None;
        };
        if entries.len() > max {
            self.fail(
                path,
                format!("List should have at most {max} items"),
                "too_long",
            );
            return None;
        }
        let mut values: Vec<Value> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let at = [path, &[i.into()]].concat();
            let Some(value) = self.value(&at, entry, &item.rule) else {
                continue;
            };
            let repeated = unique
                && values.iter().any(|seen| match (seen, &value) {
                    (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                    (a, b) => a == b,
                });
            if !repeated {
                values.push(value);
            }
        }
        Some(Value::Array(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::input::{Item, Patch};
    use serde::Deserialize;
    use serde_json::json;

    const ENTRY: Item = Item {
        schema_name: "Entry",
        rule: Rule::Object(&[
            Field::new("name", Rule::Line { min: 1, max: 5 }).required(),
            Field::new("url", Rule::HttpUrl { max: 200 }).required(),
        ]),
        doc: "An entry.",
        examples: &[],
    };
    const TAG: Item = Item {
        schema_name: "Tag",
        rule: Rule::Line { min: 1, max: 5 },
        doc: "A tag.",
        examples: &[],
    };
    const FIELDS: &[Field] = &[
        Field::new("name", Rule::Line { min: 1, max: 5 })
            .not_null()
            .required(),
        Field::new("introduction", Rule::Text { min: 0, max: 10 }),
        Field::new("flag", Rule::Bool).not_null().admin_only(),
        Field::new(
            "tags",
            Rule::List {
                max: 3,
                unique: true,
                item: &TAG,
            },
        ),
        Field::new(
            "entries",
            Rule::List {
                max: 3,
                unique: false,
                item: &ENTRY,
            },
        ),
    ];

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Body {
        name: Option<String>,
        introduction: Patch<String>,
        flag: Patch<bool>,
        tags: Patch<Vec<String>>,
        entries: Patch<Vec<Value>>,
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn locs(body: Value, mode: Mode) -> Vec<Value> {
        match read(&object(body), FIELDS, mode) {
            Err(errors) => errors.into_iter().map(|e| Value::Array(e.loc)).collect(),
            Ok(values) => panic!("expected errors, read {values:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_reported_once_unknown_ones_first() {
        let body = json!({"name": 7, "introduction": "가".repeat(11), "extra": true});
        assert_eq!(
            locs(body, Mode::Create),
            [
                json!(["body", "extra"]),
                json!(["body", "name"]),
                json!(["body", "introduction"]),
            ]
        );
        assert_eq!(
            locs(json!({"name": null}), Mode::Create),
            [json!(["body", "name"])]
        );
    }

    #[test]
    fn updates_keep_absent_null_and_set_apart() {
        let body = object(json!({"introduction": null, "tags": ["a", "A", "b"]}));
        let parsed: Body = parse(&body, FIELDS, Mode::Update).unwrap();
        assert_eq!(
            parsed,
            Body {
                introduction: Patch::Clear,
                tags: Patch::Set(vec!["a".into(), "b".into()]),
                ..Body::default()
            }
        );
        assert_eq!(
            locs(json!({"name": null, "flag": null}), Mode::Update),
            [json!(["body", "name"]), json!(["body", "flag"])]
        );
    }

    #[test]
    fn list_entries_are_read_where_they_stand() {
        let body = json!({"name": "ok", "tags": ["a", 3], "entries": [
            {"name": "x", "url": "https://x.org"},
            {"name": null, "extra": 1},
            "no",
        ]});
        assert_eq!(
            locs(body, Mode::Create),
            [
                json!(["body", "tags", 1]),
                json!(["body", "entries", 1, "extra"]),
                json!(["body", "entries", 1, "name"]),
                json!(["body", "entries", 1, "url"]),
                json!(["body", "entries", 2]),
            ]
        );
        assert_eq!(
            locs(json!({"name": "ok", "tags": [1, 2, 3, 4]}), Mode::Create),
            [json!(["body", "tags"])]
        );
    }

    #[test]
    fn admin_only_fields_are_named() {
        let body = object(json!({"flag": true, "name": "x"}));
        assert_eq!(admin_only(&body, FIELDS), ["flag"]);
    }
}
