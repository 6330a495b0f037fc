//! The `teams` function: the club's teams and their members.
//!
//! Reads top to bottom: the router, the team handlers, then the membership handlers. SQL
//! lives in `repo`, the bodies and views in `model`. Every write runs in one transaction
//! with its audit entry.

mod model;
mod repo;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use shared::domain::admin::{Admin, AdminCaller};
use shared::domain::audit::{Action, Changes, Entity};
use shared::platform::api::created;
use shared::platform::extract::{JsonObject, PathId, PathIds};
use shared::platform::openapi::{
    AdminErrors, DbUnavailable, ErrorBody, TokenDenied, ValidationErrorBody,
};
use shared::platform::responses::{BadFields, BadFieldsOrId, BadId, BodyErrors, Deleted};
use shared::{AppState, Error};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use model::{MembershipPath, Team, TeamCreateBody, TeamList, TeamPatchBody, TeamRow};

shared::router_and_openapi!();

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
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "Every team, in id order.", body = TeamList),
        TokenDenied,
        DbUnavailable,
    ),
)]
async fn list_teams(State(state): State<AppState>) -> Result<Json<TeamList>, Error> {
    let mut conn = state.db.acquire().await?;
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
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "The team.", body = Team),
        (status = 404, description = "No such team.", body = ErrorBody),
        BadId,
        TokenDenied,
        DbUnavailable,
    ),
)]
async fn show(State(state): State<AppState>, PathId(id): PathId) -> Result<Json<Team>, Error> {
    let mut conn = state.db.acquire().await?;
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
        BodyErrors,
        AdminErrors,
        BadFields,
    ),
)]
async fn create(Admin(mut admin): Admin, JsonObject(body): JsonObject) -> Result<Response, Error> {
    let TeamCreateBody { name, introduction } = TeamCreateBody::parse(&body)?;
    let (id, row) = admin
        .create_audited(Entity::Team, async |tx| {
            let id = repo::insert(tx, &name, introduction.as_deref()).await?;
            let row = TeamRow {
                id,
                name,
                introduction,
            };
            Ok((id, row))
        })
        .await?;
    Ok(created(
        &format!("/api/v1/teams/{id}"),
        Team::new(row, Vec::new()),
    ))
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
        BodyErrors,
        AdminErrors,
        (status = 404, description = "No such team.", body = ErrorBody),
        BadFieldsOrId,
    ),
)]
async fn update(
    Admin(mut admin): Admin,
    PathId(id): PathId,
    JsonObject(body): JsonObject,
) -> Result<Json<Team>, Error> {
    let patch = TeamPatchBody::parse(&body)?;
    let audit = admin.audit(Entity::Team);
    let team = admin
        .transaction(async |tx| {
            let before = audit.locked(repo::lock(tx, id).await?)?;
            let after = patch.apply(&before);
            audit
                .update(tx, id, &before, &after, async |tx| {
                    repo::update(tx, &after).await
                })
                .await?;
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
        Deleted,
        AdminErrors,
        (status = 404, description = "No such team.", body = ErrorBody),
        BadId,
    ),
)]
async fn remove(Admin(mut admin): Admin, PathId(id): PathId) -> Result<StatusCode, Error> {
    admin
        .delete_audited(Entity::Team, id, repo::lock, repo::delete)
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
    params(MembershipPath),
    security(("waffle_sso" = [])),
    responses(
        (status = 204, description = "The user is a member."),
        AdminErrors,
        (status = 404, description = "No such team, or no such user.", body = ErrorBody),
        (status = 422, description = "An id is not a positive integer, one entry per id.", body = ValidationErrorBody),
    ),
)]
async fn add_member(
    Admin(admin): Admin,
    PathIds(team_id, user_id): PathIds,
) -> Result<StatusCode, Error> {
    change_membership(admin, Action::Add, team_id, user_id).await
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
    params(MembershipPath),
    security(("waffle_sso" = [])),
    responses(
        (status = 204, description = "The user is not a member."),
        AdminErrors,
        (status = 404, description = "No such team, or no such user.", body = ErrorBody),
        (status = 422, description = "An id is not a positive integer, one entry per id.", body = ValidationErrorBody),
    ),
)]
async fn remove_member(
    Admin(admin): Admin,
    PathIds(team_id, user_id): PathIds,
) -> Result<StatusCode, Error> {
    change_membership(admin, Action::Remove, team_id, user_id).await
}

/// Adds (`Action::Add`) or removes (`Action::Remove`) a membership, in one transaction
/// with its entry: 404 unless both the team and the user exist; only a membership
/// actually added or removed is written and recorded, as `[null, id]` or `[id, null]`
/// under `entity_id` `<team_id>:<user_id>`.
async fn change_membership(
    mut admin: AdminCaller,
    action: Action,
    team_id: i32,
    user_id: i32,
) -> Result<StatusCode, Error> {
    let audit = admin.audit(Entity::TeamMember);
    admin
        .transaction(async |tx| {
            hold_team_and_user(tx, team_id, user_id).await?;
            if !repo::change_membership(tx, action, team_id, user_id).await? {
                return Ok(());
            }
            let mut changes = Changes::new();
            for (field, id) in [("team_id", team_id), ("user_id", user_id)] {
                match action {
                    Action::Remove => changes.field(field, id, Value::Null),
                    _ => changes.field(field, Value::Null, id),
                };
            }
            let entity_id = format!("{team_id}:{user_id}");
            audit.record(tx, action, entity_id, &changes).await
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
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
