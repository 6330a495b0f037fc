//! The directory's list: its filters, a page of summaries with the number of matches,
//! and the version that tells a cached answer is still current.

use sqlx::{MySql, MySqlConnection, QueryBuilder};

use crate::platform::error::Error;

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
/// A first page (no cursor) carries the count on each row, from an uncorrelated scalar
/// subquery that the server evaluates once: one round trip instead of two. (It replaced
/// `COUNT(*) OVER ()`, which made MariaDB copy every matching row to a temporary table
/// and sort it: 2.8 ms against 0.66 ms for the 1,000-user page, docs/perf/2026-12-04-list-cache.md.) A
/// later page narrows the rows with its cursor, so there the count is a query of its own.
pub async fn list(
    conn: &mut MySqlConnection,
    filter: &Filter,
    after_id: Option<i32>,
    limit: Option<u32>,
) -> Result<(Vec<SummaryRow>, i64), Error> {
    let mut sql = QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS}"));
    if after_id.is_none() {
        // The inner `u` shadows the outer one, so the filter reads the same in both.
        sql.push(", (SELECT COUNT(*) FROM `user` u");
        filter.push_where(&mut sql);
        sql.push(") AS total");
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
