//! `GET /api/v1/health` (liveness, no database) and `GET /api/v1/health/ready`
//! (database reachable and every migration applied).

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use shared::platform::openapi::{ErrorBody, TokenDenied};
use shared::{AppState, Error, platform::migrations};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

shared::router_and_openapi!();

/// `GET /api/v1/health` with a trailing slash, which the old server also answered: the
/// same answer, outside the document (OpenAPI tools refuse a path ending in `/`, Redocly's
/// `no-path-trailing-slash`); `live`'s description names it.
pub const LIVE_WITH_SLASH: &str = "/api/v1/health/";

/// The routes and their documentation, registered together so that they cannot diverge.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(live))
        .route(LIVE_WITH_SLASH, get(live))
        .routes(routes!(ready))
}

/// The process answers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HealthLive)]
pub struct Live {
    #[schema(examples("OK"))]
    status: &'static str,
}

#[utoipa::path(
    get,
    path = "/api/v1/health",
    operation_id = "health_live",
    tag = "health",
    summary = "Liveness",
    description = "Answers without touching the database. `GET /api/v1/health/`, with a trailing slash, answers the same.",
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "The function runs.", body = Live),
        TokenDenied,
    ),
)]
// Public: deployed, the docs function serves `GET /api/v1/health/` with it (HTTP APIs do
// not keep a route path ending in "/"; docs::default_route).
pub async fn live() -> Json<Live> {
    Json(Live { status: "OK" })
}

/// The database is reachable and every migration is applied.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HealthReady)]
struct Ready {
    #[schema(examples("OK"))]
    status: &'static str,
    #[schema(examples("OK"))]
    database: &'static str,
    /// The latest applied schema revision.
    schema_version: i64,
}

#[utoipa::path(
    get,
    path = "/api/v1/health/ready",
    operation_id = "health_ready",
    tag = "health",
    summary = "Readiness",
    description = "The database is reachable and every migration is applied.",
    security((), ("waffle_sso" = [])),
    responses(
        (status = 200, description = "Ready.", body = Ready),
        (status = 503, description = "The database is unreachable, or migrations are pending.", body = ErrorBody, headers(("Retry-After" = u32))),
        TokenDenied,
    ),
)]
async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, Error> {
    // Anonymous callers learn only which of the two reasons holds; the cause (SQL,
    // hosts, connection errors, repair steps) goes to the log.
    let unreachable = |cause: &dyn std::fmt::Display| {
        tracing::warn!(%cause, "not ready: the database is unreachable");
        Error::Unavailable(DATABASE_UNREACHABLE.into())
    };
    let pool = state.db.pool().await.map_err(|e| unreachable(&e))?;
    let mut conn = pool.acquire().await.map_err(|e| unreachable(&e))?;
    let status = match migrations::status(&mut conn).await {
        Ok(status) => status,
        Err(migrations::MigrateError::Database(e)) => return Err(unreachable(&e)),
        Err(other) => {
            tracing::warn!(cause = %other, "not ready: the schema cannot be read");
            return Err(Error::Unavailable(MIGRATIONS_PENDING.into()));
        }
    };
    if !status.pending.is_empty() || status.dirty.is_some() {
        tracing::warn!(pending = ?status.pending, dirty = ?status.dirty, "not ready: migrations pending");
        return Err(Error::Unavailable(MIGRATIONS_PENDING.into()));
    }
    Ok(Json(Ready {
        status: "OK",
        database: "OK",
        schema_version: status.current.unwrap_or(0),
    }))
}

/// The only two answers a not-ready service gives (docs/api.md, "Health and docs").
const DATABASE_UNREACHABLE: &str = "not ready: the database is unreachable";
const MIGRATIONS_PENDING: &str = "not ready: migrations are pending";
