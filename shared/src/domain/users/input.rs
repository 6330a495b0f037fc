//! A user's writable fields: the contract's table (docs/api.md, "Writable fields") as one
//! description, [`FIELDS`], and the values a body is parsed into. `POST` and `PATCH`
//! share it; `PATCH` keeps "absent" (unchanged) and `null` (clear) apart.

use serde::Deserialize;
use serde_json::{Map, Value};

pub use crate::platform::input::{Mode, Patch};

use crate::platform::error::Error;
use crate::platform::input::{self, Field, Item, Rule};

/// At most this many `positions` entries as sent, repeats included: the limit bounds the
/// work of one request, so it counts what arrives, not what is left after deduplication.
pub const MAX_POSITIONS: usize = 20;

/// The organising team's position as seeded. docs/api.md: it "is set by admins". The
/// rule follows the position's id (`organisers_position`, migration 0008), not this name:
/// see [`guard_organisers`].
pub const ORGANISERS: &str = "운영팀";

/// A flag only admins may set.
const fn admin_flag(name: &'static str) -> Field {
    Field::new(name, Rule::Bool)
        .not_null()
        .admin_only()
        .doc("Admin only.")
}

/// An entry of `positions`.
const POSITION_NAME: Item = Item {
    schema_name: "PositionName",
    rule: Rule::Line { min: 1, max: 50 },
    doc: "The name of an existing position, compared case-insensitively (an unknown name is a 422).",
    examples: &["백엔드"],
};

/// An entry of `sns_accounts`.
const SNS_ACCOUNT: Item = Item {
    schema_name: "SnsAccountBody",
    rule: Rule::Object(&[
        Field::required_line("name", 1, 30).examples(&["GitHub"]),
        Field::new("url", Rule::HttpUrl { max: 200 })
            .not_null()
            .required()
            .doc("An absolute `http` or `https` URL.")
            .examples(&["https://github.com/wafflestudio"]),
    ]),
    doc: "One SNS account; the list replaces the user's accounts.",
    examples: &[],
};

/// Every writable field of a user, in the contract's order.
pub const FIELDS: &[Field] = &[
    Field::new("username", Rule::Username)
        .not_null()
        .required()
        .doc("4–50 ASCII letters, digits, `_`, `-` and `.`; unique.")
        .create_examples(&["waffle"]),
    Field::required_line("first_name", 1, 30),
    Field::required_line("last_name", 0, 30),
    Field::new("image_url", Rule::HttpUrl { max: 200 }).doc("An absolute `http` or `https` URL."),
    Field::new("department", Rule::Line { min: 0, max: 50 }),
    Field::new("college", Rule::Line { min: 0, max: 50 }),
    Field::new("phone_number", Rule::PhoneNumber)
        .doc(
            "A Korean mobile number. `-` and spaces are dropped and a leading `+82` becomes \
             `0`; the result must match `^01[016789][0-9]{7,8}$` and is stored as digits.",
        )
        .examples(&["010-1234-5678"]),
    Field::new("github_id", Rule::GithubLogin)
        .doc("A GitHub login: 1–39 letters, digits and single inner hyphens."),
    Field::new("github_email", Rule::Email),
    Field::new("slack_email", Rule::Email),
    Field::new("notion_email", Rule::Email),
    Field::new("apple_email", Rule::Email),
    Field::new("introduction", Rule::Text { min: 0, max: 1000 }),
    Field::new("generation", Rule::Generation)
        .doc("One or two digits, optionally followed by `.5`.")
        .create_examples(&["19", "19.5"]),
    Field::new(
        "positions",
        Rule::List {
            max: MAX_POSITIONS,
            unique: true,
            item: &POSITION_NAME,
        },
    )
    .create_doc(
        "Names of existing positions (an unknown name is a 422), at most 20 as sent; 운영팀 \
         is set by admins only (403).",
    )
    .update_doc(
        "Names of existing positions (an unknown name is a 422), at most 20 as sent; 운영팀 \
         is set by admins only (403). Replaces the set.",
    ),
    Field::new(
        "sns_accounts",
        Rule::List {
            max: 10,
            unique: false,
            item: &SNS_ACCOUNT,
        },
    )
    .update_doc("Replaces the list."),
    Field::new("slack_id", Rule::Line { min: 1, max: 50 })
        .admin_only()
        .doc("Admin only. Unique: links a Slack-synced row to its Slack member."),
    Field::new("sso_id", Rule::Line { min: 1, max: 50 })
        .admin_only()
        .doc("Admin only. Unique: links a row to an SSO account."),
    admin_flag("is_rookie"),
    admin_flag("is_member"),
    admin_flag("is_active"),
    admin_flag("is_admin"),
];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SnsAccount {
    pub name: String,
    pub url: String,
}

/// Every writable field of a user, as [`FIELDS`] describes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
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

impl UserInput {
    /// Parses a JSON object, collecting every bad field rather than stopping at the
    /// first (a 422).
    pub fn parse(body: &Map<String, Value>, mode: Mode) -> Result<Self, Error> {
        input::parse(body, FIELDS, mode)
    }
}

/// A 403 naming the admin-only fields `body` sends, unless the caller `is_admin`.
pub fn refuse_admin_only(body: &Map<String, Value>, is_admin: bool) -> Result<(), Error> {
    let admin_fields = input::admin_only(body, FIELDS);
    if is_admin || admin_fields.is_empty() {
        return Ok(());
    }
    Err(Error::Forbidden(format!(
        "only admins may set {}",
        admin_fields.join(", ")
    )))
}

/// A non-admin may neither add nor remove the organisers' position (운영팀 as seeded).
/// `organisers` is its name now, read by its id in the same transaction
/// ([`organisers_name`](super::repo::organisers_name)), so a renamed 운영팀 is still
/// guarded and a new position called 운영팀 is not; `None` when it was deleted. `before`
/// and `after` are the user's [`audit_state`](super::repo::audit_state) around the write
/// (`Null` before a registration), whose names come from the same database. The caller
/// rolls back on the error.
pub fn guard_organisers(
    is_admin: bool,
    organisers: Option<&str>,
    before: &Value,
    after: &Value,
) -> Result<(), Error> {
    let Some(organisers) = organisers.filter(|_| !is_admin) else {
        return Ok(());
    };
    let holds = |state: &Value| {
        state["positions"]
            .as_array()
            .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(organisers)))
    };
    if holds(before) != holds(after) {
        return Err(Error::Forbidden(format!(
            "only admins may add or remove the position {organisers}"
        )));
    }
    Ok(())
}
