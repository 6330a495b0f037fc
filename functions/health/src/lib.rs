//! `GET /api/v1/health` (liveness, no database) and `GET /api/v1/health/ready`
//! (database reachable and every migration applied).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use shared::{AppState, Error, migrations};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(live))
        .route("/api/v1/health/", get(live))
        .route("/api/v1/health/ready", get(ready))
        .with_state(state)
}

#[derive(Debug, Serialize)]
struct Live {
    status: &'static str,
}

async fn live() -> Json<Live> {
    Json(Live { status: "OK" })
}

#[derive(Debug, Serialize)]
struct Ready {
    status: &'static str,
    database: &'static str,
    schema_version: i64,
}

async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, Error> {
    let pool = state.db.pool().await?;
    let mut conn = pool.acquire().await?;
    let status = migrations::status(&mut conn).await.map_err(|e| match e {
        migrations::MigrateError::Database(db) => Error::from(db),
        other => Error::Unavailable(format!("schema not ready: {other}")),
    })?;
    if !status.pending.is_empty() || status.dirty.is_some() {
        return Err(Error::Unavailable(format!(
            "migrations pending: {:?}",
            status.pending
        )));
    }
    Ok(Json(Ready {
        status: "OK",
        database: "OK",
        schema_version: status.current.unwrap_or(0),
    }))
}
