//! SQL for positions. Writes take the caller's connection (a transaction), so that the
//! write and its audit entry commit together.

use shared::Error;
use sqlx::MySqlConnection;

use crate::model::{Position, PositionSummary};

/// Every position with the number of its holders, in id order: one query, whatever the
/// number of positions and users.
pub async fn list(conn: &mut MySqlConnection) -> Result<Vec<PositionSummary>, Error> {
    Ok(sqlx::query_as(
        "SELECT p.id, p.name, \
             (SELECT COUNT(*) FROM position_user_association a WHERE a.position_id = p.id) \
             AS user_count \
         FROM `position` p ORDER BY p.id",
    )
    .fetch_all(conn)
    .await?)
}

/// Inserts a position and returns its id. A taken name meets the unique key (409).
pub async fn insert(conn: &mut MySqlConnection, name: &str) -> Result<i32, Error> {
    let result = sqlx::query("INSERT INTO `position` (name) VALUES (?)")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(i32::try_from(result.last_insert_id()).map_err(anyhow::Error::from)?)
}

/// Position `id`, locked until the transaction ends (so that concurrent renames queue,
/// and each audit entry's old name is the previous new one). `None` if there is no such
/// position.
pub async fn lock(conn: &mut MySqlConnection, id: i32) -> Result<Option<Position>, Error> {
    Ok(
        sqlx::query_as("SELECT id, name FROM `position` WHERE id = ? FOR UPDATE")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Renames position `id`. A name another position holds meets the unique key (409).
pub async fn rename(conn: &mut MySqlConnection, id: i32, name: &str) -> Result<(), Error> {
    sqlx::query("UPDATE `position` SET name = ? WHERE id = ?")
        .bind(name)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes position `id`; its links to users go with it (the foreign key cascades).
pub async fn delete(conn: &mut MySqlConnection, id: i32) -> Result<(), Error> {
    sqlx::query("DELETE FROM `position` WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
