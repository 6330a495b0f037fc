//! The `teams` function: the club's teams and their members.
//!
//! Reads top to bottom: the router, the team handlers, then the membership handlers. SQL
//! lives in `repo`, the bodies and views in `model`. Every write runs in one transaction
//! with its audit entry.

mod model;
mod repo;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::Value;
use shared::domain::admin::Admin;
use shared::domain::audit::{self, Action, Changes, Entity};
use shared::platform::extract::{JsonObject, PathId, PathIds};
use shared::platform::openapi::{AdminErrors, DbUnavailable, ErrorBody, ValidationErrorBody};
use shared::{AppState, Error};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use model::{Team, TeamCreateBody, TeamList, TeamPatchBody, TeamRow};

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
        .routes(routes!(list_teams, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(add_member, remove_member))
}

/// `GET /teams`: every team with its number of members, in id order; one query.
#[utoipa::path(
    get,
    path = "/api/v1/teams",
    operation_id = "teams_list",
    tag = "teams",
    summary = "List teams",
    description = "Anyone. Every team, in id order, with its number of members.",
    responses(
        (status = 200, description = "Every team, in id order.", body = TeamList),
        DbUnavailable,
    ),
)]
async fn list_teams(State(state): State<AppState>) -> Result<Json<TeamList>, Error> {
    let pool = state.db.pool().await?;
    let mut conn = pool.acquire().await?;
    let items = repo::list(&mut conn).await?;
    Ok(Json(TeamList { items }))
}

/// `GET /teams/{id}`: the team and its members in user id order; two queries.
#[utoipa::path(
    get,
    path = "/api/v1/teams/{id}",
    operation_id = "teams_show",
    tag = "teams",
    summary = "One team",
    description = "Anyone. The team with its members, in user id order.",
    params(("id" = i32, Path, minimum = 1, description = "The team's id.")),
    responses(
        (status = 200, description = "The team.", body = Team),
        (status = 404, description = "No such team.", body = ErrorBody),
        (status = 422, description = "The id is not a positive integer.", body = ValidationErrorBody),
        DbUnavailable,
    ),
)]
async fn show(State(state): State<AppState>, PathId(id): PathId) -> Result<Json<Team>, Error> {
    let pool = state.db.pool().await?;
    let mut conn = pool.acquire().await?;
    let row = repo::find(&mut conn, id)
        .await?
        .ok_or_else(|| Error::not_found("team"))?;
    let members = repo::members(&mut conn, id).await?;
    Ok(Json(Team::new(row, members)))
}

