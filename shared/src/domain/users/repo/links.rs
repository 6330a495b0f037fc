//! What users link to (positions, SNS accounts, teams), for a page of users at once.

use std::collections::HashMap;

use sqlx::mysql::MySqlRow;
use sqlx::{FromRow, MySql, MySqlConnection, QueryBuilder};

use crate::domain::users::view::{Links, NamedRef, SnsView};
use crate::platform::error::Error;

/// The positions, SNS accounts and teams of `ids` (ascending): three queries, whatever
/// their number.
pub async fn links(conn: &mut MySqlConnection, ids: &[i32]) -> Result<Links, Error> {
    let Some(users) = Users::of(ids) else {
        return Ok(Links::default());
    };
    let positions = users
        .load(
            conn,
            "SELECT pua.user_id, p.id, p.name FROM position_user_association pua \
             JOIN `position` p ON p.id = pua.position_id WHERE pua.user_id",
            " ORDER BY p.id",
            named,
        )
        .await?;
    let sns_accounts = users
        .load(
            conn,
            "SELECT user_id, name, url FROM sns_account WHERE user_id",
            " ORDER BY id",
            |(user_id, name, url): (i32, String, String)| (user_id, SnsView { name, url }),
        )
        .await?;
    let teams = users
        .load(
            conn,
            "SELECT tua.user_id, t.id, t.name FROM team_user_association tua \
             JOIN team t ON t.id = tua.team_id WHERE tua.user_id",
            " ORDER BY t.id",
            named,
        )
        .await?;
    Ok(Links {
        positions,
        sns_accounts,
        teams,
    })
}

/// A `(user id, position or team)` row.
fn named((user_id, id, name): (i32, i32, String)) -> (i32, NamedRef) {
    (user_id, NamedRef { id, name })
}

/// The users whose links load, and how a query selects them.
struct Users<'a> {
    ids: &'a [i32],
    /// A page of the list is usually a dense run of ids: then `BETWEEN` (one statement
    /// text, prepared once per connection) beats an `IN` list of up to 1,000 binds.
    /// Links of users inside the range but not on the page are fetched and dropped.
    dense: bool,
}

impl<'a> Users<'a> {
    /// `None` for no users.
    fn of(ids: &'a [i32]) -> Option<Self> {
        let (first, last) = (*ids.first()?, *ids.last()?);
        let dense = i64::from(last) - i64::from(first) < 2 * ids.len() as i64;
        Some(Self { ids, dense })
    }

    /// The rows of `head`, a condition on the user ids and `tail`, each made a
    /// `(user id, entry)` by `entry` and grouped by user, in the order read.
    async fn load<R, T>(
        &self,
        conn: &mut MySqlConnection,
        head: &str,
        tail: &str,
        entry: impl Fn(R) -> (i32, T),
    ) -> Result<HashMap<i32, Vec<T>>, Error>
    where
        R: for<'r> FromRow<'r, MySqlRow> + Send + Unpin,
    {
        let rows: Vec<R> = self
            .query(head, tail)
            .build_query_as()
            .fetch_all(&mut *conn)
            .await?;
        let mut grouped: HashMap<i32, Vec<T>> = HashMap::new();
        for (user_id, item) in rows.into_iter().map(entry) {
            grouped.entry(user_id).or_default().push(item);
        }
        Ok(grouped)
    }

    /// `head` followed by a condition on the user ids: a range when dense, else a list.
    fn query(&self, head: &str, tail: &str) -> QueryBuilder<MySql> {
        let mut sql = QueryBuilder::new(head);
        match (self.dense, self.ids.first(), self.ids.last()) {
            (true, Some(&first), Some(&last)) => {
                sql.push(" BETWEEN ")
                    .push_bind(first)
                    .push(" AND ")
                    .push_bind(last);
            }
            _ => {
                sql.push(" IN (");
                let mut list = sql.separated(", ");
                for id in self.ids {
                    list.push_bind(*id);
                }
                sql.push(")");
            }
        }
        sql.push(tail);
        sql
    }
}
