//! SQL for teams and their memberships. Writes take the caller's connection (a
//! transaction), so that the write and its audit entry commit together.

use shared::Error;
use shared::domain::audit::Action;
use shared::platform::db::row_exists;
use sqlx::MySqlConnection;

use crate::model::{TeamMember, TeamRow, TeamSummary};

/// Every team with its number of members, in id order: one query, whatever the number
/// of teams and members.
pub async fn list(conn: &mut MySqlConnection) -> Result<Vec<TeamSummary>, Error> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.name, t.introduction, \
             (SELECT COUNT(*) FROM team_user_association a WHERE a.team_id = t.id) \
             AS member_count \
         FROM team t ORDER BY t.id",
    )
    .fetch_all(conn)
    .await?)
}

pub async fn find(conn: &mut MySqlConnection, id: i32) -> Result<Option<TeamRow>, Error> {
    Ok(
        sqlx::query_as("SELECT id, name, introduction FROM team WHERE id = ?")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Team `id`, locked until the transaction ends, so that concurrent changes of one team
/// queue and each audit entry's old values are the previous new ones.
pub async fn lock(conn: &mut MySqlConnection, id: i32) -> Result<Option<TeamRow>, Error> {
    Ok(
        sqlx::query_as("SELECT id, name, introduction FROM team WHERE id = ? FOR UPDATE")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// The members of team `id`, in user id order: one query, whatever their number.
pub async fn members(conn: &mut MySqlConnection, id: i32) -> Result<Vec<TeamMember>, Error> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.username, u.first_name, u.last_name, u.image_url \
         FROM team_user_association a JOIN `user` u ON u.id = a.user_id \
         WHERE a.team_id = ? ORDER BY u.id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// Inserts a team and returns its id.
pub async fn insert(
    conn: &mut MySqlConnection,
    name: &str,
    introduction: Option<&str>,
) -> Result<i32, Error> {
    let result = sqlx::query("INSERT INTO team (name, introduction) VALUES (?, ?)")
        .bind(name)
        .bind(introduction)
        .execute(conn)
        .await?;
    Ok(i32::try_from(result.last_insert_id()).map_err(anyhow::Error::from)?)
}

/// Stores `row`'s name and introduction.
pub async fn update(conn: &mut MySqlConnection, row: &TeamRow) -> Result<(), Error> {
    sqlx::query("UPDATE team SET name = ?, introduction = ? WHERE id = ?")
        .bind(&row.name)
        .bind(&row.introduction)
        .bind(row.id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes team `id`; its memberships go with it (the foreign key cascades).
pub async fn delete(conn: &mut MySqlConnection, id: i32) -> Result<(), Error> {
    sqlx::query("DELETE FROM team WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether team `id` exists; it then cannot be deleted before the transaction ends.
pub async fn hold_team(conn: &mut MySqlConnection, id: i32) -> Result<bool, Error> {
    row_exists(
        conn,
        "SELECT id FROM team WHERE id = ? LOCK IN SHARE MODE",
        id,
    )
    .await
}

/// Whether user `id` exists; it then cannot be deleted before the transaction ends.
pub async fn hold_user(conn: &mut MySqlConnection, id: i32) -> Result<bool, Error> {
    row_exists(
        conn,
        "SELECT id FROM `user` WHERE id = ? LOCK IN SHARE MODE",
        id,
    )
    .await
}

/// Adds user `user_id` to team `team_id` (`Action::Add`) or ends that membership
/// (`Action::Remove`); `false` if there was nothing to do: already a member (the primary
/// key leaves the existing row as it is, also against a racing request), or not one.
/// Hold both rows first (`hold_team`, `hold_user`): `IGNORE` would also quietly skip a
/// row whose team or user is gone.
pub async fn change_membership(
    conn: &mut MySqlConnection,
    action: Action,
    team_id: i32,
    user_id: i32,
) -> Result<bool, Error> {
    let sql = match action {
        Action::Remove => "DELETE FROM team_user_association WHERE team_id = ? AND user_id = ?",
        _ => "INSERT IGNORE INTO team_user_association (team_id, user_id) VALUES (?, ?)",
    };
    let result = sqlx::query(sql)
        .bind(team_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}
