//! A user's writable fields, parsed from a JSON body into values that already obey the
//! contract. `POST` and `PATCH` share the parser; `PATCH` keeps "absent" (unchanged) and
//! `null` (clear) apart.

use serde_json::{Map, Value};

use super::fields::{self, RuleError};
use crate::error::{Error, FieldError};

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsAccount {
    pub name: String,
    pub url: String,
}

/// Every writable field of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInput {
    pub username: Patch<String>,
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub image_url: Patch<String>,
    pub department: Patch<String>,
    pub college: Patch<String>,
    pub phone_number: Patch<String>,
    pub github_id: Patch<String>,
    pub github_email: Patch<String>,
    pub slack_email: Patch<String>,
    pub notion_email: Patch<String>,
    pub apple_email: Patch<String>,
    pub introduction: Patch<String>,
    pub generation: Patch<String>,
    /// Position names; resolved to ids when written.
    pub positions: Patch<Vec<String>>,
    pub sns_accounts: Patch<Vec<SnsAccount>>,
    pub slack_id: Patch<String>,
    pub sso_id: Patch<String>,
    pub is_rookie: Patch<bool>,
    pub is_member: Patch<bool>,
    pub is_active: Patch<bool>,
    pub is_admin: Patch<bool>,
}

/// Fields only an admin may write.
pub const ADMIN_ONLY: [&str; 6] = [
    "slack_id",
    "sso_id",
    "is_rookie",
    "is_member",
    "is_active",
    "is_admin",
];

/// At most this many `positions` entries as sent, repeats included: the limit bounds the
/// work of one request, so it counts what arrives, not what is left after deduplication.
pub const MAX_POSITIONS: usize = 20;

/// The organising team's position. API.md: it "is set by admins".
pub const ORGANISERS: &str = "운영팀";

/// A non-admin may neither add nor remove 운영팀. `before` and `after` are the user's
/// [`audit_state`](super::repo::audit_state) around the write (`Null` before a
/// registration): their names come from the database, so whatever spelling the
/// collation matched to 운영팀 is judged as 운영팀. The caller rolls back on the error.
pub fn guard_organisers(is_admin: bool, before: &Value, after: &Value) -> Result<(), Error> {
    let holds = |state: &Value| {
        state["positions"]
            .as_array()
            .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(ORGANISERS)))
    };
    if !is_admin && holds(before) != holds(after) {
        return Err(Error::Forbidden(format!(
            "only admins may add or remove the position {ORGANISERS}"
        )));
    }
    Ok(())
}

const REQUIRED_ON_CREATE: [&str; 3] = ["username", "first_name", "last_name"];

/// Fields that are never `NULL` in the table: `null` cannot clear them.
const NOT_NULLABLE: [&str; 7] = [
    "username",
    "first_name",
    "last_name",
    "is_rookie",
    "is_member",
    "is_active",
    "is_admin",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
}

/// The admin-only fields present in `body`, in the contract's order.
pub fn admin_only_fields(body: &Map<String, Value>) -> Vec<&'static str> {
    ADMIN_ONLY
        .into_iter()
        .filter(|f| body.contains_key(*f))
        .collect()
}

impl UserInput {
    /// Parses a JSON object, collecting every bad field rather than stopping at the first.
    pub fn parse(body: &Map<String, Value>, mode: Mode) -> Result<Self, Vec<FieldError>> {
        let mut p = Parser {
            body,
            mode,
            errors: Vec::new(),
        };
        let input = Self {
            username: p.string("username", fields::username),
            first_name: p.string("first_name", |v| fields::name(v, 1, 30)),
            last_name: p.string("last_name", |v| fields::name(v, 0, 30)),
            image_url: p.string("image_url", |v| fields::http_url(v, 200)),
            department: p.string("department", |v| fields::name(v, 0, 50)),
            college: p.string("college", |v| fields::name(v, 0, 50)),
            phone_number: p.string("phone_number", fields::phone_number),
            github_id: p.string("github_id", fields::github_login),
            github_email: p.string("github_email", fields::email),
            slack_email: p.string("slack_email", fields::email),
            notion_email: p.string("notion_email", fields::email),
            apple_email: p.string("apple_email", fields::email),
            introduction: p.string("introduction", |v| fields::text(v, 0, 1000)),
            generation: p.string("generation", fields::generation),
            positions: p.positions(),
            sns_accounts: p.sns_accounts(),
            slack_id: p.string("slack_id", |v| fields::name(v, 1, 50)),
            sso_id: p.string("sso_id", |v| fields::name(v, 1, 50)),
            is_rookie: p.boolean("is_rookie"),
            is_member: p.boolean("is_member"),
            is_active: p.boolean("is_active"),
            is_admin: p.boolean("is_admin"),
        };
        p.unknown_fields();
        if mode == Mode::Create {
            p.required();
        }
        if p.errors.is_empty() {
            Ok(input)
        } else {
            Err(p.errors)
        }
    }
}

const KNOWN: [&str; 22] = [
    "username",
    "first_name",
    "last_name",
    "image_url",
    "department",
    "college",
    "phone_number",
    "github_id",
    "github_email",
    "slack_email",
    "notion_email",
    "apple_email",
    "introduction",
    "generation",
    "positions",
    "sns_accounts",
    "slack_id",
    "sso_id",
    "is_rookie",
    "is_member",
    "is_active",
    "is_admin",
];

struct Parser<'a> {
    body: &'a Map<String, Value>,
    mode: Mode,
    errors: Vec<FieldError>,
}

impl<'a> Parser<'a> {
    fn fail(&mut self, field: &str, (msg, kind): RuleError) {
        self.errors.push(FieldError::body(field, msg, kind));
    }

