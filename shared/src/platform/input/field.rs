//! The description of a writable field: what the contract says of it, once.

use super::rules::{self, RuleError};

/// One writable field of a resource. Built with `const` methods, so that a resource's
/// fields are a `const` list:
///
/// ```
/// use shared::platform::input::{Field, Rule};
/// const FIELDS: &[Field] = &[
///     Field::required_line("name", 1, 30),
///     Field::new("introduction", Rule::Text { min: 0, max: 1000 }),
/// ];
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub rule: Rule,
    /// `null` clears it in an update (else a 422).
    pub nullable: bool,
    /// Only admins may send it (the handler answers 403 to anyone else).
    pub admin_only: bool,
    /// A create must send it.
    pub required: bool,
    /// What the OpenAPI document says of it in a create body and in an update body.
    pub create_doc: Option<&'static str>,
    pub update_doc: Option<&'static str>,
    pub create_examples: &'static [&'static str],
    pub update_examples: &'static [&'static str],
}

/// What a field's value must be. The string rules are those of [`rules`](super::rules).
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// `min..=max` characters; line breaks and tabs allowed, other control characters not.
    Text {
        min: usize,
        max: usize,
    },
    /// One line of `min..=max` characters, not only spaces.
    Line {
        min: usize,
        max: usize,
    },
    /// 4–50 ASCII letters, digits, `_`, `-` and `.`.
    Username,
    /// An absolute `http` or `https` URL of at most `max` characters.
    HttpUrl {
        max: usize,
    },
    /// A Korean mobile number, stored as digits.
    PhoneNumber,
    /// A GitHub login.
    GithubLogin,
    /// An e-mail address of at most 50 characters.
    Email,
    /// A generation: `19` or `19.5`.
    Generation,
    Bool,
    /// A list of at most `max` entries as sent, each read by `item`. With `unique`,
    /// entries equal but for ASCII case count once (the first one stays).
    List {
        max: usize,
        unique: bool,
        item: &'static Item,
    },
    /// An object of these fields: a list entry. There `null` is a value of the wrong
    /// type, not an absent one.
    Object(&'static [Field]),
}

/// The entries of a list: their rule, and the schema that names them in the OpenAPI
/// document.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub schema_name: &'static str,
    pub rule: Rule,
    pub doc: &'static str,
    pub examples: &'static [&'static str],
}

impl Field {
    /// A field that may be left out, and that `null` clears.
    pub const fn new(name: &'static str, rule: Rule) -> Self {
        Self {
            name,
            rule,
            nullable: true,
            admin_only: false,
            required: false,
            create_doc: None,
            update_doc: None,
            create_examples: &[],
            update_examples: &[],
        }
    }

    /// One line of `min..=max` characters that a create must carry and `null` cannot
    /// clear: a name (of a position, a team, an SNS account, a user).
    pub const fn required_line(name: &'static str, min: usize, max: usize) -> Self {
        Self::new(name, Rule::Line { min, max })
            .not_null()
            .required()
    }

    /// `null` cannot clear it (the column is `NOT NULL`).
    pub const fn not_null(mut self) -> Self {
        self.nullable = false;
        self
    }

    pub const fn admin_only(mut self) -> Self {
        self.admin_only = true;
        self
    }

    /// Required on create.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The description in both bodies.
    pub const fn doc(self, text: &'static str) -> Self {
        self.create_doc(text).update_doc(text)
    }

    pub const fn create_doc(mut self, text: &'static str) -> Self {
        self.create_doc = Some(text);
        self
    }

    pub const fn update_doc(mut self, text: &'static str) -> Self {
        self.update_doc = Some(text);
        self
    }

    /// Examples in both bodies.
    pub const fn examples(self, examples: &'static [&'static str]) -> Self {
        self.create_examples(examples).update_examples(examples)
    }

    pub const fn create_examples(mut self, examples: &'static [&'static str]) -> Self {
        self.create_examples = examples;
        self
    }

    pub const fn update_examples(mut self, examples: &'static [&'static str]) -> Self {
        self.update_examples = examples;
        self
    }
}

impl Rule {
    /// Checks a string against a string rule: the value to store, or the 422's message
    /// and type. `None` for rules whose values are not strings.
    pub fn check_text(&self, value: &str) -> Option<Result<String, RuleError>> {
        Some(match *self {
            Self::Text { min, max } => rules::text(value, min, max),
            Self::Line { min, max } => rules::name(value, min, max),
            Self::Username => rules::username(value),
            Self::HttpUrl { max } => rules::http_url(value, max),
            Self::PhoneNumber => rules::phone_number(value),
            Self::GithubLogin => rules::github_login(value),
            Self::Email => rules::email(value),
            Self::Generation => rules::generation(value),
            Self::Bool | Self::List { .. } | Self::Object(_) => return None,
        })
    }
}
