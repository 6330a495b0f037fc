//! Documentation-only schemas of the users API: the request bodies, written from the
//! same description `UserInput::parse` reads them with (`shared::domain::users::input::FIELDS`),
//! and the composed user views.

// Never built: these types exist to describe JSON in the OpenAPI document.
#![allow(dead_code)]

use shared::domain::users::UserView;
use shared::domain::users::input::FIELDS;
use shared::domain::users::view::UserDetail;
use shared::platform::input::Mode;
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
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

/// `POST /users`.
pub struct UserCreateBody;

shared::body_schema!(
    UserCreateBody,
    FIELDS,
    Mode::Create,
    "`POST /users`: registers the caller. Admin-only fields (`slack_id`, `sso_id`, \
     `is_rookie`, `is_member`, `is_active`, `is_admin`) are refused with 403; unknown fields \
     are a 422. `null` is the same as leaving a field out.",
);

/// `PATCH /users/{id}`.
pub struct UserPatchBody;

shared::body_schema!(
    UserPatchBody,
    FIELDS,
    Mode::Update,
    "`PATCH /users/{id}`: a partial update. A field left out stays as it is; `null` clears \
     the fields that allow it (not `username`, the names or the flags). Only an admin may \
     send the admin-only fields: anyone else gets 403 and nothing changes. Unknown fields \
     are a 422.",
);