    /// `Absent`/`Clear` for a missing or null field, `Set(value)` otherwise. A null on
    /// create is the same as absent; on update it clears, where the column allows it.
    fn lookup(&mut self, field: &str) -> Patch<&'a Value> {
        let body: &'a Map<String, Value> = self.body;
        match body.get(field) {
            None => Patch::Absent,
            Some(Value::Null) if self.mode == Mode::Create => Patch::Absent,
            Some(Value::Null) if NOT_NULLABLE.contains(&field) => {
                self.fail(field, ("Field may not be null".into(), "null_not_allowed"));
                Patch::Absent
            }
            Some(Value::Null) => Patch::Clear,
            Some(value) => Patch::Set(value),
        }
    }

    fn string(
        &mut self,
        field: &str,
        rule: impl Fn(&str) -> Result<String, RuleError>,
    ) -> Patch<String> {
        match self.lookup(field) {
            Patch::Absent => Patch::Absent,
            Patch::Clear => Patch::Clear,
            Patch::Set(Value::String(s)) => match rule(s) {
                Ok(value) => Patch::Set(value),
                Err(e) => {
                    self.fail(field, e);
                    Patch::Absent
                }
            },
            Patch::Set(_) => {
                self.fail(
                    field,
                    ("Input should be a valid string".into(), "string_type"),
                );
                Patch::Absent
            }
        }
    }

    fn boolean(&mut self, field: &str) -> Patch<bool> {
        match self.lookup(field) {
            Patch::Absent => Patch::Absent,
            Patch::Clear => Patch::Clear,
            Patch::Set(Value::Bool(b)) => Patch::Set(*b),
            Patch::Set(_) => {
                self.fail(
                    field,
                    ("Input should be a valid boolean".into(), "bool_type"),
                );
                Patch::Absent
            }
        }
    }

    fn positions(&mut self) -> Patch<Vec<String>> {
        let items = match self.lookup("positions") {
            Patch::Absent => return Patch::Absent,
            Patch::Clear => return Patch::Clear,
            Patch::Set(Value::Array(items)) => items,
            Patch::Set(_) => {
                self.fail(
                    "positions",
                    ("Input should be a valid list".into(), "list_type"),
                );
                return Patch::Absent;
            }
        };
        if items.len() > MAX_POSITIONS {
            self.fail(
                "positions",
                (
                    format!("List should have at most {MAX_POSITIONS} items"),
                    "too_long",
                ),
            );
            return Patch::Absent;
        }
        let mut names: Vec<String> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str().map(|s| fields::name(s, 1, 50)) {
                Some(Ok(name)) => {
                    if !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                        names.push(name);
                    }
                }
                Some(Err((msg, kind))) => {
                    self.errors
                        .push(FieldError::body_item("positions", i, msg, kind))
                }
                None => self.errors.push(FieldError::body_item(
                    "positions",
                    i,
                    "Input should be a valid string",
                    "string_type",
                )),
            }
        }
        Patch::Set(names)
    }

    fn sns_accounts(&mut self) -> Patch<Vec<SnsAccount>> {
        let items = match self.lookup("sns_accounts") {
            Patch::Absent => return Patch::Absent,
            Patch::Clear => return Patch::Clear,
            Patch::Set(Value::Array(items)) => items,
            Patch::Set(_) => {
                self.fail(
                    "sns_accounts",
                    ("Input should be a valid list".into(), "list_type"),
                );
                return Patch::Absent;
            }
        };
        if items.len() > 10 {
            self.fail(
                "sns_accounts",
                ("List should have at most 10 items".into(), "too_long"),
            );
            return Patch::Absent;
        }
        let mut accounts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Some(object) = item.as_object() else {
                self.errors.push(FieldError::body_item(
                    "sns_accounts",
                    i,
                    "Input should be an object with name and url",
                    "model_type",
                ));
                continue;
            };
            let mut item_errors = Vec::new();
            for key in object.keys().filter(|k| *k != "name" && *k != "url") {
                item_errors.push(FieldError::body_path(
                    &["sns_accounts".into(), i.into(), key.as_str().into()],
                    "Extra inputs are not permitted",
                    "extra_forbidden",
                ));
            }
            let mut get = |key: &str, rule: &dyn Fn(&str) -> Result<String, RuleError>| {
                let path = ["sns_accounts".into(), i.into(), key.into()];
                match object.get(key) {
                    None => {
                        item_errors.push(FieldError::body_path(&path, "Field required", "missing"));
                        None
                    }
                    Some(Value::String(s)) => match rule(s) {
                        Ok(v) => Some(v),
                        Err((msg, kind)) => {
                            item_errors.push(FieldError::body_path(&path, msg, kind));
                            None
                        }
                    },
                    Some(_) => {
                        item_errors.push(FieldError::body_path(
                            &path,
                            "Input should be a valid string",
                            "string_type",
                        ));
                        None
                    }
                }
            };
            let name = get("name", &|v| fields::name(v, 1, 30));
            let url = get("url", &|v| fields::http_url(v, 200));
            self.errors.extend(item_errors);
            if let (Some(name), Some(url)) = (name, url) {
                accounts.push(SnsAccount { name, url });
            }
        }
        Patch::Set(accounts)
    }

    fn unknown_fields(&mut self) {
        let unknown: Vec<String> = self
            .body
            .keys()
            .filter(|k| !KNOWN.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            self.fail(
                &key,
                ("Extra inputs are not permitted".into(), "extra_forbidden"),
            );
        }
    }

    fn required(&mut self) {
        for field in REQUIRED_ON_CREATE {
            if matches!(self.body.get(field), None | Some(Value::Null)) {
                self.fail(field, ("Field required".into(), "missing"));
            }
        }
    }
}
