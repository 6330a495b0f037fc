//! The `users` function: the member directory.
//!
//! Reads top to bottom: the router, the handlers (the list, me, one user, register,
//! update, delete), then two helpers (the audit entry, a user's view). The list's query
//! string is parsed in `list`, its answers cached in `cache`, the documentation-only
//! bodies live in `schema`; SQL in `shared::domain::users::repo`, shared with the Slack sync.

mod cache;
/// How many answers the list cache keeps at most (its memory test sends a few times this).
pub use cache::MAX_ENTRIES as LIST_CACHE_ENTRIES;
mod list;
mod schema;

use std::sync::Arc;

use axum::Extension;
use axum::extract::{FromRef, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Json, Router};
use lambda_http::request::RequestContext;
use serde_json::Value;
use shared::domain::admin::Admin;
use shared::domain::admin_write::Audit;
use shared::domain::audit::{Action, Actor, Changes, Entity};
use shared::domain::users::input::{guard_organisers, refuse_admin_only};
use shared::domain::users::{Mode, UserInput, UserRow, UserView, Visibility, repo};
use shared::platform::api::created;
use shared::platform::db::in_transaction;
use shared::platform::extract::{JsonObject, PathId};
use shared::platform::openapi::{AdminErrors, DbUnavailable, ErrorBody, NoToken, TokenDenied};
use shared::platform::responses::{
    BadFields, BadFieldsOrId, BadId, BadParams, BadQuery, BodyErrors, Deleted,
};
use shared::{AppState, Error, Identity, MaybeIdentity};
use sqlx::MySqlConnection;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the handlers run with: the shared state and this process's list cache (one per
/// cold start). Handlers take either part with `State`.
#[derive(Clone)]
struct UsersState {
    app: AppState,
    cache: Arc<cache::ListCache>,
}

impl FromRef<UsersState> for AppState {
    fn from_ref(state: &UsersState) -> Self {
        state.app.clone()
    }
}

impl FromRef<UsersState> for Arc<cache::ListCache> {
    fn from_ref(state: &UsersState) -> Self {
        state.cache.clone()
    }
}

/// The routes, with a new list cache.
pub fn router(app: AppState) -> Router {
    let state = UsersState {
        app,
        cache: Arc::default(),
    };
    api().with_state(state).into()
}

/// The OpenAPI description of every route `router` serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The routes and their documentation, registered together so that they cannot diverge.
fn api() -> OpenApiRouter<UsersState> {
    OpenApiRouter::default()
        .routes(routes!(list_users, register))
        .routes(routes!(me))
        .routes(routes!(show, update, remove))
}

