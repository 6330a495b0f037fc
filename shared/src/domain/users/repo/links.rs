//! What users link to (positions, SNS accounts, teams), for a page of users at once.

use sqlx::{MySql, MySqlConnection, QueryBuilder};

use crate::domain::users::view::{Links, NamedRef, SnsView};
use crate::platform::error::Error;

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
