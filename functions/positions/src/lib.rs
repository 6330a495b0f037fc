//! The `positions` function: the positions members hold (운영팀, 백엔드, iOS, ...).
//!
//! Reads top to bottom: the router, then the handlers. SQL lives in `repo`, the body and
//! the views in `model`. Every write runs in one transaction with its audit entry.

mod model;
mod repo;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use shared::domain::admin::Admin;
use shared::domain::audit::Entity;
use shared::platform::api::created;
use shared::platform::extract::{JsonObject, PathId};
use shared::platform::openapi::{AdminErrors, DbUnavailable, ErrorBody, TokenDenied};
use shared::platform::responses::{BadFields, BadFieldsOrId, BadId, BodyErrors, Deleted};
use shared::{AppState, Error};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use model::{Position, PositionBody, PositionList};

shared::router_and_openapi!();

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
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "Every position, in id order.", body = PositionList),
        TokenDenied,
        DbUnavailable,
    ),
)]
async fn list_positions(State(state): State<AppState>) -> Result<Json<PositionList>, Error> {
    let mut conn = state.db.acquire().await?;
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
        BodyErrors,
        AdminErrors,
        (status = 409, description = "A position of that name exists.", body = ErrorBody),
        BadFields,
    ),
)]
async fn create(Admin(mut admin): Admin, JsonObject(body): JsonObject) -> Result<Response, Error> {
    let PositionBody { name } = PositionBody::parse(&body)?;
    let (id, position) = admin
        .create_audited(Entity::Position, async |tx| {
            // Uniqueness is the unique key's job: a taken name is a 409 and nothing is written.
            let id = repo::insert(tx, &name).await?;
            Ok((id, Position { id, name }))
        })
        .await?;
    Ok(created(&format!("/api/v1/positions/{id}"), position))
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
        BodyErrors,
        AdminErrors,
        (status = 404, description = "No such position.", body = ErrorBody),
        (status = 409, description = "Another position has that name.", body = ErrorBody),
        BadFieldsOrId,
    ),
)]
async fn rename(
    Admin(mut admin): Admin,
    PathId(id): PathId,
    JsonObject(body): JsonObject,
) -> Result<Json<Position>, Error> {
    let PositionBody { name } = PositionBody::parse(&body)?;
    let renamed = Position { id, name };
    let audit = admin.audit(Entity::Position);
    admin
        .transaction(async |tx| {
            let before = audit.locked(repo::lock(tx, id).await?)?;
            audit
                .update(tx, id, &before, &renamed, async |tx| {
                    repo::rename(tx, id, &renamed.name).await
                })
                .await
        })
        .await?;
    Ok(Json(renamed))
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
        Deleted,
        AdminErrors,
        (status = 404, description = "No such position.", body = ErrorBody),
        BadId,
    ),
)]
async fn remove(Admin(mut admin): Admin, PathId(id): PathId) -> Result<StatusCode, Error> {
    admin
        .delete_audited(Entity::Position, id, repo::lock, repo::delete)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