/// `GET /users`: a bare array of summaries in id order, paged by `limit` and `cursor`,
/// with `X-Total-Count`, `Link: <next>; rel="next"` and an `ETag`. One query (the
/// directory version) while the list is unchanged; five on a first page's miss.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    operation_id = "users_list",
    tag = "users",
    summary = "List users",
    description = "Anyone. A bare JSON array of user summaries in id order (what the club's Slack bot and scripts read). \
        `limit` and `cursor` page through it; `X-Total-Count`, `Link` and `ETag` describe the answer.",
    params(
        ("position" = Option<String>, Query, max_length = 50, description = "Only holders of the position of this name."),
        ("generation" = Option<String>, Query, max_length = 30, description = "Only users of this generation, e.g. `19` or `19.5`."),
        ("is_active" = Option<bool>, Query, description = "Only active (`true`) or inactive (`false`) users."),
        ("is_member" = Option<bool>, Query, description = "Only members (`true`) or non-members (`false`)."),
        ("q" = Option<String>, Query, max_length = 100, description = "A substring of the first name, last name or username."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many users; without it, every matching user."),
        ("cursor" = Option<u32>, Query, description = "Where the page starts; the `Link` header of the previous page carries it."),
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "An `ETag` from an earlier answer: 304 while the answer is unchanged."),
    ),
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "The matching users, in id order.", body = Vec<UserView>, headers(
            ("X-Total-Count" = i64, description = "How many users match, whatever the page."),
            ("Link" = String, description = "`<url>; rel=\"next\"`: the next page, when `limit` cut the list."),
            ("ETag" = String, description = "A strong tag of this answer, for `If-None-Match`."),
        )),
        (status = 304, description = "`If-None-Match` names the current answer.", headers(
            ("ETag" = String, description = "The current tag."),
        )),
        BadQuery,
        BadParams,
        TokenDenied,
        DbUnavailable,
    ),
)]
async fn list_users(
    State(state): State<AppState>,
    State(cache): State<Arc<cache::ListCache>>,
    gateway: Option<Extension<RequestContext>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let query = list::ListQuery::parse(raw.as_deref())?;
    let key = query.key();
    let mut conn = state.db.acquire().await?;
    // The version is read before the list: see `cache` for why that order is safe.
    let version = repo::directory_version(&mut conn).await?;
    let answer = match cache.get(&key, version) {
        Some(answer) => answer,
        None => {
            let answer = Arc::new(build_list(&mut conn, &query, version).await?);
            cache.put(key, answer.clone());
            answer
        }
    };
    drop(conn);
    let domain = match gateway.as_deref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.domain_name.as_deref(),
        _ => None,
    };
    Ok(answer.respond(&headers, cache::origin(domain, &headers).as_deref()))
}

/// The answer to `query` as the database holds it now: the page (one query, two with a
/// cursor), then the positions, SNS accounts and teams of its users (three).
async fn build_list(
    conn: &mut MySqlConnection,
    query: &list::ListQuery,
    version: u64,
) -> Result<cache::Answer, Error> {
    // One row more than asked tells whether there is a next page.
    let (mut rows, total) = repo::list(
        conn,
        &query.filter,
        query.cursor,
        query.limit.map(|l| l + 1),
    )
    .await?;
    let next = match query.limit {
        Some(limit) if rows.len() > limit as usize => {
            rows.truncate(limit as usize);
            rows.last().map(|last| query.next_path(last.id))
        }
        _ => None,
    };
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let mut links = repo::links(conn, &ids).await?;
    let views: Vec<UserView> = rows
        .into_iter()
        .map(|row| UserView::summary(row, &mut links))
        .collect();
    let body = serde_json::to_vec(&views).map_err(anyhow::Error::from)?;
    Ok(cache::Answer::new(version, total, next, body))
}

/// `GET /users/me`: the caller's own detail.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    operation_id = "users_me",
    tag = "users",
    summary = "The caller's own user",
    description = "The caller's detail; 404 until the caller registers with `POST /api/v1/users`.",
    security(("waffle_sso" = [])),
    responses(
        (status = 200, description = "The caller's detail.", body = schema::UserDetailView),
        NoToken,
        TokenDenied,
        (status = 404, description = "The caller is not registered.", body = ErrorBody),
        DbUnavailable,
    ),
)]
async fn me(State(state): State<AppState>, identity: Identity) -> Result<Json<UserView>, Error> {
    let mut conn = state.db.acquire().await?;
    let row = repo::find_by_sso(&mut conn, &identity.sso_id)
        .await?
        .ok_or_else(|| Error::NotFound("you are not registered".into()))?;
    Ok(Json(view(&mut conn, row, Visibility::Detail).await?))
}

