//! Audit log entries: the one query a page takes, and what the API shows of an entry.
//!
//! `shared::domain::audit::record` writes the entries, inside each writer's own transaction;
//! this is the only reader.

use serde::Serialize;
use serde_json::{Map, Value, json};
use shared::Error;
use shared::domain::audit::Entity;
use sqlx::{MySql, MySqlConnection, QueryBuilder};
use time::PrimitiveDateTime;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::query::{Cursor, Filter};

/// One entry: who changed what, when, and how.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Grows with every entry: the log's order.
    #[schema(examples(1042))]
    pub id: i64,
    /// When the entry was written (the write's time), RFC 3339 in UTC.
    #[schema(format = DateTime, examples("2026-11-29T01:02:03.456789Z"))]
    pub at: String,
    /// Who made the change: the caller's SSO id, or `slack-sync`.
    #[schema(examples("1234", "slack-sync"))]
    pub actor: String,
    /// `create`, `update` or `delete`; `add` and `remove` for a team membership or a
    /// position link.
    #[schema(examples("update"))]
    pub action: String,
    #[schema(value_type = AuditEntity)]
    pub entity: String,
    /// The id of the changed thing; `<team_id>:<user_id>` for a `team_member`.
    #[schema(examples("17", "3:17"))]
    pub entity_id: String,
    #[schema(schema_with = changes_schema)]
    pub changes: Value,
}

/// A page of the log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// The `cursor` of the next page (an opaque string: send it back as is); `null` on
    /// the last page.
    #[schema(required = true, examples("1001"))]
    pub next_cursor: Option<String>,
}

/// Documentation only: the entity names, `shared::domain::audit::Entity`'s.
pub struct AuditEntity;

impl PartialSchema for AuditEntity {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Entity::ALL.map(Entity::as_str)))
            .description(Some(
                "What kind of thing changed: a user, a position, a team, or a user's \
                 membership of a team.",
            ))
            .into()
    }
}

impl ToSchema for AuditEntity {}

/// `{field: [old, new]}`.
fn changes_schema() -> Object {
    let pair = ArrayBuilder::new()
        .items(Object::with_type(SchemaType::AnyValue))
        .min_items(Some(2))
        .max_items(Some(2))
        .description(Some(
            "`[old, new]`: the field's value before and after; `null` on the side where \
             the thing did not exist (a create, a delete) or the field was empty.",
        ));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(pair))
        .description(Some(
            "The fields the write changed, each as `[old, new]`. Always an object: should a \
             stored value ever fail to read as one, the entry shows `{}` (and the server \
             logs a warning).",
        ))
        .examples([json!({"last_name": ["김", "이"], "introduction": [null, "안녕하세요 🧇"]})])
        .build()
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: i64,
    at: PrimitiveDateTime,
    actor: String,
    action: String,
    entity: String,
    entity_id: String,
    changes: String,
}

/// Up to `limit` entries matching `filter`, below `cursor`, newest first: one statement.
///
/// With `entity_id` it reads the `audit_log_entity` index (`entity, entity_id, id`)
/// backwards from the cursor, with `actor` the `audit_log_actor` index (`actor, id`):
/// such a page costs about `limit` index entries however long the log. Without them the
/// server walks the primary key down from the cursor until the page is full.
pub async fn page(
    conn: &mut MySqlConnection,
    filter: &Filter,
    cursor: Option<Cursor>,
    limit: u32,
) -> Result<Vec<AuditEntry>, Error> {
    let mut sql = QueryBuilder::new("");
    push_select(&mut sql, filter, cursor, limit);
    let rows: Vec<EntryRow> = sql.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}

/// Appends the statement `page` runs to `sql`, values bound.
fn push_select(sql: &mut QueryBuilder<MySql>, filter: &Filter, cursor: Option<Cursor>, limit: u32) {
    // `changes` is JSON: LONGTEXT with a `utf8mb4_bin` collation in MariaDB (a binary
    // column to sqlx), a JSON column in MySQL 8; cast, it is text on both.
    sql.push(
        "SELECT id, at, actor, action, entity, entity_id, \
         CAST(changes AS CHAR CHARACTER SET utf8mb4) AS changes \
         FROM audit_log WHERE TRUE",
    );
    match (filter.entity, &filter.entity_id) {
        (Some(entity), _) => {
            sql.push(" AND entity = ").push_bind(entity.as_str());
        }
        // Every entry names a known entity (`record` takes an `Entity`); saying so lets
        // an `entity_id` alone use the entity index too.
        (None, Some(_)) => {
            sql.push(" AND entity IN (");
            let mut names = sql.separated(", ");
            for entity in Entity::ALL {
                names.push_bind(entity.as_str());
            }
            sql.push(")");
        }
        (None, None) => {}
    }
    if let Some(entity_id) = &filter.entity_id {
        sql.push(" AND entity_id = ").push_bind(entity_id.as_str());
    }
    if let Some(actor) = &filter.actor {
        sql.push(" AND actor = ").push_bind(actor.as_str());
    }
    if let Some(cursor) = cursor {
        sql.push(" AND id < ").push_bind(cursor.below());
    }
    sql.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
}

