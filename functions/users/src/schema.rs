//! Documentation-only schemas of the users API: the request bodies (parsed by hand by
//! `shared::users::UserInput`, so they cannot derive their schema from the parser) and
//! the composed user views. Their limits are the contract's (API.md, "Writable fields");
//! `UserInput::parse` is what enforces them.

// Never built: these types exist to describe JSON in the OpenAPI document.
#![allow(dead_code)]

use shared::users::UserView;
use shared::users::view::UserDetail;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// What the user themself and admins see: the summary and the detail fields.
#[derive(ToSchema)]
pub struct UserDetailView {
    #[serde(flatten)]
    summary: UserView,
    #[serde(flatten)]
    detail: UserDetail,
}

/// `GET /users/{id}`: the summary, or the detail for the user themself and admins.
pub struct SummaryOrDetail;

impl PartialSchema for SummaryOrDetail {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name(UserDetailView::name()))
            .item(Ref::from_schema_name(UserView::name()))
            .description(Some(
                "`UserDetailView` for the user themself and admins, `UserView` for anyone else.",
            ))
            .into()
    }
}

impl ToSchema for SummaryOrDetail {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((UserView::name().into(), UserView::schema()));
        UserView::schemas(schemas);
        schemas.push((UserDetail::name().into(), UserDetail::schema()));
        UserDetail::schemas(schemas);
        schemas.push((UserDetailView::name().into(), UserDetailView::schema()));
        UserDetailView::schemas(schemas);
    }
}

/// A position's name: 1–50 characters, naming an existing position.
pub struct PositionName;

impl PartialSchema for PositionName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(50))
            .description(Some(
                "The name of an existing position, compared case-insensitively (an unknown name is a 422).",
            ))
            .examples(["백엔드"])
            .into()
    }
}

impl ToSchema for PositionName {}

/// One SNS account; the list replaces the user's accounts.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnsAccountBody {
    #[schema(min_length = 1, max_length = 30, examples("GitHub"))]
    name: String,
    /// An absolute `http` or `https` URL.
    #[schema(
        format = "uri",
        max_length = 200,
        pattern = "^https?://",
        examples("https://github.com/wafflestudio")
    )]
    url: String,
}

/// `POST /users`: registers the caller. Admin-only fields (`slack_id`, `sso_id`,
/// `is_rookie`, `is_member`, `is_active`, `is_admin`) are refused with 403; unknown
/// fields are a 422. `null` is the same as leaving a field out.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreateBody {
    /// 4–50 ASCII letters, digits, `_`, `-` and `.`; unique.
    #[schema(
        min_length = 4,
        max_length = 50,
        pattern = r"^[A-Za-z0-9_.-]+$",
        examples("waffle")
    )]
    username: String,
    #[schema(min_length = 1, max_length = 30)]
    first_name: String,
    #[schema(min_length = 0, max_length = 30)]
    last_name: String,
    /// An absolute `http` or `https` URL.
    #[schema(format = "uri", max_length = 200, pattern = "^https?://")]
    image_url: Option<String>,
    #[schema(max_length = 50)]
    department: Option<String>,
    #[schema(max_length = 50)]
    college: Option<String>,
    /// A Korean mobile number. `-` and spaces are dropped and a leading `+82` becomes `0`;
    /// the result must match `^01[016789][0-9]{7,8}$` and is stored as digits.
    #[schema(examples("010-1234-5678"))]
    phone_number: Option<String>,
    /// A GitHub login: 1–39 letters, digits and single inner hyphens.
    #[schema(
        min_length = 1,
        max_length = 39,
        pattern = "^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$"
    )]
    github_id: Option<String>,
    #[schema(format = Email, max_length = 50)]
    github_email: Option<String>,
    #[schema(format = Email, max_length = 50)]
    slack_email: Option<String>,
    #[schema(format = Email, max_length = 50)]
    notion_email: Option<String>,
    #[schema(format = Email, max_length = 50)]
    apple_email: Option<String>,
    #[schema(max_length = 1000)]
    introduction: Option<String>,
    /// One or two digits, optionally followed by `.5`.
    #[schema(pattern = r"^[0-9]{1,2}(\.5)?$", examples("19", "19.5"))]
    generation: Option<String>,
    /// Names of existing positions (an unknown name is a 422), at most 20 as sent; 운영팀
    /// is set by admins only (403).
    positions: Option<Vec<PositionName>>,
    #[schema(max_items = 10)]
    sns_accounts: Option<Vec<SnsAccountBody>>,
}

/// `PATCH /users/{id}`: a partial update. A field left out stays as it is; `null`
/// clears the fields that allow it (not `username`, the names or the flags). Only an
/// admin may send the admin-only fields: anyone else gets 403 and nothing changes.
/// Unknown fields are a 422.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    /// 4–50 ASCII letters, digits, `_`, `-` and `.`; unique.
    #[schema(
        nullable = false,
        min_length = 4,
        max_length = 50,
        pattern = r"^[A-Za-z0-9_.-]+$"
    )]
    username: Option<String>,
    #[schema(nullable = false, min_length = 1, max_length = 30)]
    first_name: Option<String>,
    #[schema(nullable = false, min_length = 0, max_length = 30)]
    last_name: Option<String>,
    /// An absolute `http` or `https` URL.
    #[schema(format = "uri", max_length = 200, pattern = "^https?://")]
    image_url: Option<String>,
    #[schema(max_length = 50)]
    department: Option<String>,
    #[schema(max_length = 50)]
    college: Option<String>,
    /// A Korean mobile number. `-` and spaces are dropped and a leading `+82` becomes `0`;
    /// the result must match `^01[016789][0-9]{7,8}$` and is stored as digits.
    #[schema(examples("010-1234-5678"))]
    phone_number: Option<String>,
    /// A GitHub login: 1–39 letters, digits and single inner hyphens.
    #[schema(
        min_length = 1,
        max_length = 39,
        pattern = "^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$"
    )]
    github_id: Option<String>,
    #[schema(format = Email, max_length = 50)]
    github_email: Option<String>,
    #[schema(format = Email, max_length = 50)]
    slack_email: Option<String>,
    #[schema(format = Email, max_length = 50)]
    notion_email: Option<String>,
    #[schema(format = Email, max_length = 50)]
    apple_email: Option<String>,
    #[schema(max_length = 1000)]
    introduction: Option<String>,
    /// One or two digits, optionally followed by `.5`.
    #[schema(pattern = r"^[0-9]{1,2}(\.5)?$")]
    generation: Option<String>,
    /// Names of existing positions (an unknown name is a 422), at most 20 as sent; 운영팀
    /// is set by admins only (403). replaces the set.
    positions: Option<Vec<PositionName>>,
    /// Replaces the list.
    #[schema(max_items = 10)]
    sns_accounts: Option<Vec<SnsAccountBody>>,
    /// Admin only. Unique: links a Slack-synced row to its Slack member.
    #[schema(min_length = 1, max_length = 50)]
    slack_id: Option<String>,
    /// Admin only. Unique: links a row to an SSO account.
    #[schema(min_length = 1, max_length = 50)]
    sso_id: Option<String>,
    /// Admin only.
    #[schema(nullable = false)]
    is_rookie: Option<bool>,
    /// Admin only.
    #[schema(nullable = false)]
    is_member: Option<bool>,
    /// Admin only.
    #[schema(nullable = false)]
    is_active: Option<bool>,
    /// Admin only.
    #[schema(nullable = false)]
    is_admin: Option<bool>,
}