/// `GET /users/{id}`: the summary, or the detail for the user themself and admins.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    operation_id = "users_show",
    tag = "users",
    summary = "One user",
    description = "Anyone. The summary, or the detail for the user themself and admins.",
    params(("id" = i32, Path, minimum = 1, description = "The user's id.")),
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "The summary; the detail for the user themself and admins.", body = inline(schema::SummaryOrDetail)),
        TokenDenied,
        (status = 404, description = "No such user.", body = ErrorBody),
        BadId,
        DbUnavailable,
    ),
)]
async fn show(
    State(state): State<AppState>,
    PathId(id): PathId,
    MaybeIdentity(identity): MaybeIdentity,
) -> Result<Json<UserView>, Error> {
    let mut conn = state.db.acquire().await?;
    let row = repo::find(&mut conn, id)
        .await?
        .ok_or_else(|| Error::not_found("user"))?;
    let visibility = match identity {
        Some(identity) if row.detail.sso_id.as_deref() == Some(identity.sso_id.as_str()) => {
            Visibility::Detail
        }
        Some(identity) => match repo::registered(&mut conn, &identity.sso_id).await? {
            Some(caller) if caller.is_admin => Visibility::Detail,
            _ => Visibility::Summary,
        },
        None => Visibility::Summary,
    };
    Ok(Json(view(&mut conn, row, visibility).await?))
}

/// `POST /users`: registers the caller, whose SSO id comes from the token only.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    operation_id = "users_register",
    tag = "users",
    summary = "Register the caller",
    description = "Registers the caller: the new user's `sso_id` is the token's `sub`.",
    security(("waffle_sso" = [])),
    request_body = schema::UserCreateBody,
    responses(
        (status = 201, description = "Registered.", body = schema::UserDetailView, headers(
            ("Location" = String, description = "`/api/v1/users/{id}` of the new user."),
        )),
        BodyErrors,
        NoToken,
        (status = 403, description = "The token was denied, or the body sets an admin-only field or the position 운영팀. Nothing is written.", body = ErrorBody),
        (status = 409, description = "The caller is already registered, or the username (or another unique value) is taken.", body = ErrorBody),
        BadFields,
        DbUnavailable,
    ),
)]
async fn register(
    State(state): State<AppState>,
    identity: Identity,
    JsonObject(body): JsonObject,
) -> Result<Response, Error> {
    // No one is an admin before registering.
    refuse_admin_only(&body, false)?;
    let input = UserInput::parse(&body, Mode::Create)?;
    let audit = audit_of(&identity);
    let pool = state.db.pool().await?;
    // The answer is read inside the transaction: once it commits, nothing is left that
    // could fail and tell the caller 503 about a registration that happened.
    let (id, detail) = in_transaction(pool, async |tx| {
        if repo::registered(tx, &identity.sso_id).await?.is_some() {
            return Err(Error::Conflict("you are already registered".into()));
        }
        // A racing registration of the same caller or username still meets the unique keys.
        let id = repo::create(tx, Some(&identity.sso_id), &input).await?;
        let created = repo::audit_state(tx, id).await?.unwrap_or_default();
        // No one is an admin before registering.
        let organisers = repo::organisers_name(tx).await?;
        guard_organisers(false, organisers.as_deref(), &Value::Null, &created)?;
        let changes = Changes::between(&Value::Null, &created);
        audit.record(tx, Action::Create, id, &changes).await?;
        let row = repo::find(tx, id).await?.ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("user {id} vanished after its insert"))
        })?;
        Ok((id, view(tx, row, Visibility::Detail).await?))
    })
    .await?;
    Ok(created(&format!("/api/v1/users/{id}"), detail))
}

