//! The OpenAPI schema of a body, written from its fields' description: the same
//! limits the reader enforces. A body type gets its `ToSchema` from
//! [`body_schema!`](crate::body_schema).

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};

use super::{Field, Item, Mode, Rule};

/// Implements `utoipa::ToSchema` for `$type` as the body `$fields` describe in `$mode`,
/// with the description `$doc`. Create bodies leave the admin-only fields out (sending
/// one is a 403) and require the required ones; update bodies require none.
#[macro_export]
macro_rules! body_schema {
    ($type:ty, $fields:expr, $mode:expr, $doc:expr $(,)?) => {
        impl utoipa::PartialSchema for $type {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::platform::input::schema::body($fields, $mode, $doc)
            }
        }

        impl utoipa::ToSchema for $type {
            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                $crate::platform::input::schema::list_items($fields, schemas);
            }
        }
    };
}

/// The schema of a body of `fields` in `mode`.
pub fn body(fields: &[Field], mode: Mode, doc: &str) -> RefOr<Schema> {
    object(fields, mode, Some(doc)).into()
}

/// The named schemas of the entries of `fields`' lists, for `ToSchema::schemas`.
pub fn list_items(fields: &[Field], schemas: &mut Vec<(String, RefOr<Schema>)>) {
    for field in fields {
        if let Rule::List { item, .. } = field.rule {
            schemas.push((item.schema_name.into(), item_schema(item)));
            if let Rule::Object(fields) = item.rule {
                list_items(fields, schemas);
            }
        }
    }
}

fn object(fields: &[Field], mode: Mode, doc: Option<&str>) -> ObjectBuilder {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(doc)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for field in fields {
        let (nullable, doc, examples) = match mode {
            Mode::Create if field.admin_only => continue,
            Mode::Create if field.required => {
                object = object.required(field.name);
                (false, field.create_doc, field.create_examples)
            }
            Mode::Create => (true, field.create_doc, field.create_examples),
            Mode::Update => (field.nullable, field.update_doc, field.update_examples),
        };
        object = object.property(field.name, value(&field.rule, nullable, doc, examples));
    }
    object
}

fn item_schema(item: &Item) -> RefOr<Schema> {
    value(&item.rule, false, Some(item.doc), item.examples)
}

/// The schema of a value of `rule`; `nullable` adds `null` to its type.
fn value(rule: &Rule, nullable: bool, doc: Option<&str>, examples: &[&str]) -> RefOr<Schema> {
    let types = |base: Type| -> SchemaType {
        if nullable {
            [base, Type::Null].into_iter().collect()
        } else {
            base.into()
        }
    };
    let (min, max, pattern, format) = match *rule {
        Rule::Text { min, max } | Rule::Line { min, max } => (min, Some(max), None, None),
        Rule::Username => (4, Some(50), Some(r"^[A-Za-z0-9_.-]+$"), None),
        Rule::HttpUrl { max } => (
            0,
            Some(max),
            Some("^https?://"),
            Some(SchemaFormat::Custom("uri".into())),
        ),
        Rule::PhoneNumber => (0, None, None, None),
        Rule::GithubLogin => (1, Some(39), Some("^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$"), None),
        Rule::Email => (
            0,
            Some(50),
            None,
            Some(SchemaFormat::KnownFormat(KnownFormat::Email)),
        ),
        Rule::Generation => (0, None, Some(r"^[0-9]{1,2}(\.5)?$"), None),
        Rule::Bool => {
            return ObjectBuilder::new()
                .schema_type(types(Type::Boolean))
                .description(doc)
                .into();
        }
        Rule::List { max, item, .. } => {
            return ArrayBuilder::new()
                .schema_type(types(Type::Array))
                .items(Ref::from_schema_name(item.schema_name))
                .max_items(Some(max))
                .description(doc)
                .into();
        }
        Rule::Object(fields) => return object(fields, Mode::Create, doc).into(),
    };
    ObjectBuilder::new()
        .schema_type(types(Type::String))
        .format(format)
        .min_length((min > 0).then_some(min))
        .max_length(max)
        .pattern(pattern)
        .description(doc)
        .examples(examples.iter().copied())
        .into()
}
