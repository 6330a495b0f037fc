//! The `positions` function: the positions members hold (운영팀, 백엔드, iOS, ...).
//!
//! Reads top to bottom: the router, then the handlers. SQL lives in `repo`, the body and
//! the views in `model`. Every write runs in one transaction with its audit entry.

mod model;
mod repo;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::Value;
use shared::domain::admin::Admin;
use shared::domain::audit::{self, Action, Changes, Entity};
use shared::platform::extract::{JsonObject, PathId};
use shared::platform::openapi::{AdminErrors, DbUnavailable, ErrorBody, ValidationErrorBody};
use shared::{AppState, Error};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use model::{Position, PositionBody, PositionList};

pub fn router(state: AppState) -> Router {
    api().with_state(state).into()
}

/// The OpenAPI description of every route `router` serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The routes and their documentation, registered together so that they cannot diverge.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list_positions, create))
        .routes(routes!(rename, remove))
}

/// `GET /positions`: every position with its number of holders, in id order; one query.
#[utoipa::path(
    get,
    path = "/api/v1/positions",
    operation_id = "positions_list",
    tag = "positions",
    summary = "List positions",
    description = "Anyone. Every position, in id order, with the number of users holding it.",
    responses(
        (status = 200, description = "Every position, in id order.", body = PositionList),
        DbUnavailable,
    ),
)]
async fn list_positions(State(state): State<AppState>) -> Result<Json<PositionList>, Error> {
    let pool = state.db.pool().await?;
    let mut conn = pool.acquire().await?;
    let items = repo::list(&mut conn).await?;
    Ok(Json(PositionList { items }))
}

/// `POST /positions`: admins only; names are unique, compared case-insensitively.
#[utoipa::path(
    post,
    path = "/api/v1/positions",
    operation_id = "positions_create",
    tag = "positions",
    summary = "Create a position",
    description = "Admins only. Names are unique, compared case-insensitively.",
    security(("waffle_sso" = [])),
    request_body = PositionBody,
    responses(
        (status = 201, description = "Created.", body = Position, headers(
            ("Location" = String, description = "`/api/v1/positions/{id}` of the new position."),
        )),
        (status = 400, description = "The body is not JSON.", body = ErrorBody),
        AdminErrors,
        (status = 409, description = "A position of that name exists.", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorBody),
        (status = 422, description = "Invalid fields, one entry per field.", body = ValidationErrorBody),
    ),
)]
async fn create(Admin(mut admin): Admin, JsonObject(body): JsonObject) -> Result<Response, Error> {
    let PositionBody { name } = PositionBody::parse(&body)?;
    let actor = admin.actor();
    let id = admin
        .transaction(async |tx| {
            // Uniqueness is the unique key's job: a taken name is a 409 and nothing is written.
            let id = repo::insert(tx, &name).await?;
            let mut changes = Changes::new();
            changes.field("name", Value::Null, &name);
            audit::record(tx, &actor, Action::Create, Entity::Position, id, &changes).await?;
            Ok(id)
        })
        .await?;
    let mut response = (StatusCode::CREATED, Json(Position { id, name })).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/positions/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `PATCH /positions/{id}`: renames; a rename to the current name changes nothing and
/// records nothing.
#[utoipa::path(
    patch,
    path = "/api/v1/positions/{id}",
    operation_id = "positions_rename",
    tag = "positions",
    summary = "Rename a position",
    description = "Admins only. Its holders keep it under the new name. Renaming to the current name changes nothing.",
    params(("id" = i32, Path, minimum = 1, description = "The position's id.")),
    security(("waffle_sso" = [])),
    request_body = PositionBody,
    responses(
        (status = 200, description = "The position after the rename.", body = Position),
        (status = 400, description = "The body is not JSON.", body = ErrorBody),
        AdminErrors,
        (status = 404, description = "No such position.", body = ErrorBody),
        (status = 409, description = "Another position has that name.", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorBody),
        (status = 422, description = "Invalid fields (one entry per field) or a bad id.", body = ValidationErrorBody),
    ),
)]
async fn rename(
    Admin(mut admin): Admin,
    PathId(id): PathId,
    JsonObject(body): JsonObject,
) -> Result<Json<Position>, Error> {
    let PositionBody { name } = PositionBody::parse(&body)?;
    let actor = admin.actor();
    admin
        .transaction(async |tx| {
            let old = repo::lock(tx, id)
                .await?
                .ok_or_else(|| Error::not_found("position"))?;
            let mut changes = Changes::new();
            changes.field("name", &old, &name);
            if !changes.is_empty() {
                repo::rename(tx, id, &name).await?;
                audit::record(tx, &actor, Action::Update, Entity::Position, id, &changes).await?;
            }
            Ok(())
        })
        .await?;
    Ok(Json(Position { id, name }))
}

/// `DELETE /positions/{id}`: the users stay; only their links to the position go.
#[utoipa::path(
    delete,
    path = "/api/v1/positions/{id}",
    operation_id = "positions_delete",
    tag = "positions",
    summary = "Delete a position",
    description = "Admins only. The users who held it stay; only their link to it goes.",
    params(("id" = i32, Path, minimum = 1, description = "The position's id.")),
    security(("waffle_sso" = [])),
    responses(
        (status = 204, description = "Deleted."),
        AdminErrors,
        (status = 404, description = "No such position.", body = ErrorBody),
        (status = 422, description = "The id is not a positive integer.", body = ValidationErrorBody),
    ),
)]
async fn remove(Admin(mut admin): Admin, PathId(id): PathId) -> Result<StatusCode, Error> {
    let actor = admin.actor();
    admin
        .transaction(async |tx| {
            let name = repo::lock(tx, id)
                .await?
                .ok_or_else(|| Error::not_found("position"))?;
            repo::delete(tx, id).await?;
            let mut changes = Changes::new();
            changes.field("name", &name, Value::Null);
            audit::record(tx, &actor, Action::Delete, Entity::Position, id, &changes).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