/// `PATCH /users/{id}`: the user themself or an admin; absent fields stay, `null`
/// clears. A non-admin naming an admin-only field, or adding or removing 운영팀, gets 403
/// and nothing changes.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    operation_id = "users_update",
    tag = "users",
    summary = "Change a user",
    description = "The user themself or an admin. Absent fields stay as they are; `null` clears.",
    params(("id" = i32, Path, minimum = 1, description = "The user's id.")),
    security(("waffle_sso" = [])),
    request_body = schema::UserPatchBody,
    responses(
        (status = 200, description = "The user after the change.", body = schema::UserDetailView),
        BodyErrors,
        NoToken,
        (status = 403, description = "The token was denied; the caller is neither the user nor an admin; or a non-admin sets an admin-only field or adds or removes the position 운영팀. Nothing changes.", body = ErrorBody),
        (status = 404, description = "No such user.", body = ErrorBody),
        (status = 409, description = "The username (or another unique value) is taken.", body = ErrorBody),
        BadFieldsOrId,
        DbUnavailable,
    ),
)]
async fn update(
    State(state): State<AppState>,
    PathId(id): PathId,
    identity: Identity,
    JsonObject(body): JsonObject,
) -> Result<Json<UserView>, Error> {
    let audit = audit_of(&identity);
    let pool = state.db.pool().await?;
    // As in `register`, the answer is read before the commit.
    let detail = in_transaction(pool, async |tx| {
        // Concurrent updates of one user queue here, so each audit entry starts from the
        // state the previous one left. The lock must be the transaction's first read:
        // InnoDB fixes a transaction's snapshot at its first plain SELECT, and one taken
        // before the wait would show the row as it was before the update we queued behind.
        if !repo::lock(tx, id).await? {
            return Err(Error::not_found("user"));
        }
        let caller = repo::registered(tx, &identity.sso_id).await?;
        let target = repo::find(tx, id)
            .await?
            .ok_or_else(|| Error::not_found("user"))?;
        let is_admin = caller.is_some_and(|c| c.is_admin);
        let is_self = caller.is_some_and(|c| c.id == target.summary.id);
        if !is_admin && !is_self {
            return Err(Error::Forbidden(
                "only the user themself or an admin may change a user".into(),
            ));
        }
        refuse_admin_only(&body, is_admin)?;
        let input = UserInput::parse(&body, Mode::Update)?;
        let before = repo::audit_state(tx, id).await?.unwrap_or_default();
        repo::update(tx, id, &input).await?;
        let after = repo::audit_state(tx, id).await?.unwrap_or_default();
        let organisers = match is_admin {
            true => None,
            false => repo::organisers_name(tx).await?,
        };
        guard_organisers(is_admin, organisers.as_deref(), &before, &after)?;
        let changes = Changes::between(&before, &after);
        audit.record(tx, Action::Update, id, &changes).await?;
        let row = repo::find(tx, id)
            .await?
            .ok_or_else(|| Error::not_found("user"))?;
        view(tx, row, Visibility::Detail).await
    })
    .await?;
    Ok(Json(detail))
}

/// `DELETE /users/{id}`: admins only; positions, teams and SNS accounts go with it.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    operation_id = "users_delete",
    tag = "users",
    summary = "Delete a user",
    description = "Admins only. The user's positions, teams and SNS accounts go with it.",
    params(("id" = i32, Path, minimum = 1, description = "The user's id.")),
    security(("waffle_sso" = [])),
    responses(
        Deleted,
        AdminErrors,
        (status = 404, description = "No such user.", body = ErrorBody),
        BadId,
    ),
)]
async fn remove(Admin(mut admin): Admin, PathId(id): PathId) -> Result<StatusCode, Error> {
    // Locked first, as in `update`: of racing deletes one wins and the others find no
    // user (404, no second entry), and the entry holds the user as last written.
    let lock = async |tx: &mut MySqlConnection, id| {
        if repo::lock(tx, id).await? {
            repo::audit_state(tx, id).await
        } else {
            Ok(None)
        }
    };
    let delete = async |tx: &mut MySqlConnection, id| repo::delete(tx, id).await.map(drop);
    admin.delete_audited(Entity::User, id, lock, delete).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's entries about users.
fn audit_of(identity: &Identity) -> Audit {
    Audit::new(Actor::User(identity.sso_id.clone()), Entity::User)
}

/// One user's view with its links (three more queries).
async fn view(
    conn: &mut MySqlConnection,
    row: UserRow,
    visibility: Visibility,
) -> Result<UserView, Error> {
    let mut links = repo::links(conn, &[row.summary.id]).await?;
    Ok(UserView::new(row, &mut links, visibility))
}
