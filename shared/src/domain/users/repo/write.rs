//! Writes: a user's insert, its partial update (columns, positions, SNS accounts) and
//! its delete, on a connection (usually a transaction) the caller holds.

use sqlx::{MySql, MySqlConnection, QueryBuilder};

use crate::domain::users::input::{Patch, SnsAccount, UserInput};
use crate::platform::error::{Error, FieldError};

/// Inserts a user registered by `sso_id` (none for a Slack-synced row); returns its id.
/// Uniqueness (SSO id, username, Slack id) is the database's to enforce: a duplicate
/// becomes a 409. Flags not in `input` start as: not a rookie, not a member, active,
/// not an admin.
pub async fn create(
    conn: &mut MySqlConnection,
    sso_id: Option<&str>,
    input: &UserInput,
) -> Result<i32, Error> {
    let text = |patch: &Patch<String>| match patch {
        Patch::Set(v) => v.clone(),
        _ => String::new(),
    };
    let result = sqlx::query(
        "INSERT INTO `user` (sso_id, first_name, last_name, is_rookie, is_member, is_active, is_admin) \
         VALUES (?, ?, ?, FALSE, FALSE, TRUE, FALSE)",
    )
    .bind(sso_id)
    .bind(text(&input.first_name))
    .bind(text(&input.last_name))
    .execute(&mut *conn)
    .await?;
    let id = i32::try_from(result.last_insert_id())
        .map_err(|_| Error::Internal(anyhow::anyhow!("user id out of range")))?;
    update(conn, id, input).await?;
    Ok(id)
}

/// Applies the present fields of `input` to user `id`.
pub async fn update(conn: &mut MySqlConnection, id: i32, input: &UserInput) -> Result<(), Error> {
    let scalars = scalar_updates(input);
    if !scalars.is_empty() {
        let mut sql = QueryBuilder::new("UPDATE `user` SET ");
        for (i, (column, value)) in scalars.into_iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push(column).push(" = ");
            value.push(&mut sql);
        }
        sql.push(" WHERE id = ").push_bind(id);
        sql.build().execute(&mut *conn).await?;
    }
    write_links(conn, id, input).await
}

/// Deletes user `id`; its links go with it (foreign keys cascade). `false` if none.
pub async fn delete(conn: &mut MySqlConnection, id: i32) -> Result<bool, Error> {
    let result = sqlx::query("DELETE FROM `user` WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// A column value to bind: text (or NULL) or a flag.
enum Bound {
    Text(Option<String>),
    Flag(bool),
}

impl Bound {
    fn push(self, sql: &mut QueryBuilder<MySql>) {
        match self {
            Self::Text(v) => sql.push_bind(v),
            Self::Flag(v) => sql.push_bind(v),
        };
    }
}

/// The scalar columns `input` changes, with their new values.
fn scalar_updates(input: &UserInput) -> Vec<(&'static str, Bound)> {
    let texts: [(&'static str, &Patch<String>); 16] = [
        ("username", &input.username),
        ("first_name", &input.first_name),
        ("last_name", &input.last_name),
        ("image_url", &input.image_url),
        ("department", &input.department),
        ("college", &input.college),
        ("phone_number", &input.phone_number),
        ("github_id", &input.github_id),
        ("github_email", &input.github_email),
        ("slack_email", &input.slack_email),
        ("notion_email", &input.notion_email),
        ("apple_email", &input.apple_email),
        ("introduction", &input.introduction),
        ("generation", &input.generation),
        ("slack_id", &input.slack_id),
        ("sso_id", &input.sso_id),
    ];
    let flags: [(&'static str, &Patch<bool>); 4] = [
        ("is_rookie", &input.is_rookie),
        ("is_member", &input.is_member),
        ("is_active", &input.is_active),
        ("is_admin", &input.is_admin),
    ];
    let mut out = Vec::new();
    for (column, patch) in texts {
        if let Some(value) = patch.as_update() {
            out.push((column, Bound::Text(value.cloned())));
        }
    }
    for (column, patch) in flags {
        if let Patch::Set(value) = patch {
            out.push((column, Bound::Flag(*value)));
        }
    }
    out
}

/// Replaces the positions and SNS accounts that `input` names.
async fn write_links(conn: &mut MySqlConnection, id: i32, input: &UserInput) -> Result<(), Error> {
    if let Some(names) = input.positions.as_update() {
        let names: &[String] = names.map_or(&[], Vec::as_slice);
        set_positions(conn, id, names).await?;
    }
    if let Some(accounts) = input.sns_accounts.as_update() {
        let accounts: &[SnsAccount] = accounts.map_or(&[], Vec::as_slice);
        sqlx::query("DELETE FROM sns_account WHERE user_id = ?")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        if !accounts.is_empty() {
            let mut sql = QueryBuilder::new("INSERT INTO sns_account (user_id, name, url) ");
            sql.push_values(accounts, |mut row, account| {
                row.push_bind(id)
                    .push_bind(account.name.clone())
                    .push_bind(account.url.clone());
            });
            sql.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Makes `names` the user's positions. Every name must be an existing position
/// (compared as MySQL compares them: case-insensitively); an unknown one is a 422.
pub async fn set_positions(
    conn: &mut MySqlConnection,
    user_id: i32,
    names: &[String],
) -> Result<(), Error> {
    let known: Vec<(i32, String)> = if names.is_empty() {
        Vec::new()
    } else {
        let mut sql = QueryBuilder::new("SELECT id, name FROM `position` WHERE name IN (");
        let mut list = sql.separated(", ");
        for name in names {
            list.push_bind(name.clone());
        }
        sql.push(")");
        sql.build_query_as().fetch_all(&mut *conn).await?
    };
    let unknown: Vec<FieldError> = names
        .iter()
        .enumerate()
        .filter(|(_, name)| {
            !known
                .iter()
                .any(|(_, k)| k.to_lowercase() == name.to_lowercase())
        })
        .map(|(i, name)| {
            FieldError::body_item(
                "positions",
                i,
                format!("Unknown position {name:?}"),
                "unknown_position",
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(Error::Validation(unknown));
    }
    sqlx::query("DELETE FROM position_user_association WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    if !known.is_empty() {
        let mut sql =
            QueryBuilder::new("INSERT INTO position_user_association (position_id, user_id) ");
        sql.push_values(&known, |mut row, (position_id, _)| {
            row.push_bind(*position_id).push_bind(user_id);
        });
        sql.build().execute(&mut *conn).await?;
    }
    Ok(())
}