/// `POST /teams`: admins only; a new team has no members.
#[utoipa::path(
    post,
    path = "/api/v1/teams",
    operation_id = "teams_create",
    tag = "teams",
    summary = "Create a team",
    description = "Admins only. The new team has no members; `PUT /api/v1/teams/{id}/members/{user_id}` adds them.",
    security(("waffle_sso" = [])),
    request_body = TeamCreateBody,
    responses(
        (status = 201, description = "Created.", body = Team, headers(
            ("Location" = String, description = "`/api/v1/teams/{id}` of the new team."),
        )),
        (status = 400, description = "The body is not JSON.", body = ErrorBody),
        AdminErrors,
        (status = 413, description = "The body is over 64 KiB.", body = ErrorBody),
        (status = 422, description = "Invalid fields, one entry per field.", body = ValidationErrorBody),
    ),
)]
async fn create(Admin(mut admin): Admin, JsonObject(body): JsonObject) -> Result<Response, Error> {
    let TeamCreateBody { name, introduction } = TeamCreateBody::parse(&body)?;
    let actor = admin.actor();
    let id = admin
        .transaction(async |tx| {
            let id = repo::insert(tx, &name, introduction.as_deref()).await?;
            let mut changes = Changes::new();
            changes.field("name", Value::Null, &name).field(
                "introduction",
                Value::Null,
                &introduction,
            );
            audit::record(tx, &actor, Action::Create, Entity::Team, id, &changes).await?;
            Ok(id)
        })
        .await?;
    let team = Team::new(
        TeamRow {
            id,
            name,
            introduction,
        },
        Vec::new(),
    );
    let mut response = (StatusCode::CREATED, Json(team)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/teams/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `PATCH /teams/{id}`: absent fields stay, `null` clears the introduction. A patch that
/// changes nothing writes and records nothing.
#[utoipa::path(
    patch,
    path = "/api/v1/teams/{id}",
    operation_id = "teams_update",
    tag = "teams",
    summary = "Change a team",
    description = "Admins only. Absent fields stay as they are; `null` clears the introduction (and is a 422 for the name).",
    params(("id" = i32, Path, minimum = 1, description = "The team's id.")),
    security(("waffle_sso" = [])),
    request_body = TeamPatchBody,
    responses(
        (status = 200, description = "The team after the change.", body = Team),
        (status = 400, description = "The body is not JSON.", body = ErrorBody),
        AdminErrors,
        (status = 404, description = "No such team.", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB.", body = ErrorBody),
        (status = 422, description = "Invalid fields (one entry per field) or a bad id.", body = ValidationErrorBody),
    ),
)]
async fn update(
    Admin(mut admin): Admin,
    PathId(id): PathId,
    JsonObject(body): JsonObject,
) -> Result<Json<Team>, Error> {
    let patch = TeamPatchBody::parse(&body)?;
    let actor = admin.actor();
    let team = admin
        .transaction(async |tx| {
            let before = repo::lock(tx, id)
                .await?
                .ok_or_else(|| Error::not_found("team"))?;
            let after = patch.apply(&before);
            let mut changes = Changes::new();
            changes.field("name", &before.name, &after.name).field(
                "introduction",
                &before.introduction,
                &after.introduction,
            );
            if !changes.is_empty() {
                repo::update(tx, &after).await?;
                audit::record(tx, &actor, Action::Update, Entity::Team, id, &changes).await?;
            }
            let members = repo::members(tx, id).await?;
            Ok(Team::new(after, members))
        })
        .await?;
    Ok(Json(team))
}

/// `DELETE /teams/{id}`: the members stay users; only their memberships go.
#[utoipa::path(
    delete,
    path = "/api/v1/teams/{id}",
    operation_id = "teams_delete",
    tag = "teams",
    summary = "Delete a team",
    description = "Admins only. Its members stay users; only their memberships go.",
    params(("id" = i32, Path, minimum = 1, description = "The team's id.")),
    security(("waffle_sso" = [])),
    responses(
        (status = 204, description = "Deleted."),
        AdminErrors,
        (status = 404, description = "No such team.", body = ErrorBody),
        (status = 422, description = "The id is not a positive integer.", body = ValidationErrorBody),
    ),
)]
async fn remove(Admin(mut admin): Admin, PathId(id): PathId) -> Result<StatusCode, Error> {
    let actor = admin.actor();
    admin
        .transaction(async |tx| {
            let before = repo::lock(tx, id)
                .await?
                .ok_or_else(|| Error::not_found("team"))?;
            repo::delete(tx, id).await?;
            let mut changes = Changes::new();
            changes.field("name", &before.name, Value::Null).field(
                "introduction",
                &before.introduction,
                Value::Null,
            );
            audit::record(tx, &actor, Action::Delete, Entity::Team, id, &changes).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /teams/{id}/members/{user_id}`: idempotent; only a membership actually added is
/// written and recorded.
#[utoipa::path(
    put,
    path = "/api/v1/teams/{id}/members/{user_id}",
    operation_id = "teams_add_member",
    tag = "teams",
    summary = "Add a member",
    description = "Admins only. Idempotent: adding a member again changes nothing and still answers 204.",
    params(
        ("id" = i32, Path, minimum = 1, description = "The team's id."),
        ("user_id" = i32, Path, minimum = 1, description = "The user's id."),
    ),
    security(("waffle_sso" = [])),
    responses(
        (status = 204, description = "The user is a member."),
        AdminErrors,
        (status = 404, description = "No such team, or no such user.", body = ErrorBody),
        (status = 422, description = "An id is not a positive integer, one entry per id.", body = ValidationErrorBody),
    ),
)]
async fn add_member(
    Admin(mut admin): Admin,
    PathIds(team_id, user_id): PathIds,
) -> Result<StatusCode, Error> {
    let actor = admin.actor();
    admin
        .transaction(async |tx| {
            hold_team_and_user(tx, team_id, user_id).await?;
            if repo::add_member(tx, team_id, user_id).await? {
                record_membership(tx, &actor, Action::Add, team_id, user_id).await?;
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /teams/{id}/members/{user_id}`: idempotent; only a membership actually
/// removed is recorded.
#[utoipa::path(
    delete,
    path = "/api/v1/teams/{id}/members/{user_id}",
    operation_id = "teams_remove_member",
    tag = "teams",
    summary = "Remove a member",
    description = "Admins only. Idempotent: removing a user who is not a member changes nothing and still answers 204.",
    params(
        ("id" = i32, Path, minimum = 1, description = "The team's id."),
        ("user_id" = i32, Path, minimum = 1, description = "The user's id."),
    ),
    security(("waffle_sso" = [])),
    responses(
        (status = 204, description = "The user is not a member."),
        AdminErrors,
        (status = 404, description = "No such team, or no such user.", body = ErrorBody),
        (status = 422, description = "An id is not a positive integer, one entry per id.", body = ValidationErrorBody),
    ),
)]
async fn remove_member(
    Admin(mut admin): Admin,
    PathIds(team_id, user_id): PathIds,
) -> Result<StatusCode, Error> {
    let actor = admin.actor();
    admin
        .transaction(async |tx| {
            hold_team_and_user(tx, team_id, user_id).await?;
            if repo::remove_member(tx, team_id, user_id).await? {
                record_membership(tx, &actor, Action::Remove, team_id, user_id).await?;
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit entry of a membership added (`[null, id]`) or removed (`[id, null]`),
/// under `entity_id` `<team_id>:<user_id>`.
async fn record_membership(
    tx: &mut sqlx::MySqlConnection,
    actor: &audit::Actor,
    action: Action,
    team_id: i32,
    user_id: i32,
) -> Result<(), Error> {
    let mut changes = Changes::new();
    for (field, id) in [("team_id", team_id), ("user_id", user_id)] {
        match action {
            Action::Remove => changes.field(field, id, Value::Null),
            _ => changes.field(field, Value::Null, id),
        };
    }
    let entity_id = format!("{team_id}:{user_id}");
    audit::record(tx, actor, action, Entity::TeamMember, entity_id, &changes).await
}

/// 404 unless both exist; then neither can be deleted until the transaction ends.
async fn hold_team_and_user(
    tx: &mut sqlx::MySqlConnection,
    team_id: i32,
    user_id: i32,
) -> Result<(), Error> {
    if !repo::hold_team(tx, team_id).await? {
        return Err(Error::not_found("team"));
    }
    if !repo::hold_user(tx, user_id).await? {
        return Err(Error::not_found("user"));
    }
    Ok(())
}
