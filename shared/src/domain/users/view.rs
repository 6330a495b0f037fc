//! What the API shows of a user: the public summary, and the detail the user themself
//! and admins see.

use std::collections::HashMap;

use serde::Serialize;
use time::PrimitiveDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::repo::{SummaryRow, UserRow};

/// `{id, name}` of a position or a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NamedRef {
    pub id: i32,
    pub name: String,
}

/// One of a user's SNS accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SnsView {
    pub name: String,
    pub url: String,
}

/// The links of a set of users, by user id.
#[derive(Debug, Default)]
pub struct Links {
    pub positions: HashMap<i32, Vec<NamedRef>>,
    pub sns_accounts: HashMap<i32, Vec<SnsView>>,
    pub teams: HashMap<i32, Vec<NamedRef>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(
    description = "The public summary of a user. The user themself and admins get `UserDetailView`: these fields and those of `UserDetail`."
)]
pub struct UserView {
    pub id: i32,
    #[schema(required)]
    pub username: Option<String>,
    pub first_name: String,
    pub last_name: String,
    #[schema(required)]
    pub image_url: Option<String>,
    pub positions: Vec<NamedRef>,
    #[schema(required)]
    pub github_id: Option<String>,
    #[schema(required)]
    pub slack_id: Option<String>,
    #[schema(required)]
    pub introduction: Option<String>,
    #[schema(required)]
    pub generation: Option<String>,
    pub is_active: bool,
    pub is_member: bool,
    pub sns_accounts: Vec<SnsView>,
    pub teams: Vec<NamedRef>,
    /// Present for the user themself and for admins.
    #[serde(flatten)]
    #[schema(ignore)]
    pub detail: Option<UserDetail>,
}

/// Read from the row as is: the columns are these fields.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[schema(description = "The fields of a user that only the user themself and admins see.")]
pub struct UserDetail {
    #[schema(required)]
    pub sso_id: Option<String>,
    #[schema(required)]
    pub department: Option<String>,
    #[schema(required)]
    pub college: Option<String>,
    #[schema(required)]
    pub phone_number: Option<String>,
    #[schema(required)]
    pub github_email: Option<String>,
    #[schema(required)]
    pub slack_email: Option<String>,
    #[schema(required)]
    pub notion_email: Option<String>,
    #[schema(required)]
    pub apple_email: Option<String>,
    pub is_rookie: bool,
    pub is_admin: bool,
    #[serde(serialize_with = "as_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: PrimitiveDateTime,
    #[serde(serialize_with = "as_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: PrimitiveDateTime,
}

/// Which view a reader gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Summary,
    Detail,
}

impl UserView {
    /// Builds the view of `row`, taking its links out of `links`.
    pub fn new(row: UserRow, links: &mut Links, visibility: Visibility) -> Self {
        Self {
            detail: (visibility == Visibility::Detail).then_some(row.detail),
            ..Self::summary(row.summary, links)
        }
    }

    /// The public summary of a list row, taking its links out of `links`.
    pub fn summary(row: SummaryRow, links: &mut Links) -> Self {
        Self {
            id: row.id,
            positions: links.positions.remove(&row.id).unwrap_or_default(),
            sns_accounts: links.sns_accounts.remove(&row.id).unwrap_or_default(),
            teams: links.teams.remove(&row.id).unwrap_or_default(),
            username: row.username,
            first_name: row.first_name,
            last_name: row.last_name,
            image_url: row.image_url,
            github_id: row.github_id,
            slack_id: row.slack_id,
            introduction: row.introduction,
            generation: row.generation,
            is_active: row.is_active,
            is_member: row.is_member,
            detail: None,
        }
    }
}

/// [`rfc3339`] for `#[serde(serialize_with)]`.
fn as_rfc3339<S: serde::Serializer>(
    at: &PrimitiveDateTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*at))
}

/// Stored times are UTC (every connection runs with time zone `+00:00`).
pub fn rfc3339(at: PrimitiveDateTime) -> String {
    at.assume_utc().format(&Rfc3339).unwrap_or_default()
}
