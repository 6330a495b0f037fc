//! SQL for users: reads that load a page and its links in a fixed number of queries, and
//! writes that take a connection (usually a transaction) from the caller.

use sqlx::{AssertSqlSafe, MySql, MySqlConnection, QueryBuilder};
use time::PrimitiveDateTime;

use super::input::{Patch, SnsAccount, UserInput};
use super::view::{Links, NamedRef, SnsView};
use crate::error::{Error, FieldError};

/// A row of `user`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i32,
    pub sso_id: Option<String>,
    pub username: Option<String>,
    pub image_url: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub department: Option<String>,
    pub college: Option<String>,
    pub phone_number: Option<String>,
    pub github_id: Option<String>,
    pub github_email: Option<String>,
    pub slack_id: Option<String>,
    pub slack_email: Option<String>,
    pub notion_email: Option<String>,
    pub apple_email: Option<String>,
    pub is_rookie: bool,
    pub is_member: bool,
    pub is_active: bool,
    pub is_admin: bool,
    pub introduction: Option<String>,
    pub generation: Option<String>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
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

/// Filters of `GET /users`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub position: Option<String>,
    pub generation: Option<String>,
    pub is_active: Option<bool>,
    pub is_member: Option<bool>,
    /// Substring of first name, last name or username.
    pub q: Option<String>,
}

impl Filter {
    fn push_where(&self, sql: &mut QueryBuilder<MySql>) {
        sql.push(" WHERE 1 = 1");
        if let Some(position) = &self.position {
            sql.push(
                " AND EXISTS (SELECT 1 FROM position_user_association pua \
                 JOIN `position` p ON p.id = pua.position_id \
                 WHERE pua.user_id = u.id AND p.name = ",
            )
            .push_bind(position.clone())
            .push(")");
        }
        if let Some(generation) = &self.generation {
            sql.push(" AND u.generation = ")
                .push_bind(generation.clone());
        }
        if let Some(is_active) = self.is_active {
            sql.push(" AND u.is_active = ").push_bind(is_active);
        }
        if let Some(is_member) = self.is_member {
            sql.push(" AND u.is_member = ").push_bind(is_member);
        }
        if let Some(q) = &self.q {
            let pattern = format!("%{}%", escape_like(q));
            sql.push(" AND (u.first_name LIKE ")
                .push_bind(pattern.clone())
                .push(" OR u.last_name LIKE ")
                .push_bind(pattern.clone())
                .push(" OR u.username LIKE ")
                .push_bind(pattern)
                .push(")");
        }
    }
}

/// `%`, `_` and `\` in a search match themselves.
fn escape_like(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The columns of the public summary: a list reads only these.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SummaryRow {
    pub id: i32,
    pub username: Option<String>,
    pub image_url: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub github_id: Option<String>,
    pub slack_id: Option<String>,
    pub introduction: Option<String>,
    pub generation: Option<String>,
    pub is_active: bool,
    pub is_member: bool,
    /// How many users match the filter, on every row of a first page (see `list`).
    #[sqlx(default)]
    pub total: Option<i64>,
}

const SUMMARY_COLUMNS: &str = "u.id, u.username, u.image_url, u.first_name, u.last_name, \
    u.github_id, u.slack_id, u.introduction, u.generation, u.is_active, u.is_member";

/// A page of matching users after `after_id`, in id order, at most `limit` of them,
/// and how many users match the filter whatever the page.
///
/// A first page (no cursor) carries the count on each row (`COUNT(*) OVER ()` is taken
/// before `LIMIT`): one round trip instead of two. A later page narrows the rows with
/// its cursor, so there the count is a query of its own.
pub async fn list(
    conn: &mut MySqlConnection,
    filter: &Filter,
    after_id: Option<i32>,
    limit: Option<u32>,
) -> Result<(Vec<SummaryRow>, i64), Error> {
    let mut sql = QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS}"));
    if after_id.is_none() {
        sql.push(", COUNT(*) OVER () AS total");
    }
    sql.push(" FROM `user` u");
    filter.push_where(&mut sql);
    if let Some(after) = after_id {
        sql.push(" AND u.id > ").push_bind(after);
    }
    sql.push(" ORDER BY u.id");
    if let Some(limit) = limit {
        sql.push(" LIMIT ").push_bind(limit);
    }
    let rows: Vec<SummaryRow> = sql.build_query_as().fetch_all(&mut *conn).await?;
    let total = match (after_id, rows.first()) {
        (None, Some(first)) => first.total.unwrap_or_default(),
        // No row without a cursor: nothing matches.
        (None, None) => 0,
        (Some(_), _) => count(conn, filter).await?,
    };
    Ok((rows, total))
}

