//! What users link to (positions, SNS accounts, teams), for a page of users at once.

use sqlx::{MySql, MySqlConnection, QueryBuilder};

use crate::domain::users::view::{Links, NamedRef, SnsView};
use crate::platform::error::Error;

/// The positions, SNS accounts and teams of `ids` (ascending): one query (a round trip,
/// not three), whatever their number.
pub async fn links(conn: &mut MySqlConnection, ids: &[i32]) -> Result<Links, Error> {
    let Some(users) = Users::of(ids) else {
        return Ok(Links::default());
    };
    // Kind 0: positions, 1: SNS accounts (by their own id), 2: teams.
    let mut sql = QueryBuilder::new(
        "SELECT 0 AS kind, pua.user_id, p.id, p.name, NULL AS url \
         FROM position_user_association pua JOIN `position` p ON p.id = pua.position_id \
         WHERE pua.user_id",
    );
    users.condition(&mut sql);
    sql.push(" UNION ALL SELECT 1, user_id, id, name, url FROM sns_account WHERE user_id");
    users.condition(&mut sql);
    sql.push(
        " UNION ALL SELECT 2, tua.user_id, t.id, t.name, NULL \
         FROM team_user_association tua JOIN team t ON t.id = tua.team_id WHERE tua.user_id",
    );
    users.condition(&mut sql);
    sql.push(" ORDER BY kind, id");
    let rows: Vec<(i64, i32, i32, String, Option<String>)> =
        sql.build_query_as().fetch_all(conn).await?;
    let mut links = Links::default();
    for (kind, user_id, id, name, url) in rows {
        match kind {
            1 => links
                .sns_accounts
                .entry(user_id)
                .or_default()
                .push(SnsView {
                    name,
                    url: url.unwrap_or_default(),
                }),
            2 => links
                .teams
                .entry(user_id)
                .or_default()
                .push(NamedRef { id, name }),
            _ => links
                .positions
                .entry(user_id)
                .or_default()
                .push(NamedRef { id, name }),
        }
    }
    Ok(links)
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

    /// Appends the condition on the user ids: a range when dense, else a list.
    fn condition(&self, sql: &mut QueryBuilder<MySql>) {
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
    }
}
