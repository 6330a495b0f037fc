//! SQL for users: reads that load a page and its links in a fixed number of queries
//! (`list`, `links`), and writes that take a connection (usually a transaction) from the
//! caller (`write`). Here: one user's row, the caller's registration, the row lock and
//! what the audit log records.

mod links;
mod list;
mod write;

use sqlx::{AssertSqlSafe, MySqlConnection};

use crate::domain::users::view::UserDetail;
use crate::platform::db::row_exists;
use crate::platform::error::Error;

pub use links::links;
pub use list::{Filter, SummaryRow, count, directory_version, list};
pub use write::{create, delete, set_positions, update};

/// A row of `user`: the public summary's columns and the detail's, each read by name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    #[sqlx(flatten)]
    pub summary: SummaryRow,
    #[sqlx(flatten)]
    pub detail: UserDetail,
}

const COLUMNS: &str = "u.id, u.sso_id, u.username, u.image_url, u.first_name, u.last_name, \
    u.department, u.college, u.phone_number, u.github_id, u.github_email, u.slack_id, \
    u.slack_email, u.notion_email, u.apple_email, u.is_rookie, u.is_member, u.is_active, \
    u.is_admin, u.introduction, u.generation, u.created_at, u.updated_at";

/// Who the caller is in the directory, if registered.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Registered {
    pub id: i32,
    pub is_admin: bool,
}

pub async fn registered(
    conn: &mut MySqlConnection,
    sso_id: &str,
) -> Result<Option<Registered>, Error> {
    Ok(
        sqlx::query_as("SELECT id, is_admin FROM `user` WHERE sso_id = ?")
            .bind(sso_id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn find(conn: &mut MySqlConnection, id: i32) -> Result<Option<UserRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM `user` u WHERE u.id = ?");
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub async fn find_by_sso(
    conn: &mut MySqlConnection,
    sso_id: &str,
) -> Result<Option<UserRow>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM `user` u WHERE u.sso_id = ?");
    Ok(sqlx::query_as(AssertSqlSafe(sql))
        .bind(sso_id)
        .fetch_optional(conn)
        .await?)
}

/// Locks user `id` for the rest of the transaction, so that concurrent updates of one
/// user run one after another (and each audit entry's old values are the previous new
/// ones). `false` if there is no such user.
pub async fn lock(conn: &mut MySqlConnection, id: i32) -> Result<bool, Error> {
    row_exists(conn, "SELECT id FROM `user` WHERE id = ? FOR UPDATE", id).await
}

/// The name the organisers' position (운영팀 as seeded by revision 4 and marked by
/// revision 8) has now, found by its id; `None` once it was deleted.
pub async fn organisers_name(conn: &mut MySqlConnection) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT p.`name` FROM `organisers_position` o \
         JOIN `position` p ON p.`id` = o.`position_id` WHERE o.`id` = 1",
    )
    .fetch_optional(conn)
    .await?)
}

/// What the audit log records of user `id`: every writable field, and the names of
/// its positions and its SNS accounts. `None` if there is no such user.
pub async fn audit_state(
    conn: &mut MySqlConnection,
    id: i32,
) -> Result<Option<serde_json::Value>, Error> {
    let Some(row) = find(conn, id).await? else {
        return Ok(None);
    };
    let links = links(conn, &[id]).await?;
    let positions: Vec<&str> = links
        .positions
        .get(&id)
        .map(|p| p.iter().map(|p| p.name.as_str()).collect())
        .unwrap_or_default();
    let sns_accounts = links.sns_accounts.get(&id).cloned().unwrap_or_default();
    let (summary, detail) = (row.summary, row.detail);
    Ok(Some(serde_json::json!({
        "username": summary.username,
        "first_name": summary.first_name,
        "last_name": summary.last_name,
        "image_url": summary.image_url,
        "department": detail.department,
        "college": detail.college,
        "phone_number": detail.phone_number,
        "github_id": summary.github_id,
        "github_email": detail.github_email,
        "slack_id": summary.slack_id,
        "slack_email": detail.slack_email,
        "notion_email": detail.notion_email,
        "apple_email": detail.apple_email,
        "introduction": summary.introduction,
        "generation": summary.generation,
        "sso_id": detail.sso_id,
        "is_rookie": detail.is_rookie,
        "is_member": summary.is_member,
        "is_active": summary.is_active,
        "is_admin": detail.is_admin,
        "positions": positions,
        "sns_accounts": sns_accounts,
    })))
}