/// The directory version (migration 0007): moved by every write that changes what
/// `GET /users` shows.
pub async fn directory_version(conn: &mut MySqlConnection) -> Result<u64, Error> {
    Ok(
        sqlx::query_scalar("SELECT `version` FROM `directory_version` WHERE `id` = 1")
            .fetch_one(conn)
            .await?,
    )
}

/// How many users match, whatever the page.
pub async fn count(conn: &mut MySqlConnection, filter: &Filter) -> Result<i64, Error> {
    let mut sql = QueryBuilder::new("SELECT COUNT(*) FROM `user` u");
    filter.push_where(&mut sql);
    Ok(sql.build_query_scalar().fetch_one(conn).await?)
}

/// The positions, SNS accounts and teams of `ids` (ascending): three queries, whatever
/// their number.
pub async fn links(conn: &mut MySqlConnection, ids: &[i32]) -> Result<Links, Error> {
    let mut links = Links::default();
    let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
        return Ok(links);
    };
    // A page of the list is usually a dense run of ids: then `BETWEEN` (one statement
    // text, prepared once per connection) beats an `IN` list of up to 1,000 binds.
    // Links of users inside the range but not on the page are fetched and dropped.
    let dense = i64::from(last) - i64::from(first) < 2 * ids.len() as i64;
    let rows: Vec<(i32, i32, String)> = for_users(
        "SELECT pua.user_id, p.id, p.name FROM position_user_association pua \
         JOIN `position` p ON p.id = pua.position_id WHERE pua.user_id",
        ids,
        dense,
        " ORDER BY p.id",
    )
    .build_query_as()
    .fetch_all(&mut *conn)
    .await?;
    for (user_id, id, name) in rows {
        links
            .positions
            .entry(user_id)
            .or_default()
            .push(NamedRef { id, name });
    }
    let rows: Vec<(i32, String, String)> = for_users(
        "SELECT user_id, name, url FROM sns_account WHERE user_id",
        ids,
        dense,
        " ORDER BY id",
    )
    .build_query_as()
    .fetch_all(&mut *conn)
    .await?;
    for (user_id, name, url) in rows {
        links
            .sns_accounts
            .entry(user_id)
            .or_default()
            .push(SnsView { name, url });
    }
    let rows: Vec<(i32, i32, String)> = for_users(
        "SELECT tua.user_id, t.id, t.name FROM team_user_association tua \
         JOIN team t ON t.id = tua.team_id WHERE tua.user_id",
        ids,
        dense,
        " ORDER BY t.id",
    )
    .build_query_as()
    .fetch_all(&mut *conn)
    .await?;
    for (user_id, id, name) in rows {
        links
            .teams
            .entry(user_id)
            .or_default()
            .push(NamedRef { id, name });
    }
    Ok(links)
}

/// `head` followed by a condition on the user ids: a range when `dense`, else a list.
fn for_users(head: &str, ids: &[i32], dense: bool, tail: &str) -> QueryBuilder<MySql> {
    let mut sql = QueryBuilder::new(head);
    match (dense, ids.first(), ids.last()) {
        (true, Some(&first), Some(&last)) => {
            sql.push(" BETWEEN ")
                .push_bind(first)
                .push(" AND ")
                .push_bind(last);
        }
        _ => {
            sql.push(" IN (");
            let mut list = sql.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            sql.push(")");
        }
    }
    sql.push(tail);
    sql
}

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

/// Locks user `id` for the rest of the transaction, so that concurrent updates of one
/// user run one after another (and each audit entry's old values are the previous new
/// ones). `false` if there is no such user.
pub async fn lock(conn: &mut MySqlConnection, id: i32) -> Result<bool, Error> {
    let found: Option<i32> = sqlx::query_scalar("SELECT id FROM `user` WHERE id = ? FOR UPDATE")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
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
    Ok(Some(serde_json::json!({
        "username": row.username,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "image_url": row.image_url,
        "department": row.department,
        "college": row.college,
        "phone_number": row.phone_number,
        "github_id": row.github_id,
        "github_email": row.github_email,
        "slack_id": row.slack_id,
        "slack_email": row.slack_email,
        "notion_email": row.notion_email,
        "apple_email": row.apple_email,
        "introduction": row.introduction,
        "generation": row.generation,
        "sso_id": row.sso_id,
        "is_rookie": row.is_rookie,
        "is_member": row.is_member,
        "is_active": row.is_active,
        "is_admin": row.is_admin,
        "positions": positions,
        "sns_accounts": sns_accounts,
    })))
}