impl From<EntryRow> for AuditEntry {
    fn from(row: EntryRow) -> Self {
        Self {
            id: row.id,
            at: shared::domain::users::view::rfc3339(row.at),
            changes: changes(row.id, &row.changes),
            actor: row.actor,
            action: row.action,
            entity: row.entity,
            entity_id: row.entity_id,
        }
    }
}

/// The stored `{field: [old, new]}`. Only `record` writes the column and the server
/// refuses text that is not JSON, so anything but an object means someone wrote the
/// row by hand: that entry shows `{}` and a warning names it, rather than the whole
/// page failing over one row.
fn changes(id: i64, stored: &str) -> Value {
    match serde_json::from_str::<Value>(stored) {
        Ok(object @ Value::Object(_)) => object,
        Ok(other) => {
            tracing::warn!(
                id,
                kind = kind(&other),
                "audit entry's changes are not an object; shown as {{}}"
            );
            Value::Object(Map::new())
        }
        Err(error) => {
            tracing::warn!(id, %error, "audit entry's changes are not JSON; shown as {{}}");
            Value::Object(Map::new())
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;
    use testkit::TestDb;

    #[test]
    fn changes_are_the_stored_object_or_empty() {
        assert_eq!(
            changes(1, r#"{"first_name": ["와플", "와플🧇"]}"#),
            json!({"first_name": ["와플", "와플🧇"]})
        );
        assert_eq!(changes(2, "[1, 2]"), json!({}));
        assert_eq!(changes(3, "not json"), json!({}));
    }

    fn sql(filter: &Filter, cursor: Option<Cursor>) -> String {
        let mut sql = QueryBuilder::new("");
        push_select(&mut sql, filter, cursor, 101);
        sql.into_sql().as_str().to_owned()
    }

    #[test]
    fn filters_become_bound_conditions() {
        let everything = Filter::default();
        assert!(
            sql(&everything, None).ends_with("FROM audit_log WHERE TRUE ORDER BY id DESC LIMIT ?"),
            "{}",
            sql(&everything, None)
        );
        let one = Filter {
            entity: Some(Entity::User),
            entity_id: Some("7' OR '1'='1".into()),
            actor: Some("1234".into()),
        };
        assert!(sql(&one, Some(Cursor::after(50))).ends_with(
            "WHERE TRUE AND entity = ? AND entity_id = ? AND actor = ? AND id < ? ORDER BY id DESC LIMIT ?"
        ));
        let id_only = Filter {
            entity_id: Some("7".into()),
            ..Filter::default()
        };
        assert!(sql(&id_only, None).ends_with(
            "WHERE TRUE AND entity IN (?, ?, ?, ?) AND entity_id = ? ORDER BY id DESC LIMIT ?"
        ));
    }

    /// What `EXPLAIN` says the server reads for a page of `filter`: (key, Extra).
    async fn plan(conn: &mut MySqlConnection, filter: &Filter) -> (String, String) {
        let mut explain = QueryBuilder::new("EXPLAIN ");
        push_select(&mut explain, filter, Some(Cursor::after(1_000_000)), 101);
        let row = explain.build().fetch_one(conn).await.expect("EXPLAIN");
        let key: Option<String> = row.try_get("key").expect("key");
        let extra: Option<String> = row.try_get("Extra").expect("Extra");
        (key.unwrap_or_default(), extra.unwrap_or_default())
    }

    #[tokio::test]
    async fn filtered_pages_read_the_indexes() {
        let db = TestDb::migrated().await;
        let mut conn = db.connect().await;
        // 2000 entries over 200 users and 50 actors: each filter is selective.
        sqlx::raw_sql(
            "INSERT INTO audit_log (actor, action, entity, entity_id, changes) \
             WITH RECURSIVE d (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i < 49), \
                            n (i) AS (SELECT a.i * 50 + b.i FROM d a, d b WHERE a.i < 40) \
             SELECT CAST(i % 50 AS CHAR), 'update', IF(i % 4 = 0, 'team', 'user'), \
                    CAST(i % 200 AS CHAR), '{}' FROM n ORDER BY i; \
             ANALYZE TABLE audit_log;",
        )
        .execute(&mut conn)
        .await
        .expect("seed");

        let by_thing = Filter {
            entity: Some(Entity::User),
            entity_id: Some("7".into()),
            actor: None,
        };
        let by_actor = Filter {
            actor: Some("7".into()),
            ..Filter::default()
        };
        let by_id = Filter {
            entity_id: Some("7".into()),
            ..Filter::default()
        };
        // (filter, the index it must use, whether the order must come from that index)
        for (filter, index, sorted_by_index) in [
            (by_thing, "audit_log_entity", true),
            (by_actor, "audit_log_actor", true),
            (by_id, "audit_log_entity", false),
        ] {
            let (key, extra) = plan(&mut conn, &filter).await;
            assert_eq!(key, index, "{filter:?}: {extra}");
            if sorted_by_index {
                assert!(!extra.contains("filesort"), "{filter:?}: {extra}");
            }
        }
    }
}
