//! Request input, read against one declarative description per resource.
//!
//! A resource lists its writable fields once, as [`Field`]s (name, rule, nullable,
//! admin-only, required on create). That list drives everything about its bodies:
//! [`parse`] reads a body with it (unknown fields, `null`s, missing fields, every rule,
//! one FastAPI-style error per bad field), [`admin_only`] names the fields only admins
//! may send, and [`schema`] writes the body's OpenAPI schema. Rules count characters.
//!
//! Query strings have their reader beside it, [`query::read`].

mod body;
mod field;
pub mod query;
pub mod rules;
pub mod schema;

use serde::{Deserialize, Deserializer};

pub use body::{admin_only, parse, read};
pub use field::{Field, Item, Rule};
pub use rules::RuleError;

/// How a body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A new resource: required fields must be there; `null` is the same as absent.
    Create,
    /// A partial update: absent fields stay, `null` clears a nullable field and is a
    /// 422 for the others.
    Update,
}

/// One field of a partial update.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    /// Not in the body: leave the stored value alone.
    #[default]
    Absent,
    /// `null`: clear the stored value.
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::Absent)
    }

    /// The value to store, when the field is present: `Some(None)` clears.
    pub fn as_update(&self) -> Option<Option<&T>> {
        match self {
            Self::Absent => None,
            Self::Clear => Some(None),
            Self::Set(v) => Some(Some(v)),
        }
    }
}

/// `null` is `Clear`, a value is `Set`; a field left out is `Absent` through
/// `#[serde(default)]`.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(deserializer)?.map_or(Self::Clear, Self::Set))
    }
}
