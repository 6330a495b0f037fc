//! A write and its audit entry, in one transaction: the rule every write handler follows
//! (lock the row, write, record what changed), written once.
//!
//! [`Audit`] knows who writes and what kind of thing, so that inside a transaction a
//! handler only says what it wrote; [`AdminCaller::create_audited`] and
//! [`AdminCaller::delete_audited`] are whole admin creates and deletes.

use serde_json::Value;
use sqlx::MySqlConnection;

use crate::domain::admin::AdminCaller;
use crate::domain::audit::{self, Action, Actor, Changes, Entity};
use crate::platform::error::Error;

/// A thing whose writes the audit log records.
pub trait Audited {
    /// The fields the audit log records, as one JSON object: an entry holds those that
    /// differ between two of these (`Changes::between`).
    fn audit_state(&self) -> Value;
}

/// A state already read as the audit log records it (`users::repo::audit_state`).
impl Audited for Value {
    fn audit_state(&self) -> Value {
        self.clone()
    }
}

/// Who writes, and what kind of thing: what every entry of a handler shares, known
/// before its transaction begins.
pub struct Audit {
    actor: Actor,
    entity: Entity,
}

impl Audit {
    pub fn new(actor: Actor, entity: Entity) -> Self {
        Self { actor, entity }
    }

    /// The row a lock found, or 404 `<entity> not found`.
    pub fn locked<R>(&self, row: Option<R>) -> Result<R, Error> {
        row.ok_or_else(|| Error::not_found(self.entity.as_str()))
    }

    /// Changes thing `id` from `before` to `after`: when they differ in an audited field,
    /// `store` writes `after` and an entry records the fields that differ; otherwise
    /// nothing is written or recorded.
    pub async fn update<R: Audited>(
        &self,
        tx: &mut MySqlConnection,
        id: i32,
        before: &R,
        after: &R,
        store: impl AsyncFnOnce(&mut MySqlConnection) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let changes = Changes::between(&before.audit_state(), &after.audit_state());
        if changes.is_empty() {
            return Ok(());
        }
        store(tx).await?;
        self.record(tx, Action::Update, id, &changes).await
    }

    /// Appends an entry on `tx`, the connection of the transaction that made the write.
    pub async fn record(
        &self,
        tx: &mut MySqlConnection,
        action: Action,
        entity_id: impl ToString,
        changes: &Changes,
    ) -> Result<(), Error> {
        audit::record(tx, &self.actor, action, self.entity, entity_id, changes).await
    }
}

impl AdminCaller {
    /// This admin's entries about things of `entity`.
    pub fn audit(&self, entity: Entity) -> Audit {
        Audit::new(self.actor(), entity)
    }

    /// Creates a thing of `entity` in one transaction: `insert` writes it and returns its
    /// id and what it holds; the entry records every field as `[null, new]`.
    pub async fn create_audited<R: Audited>(
        &mut self,
        entity: Entity,
        insert: impl AsyncFnOnce(&mut MySqlConnection) -> Result<(i32, R), Error>,
    ) -> Result<(i32, R), Error> {
        let audit = self.audit(entity);
        self.transaction(async |tx| {
            let (id, new) = insert(tx).await?;
            let changes = Changes::between(&Value::Null, &new.audit_state());
            audit.record(tx, Action::Create, id, &changes).await?;
            Ok((id, new))
        })
        .await
    }

    /// Deletes thing `id` of `entity` in one transaction: `lock` reads it, locked until
    /// the commit (so that of racing deletes one wins and the others find nothing: 404,
    /// no second entry); `delete` removes it; the entry records every field as
    /// `[old, null]`.
    pub async fn delete_audited<R: Audited>(
        &mut self,
        entity: Entity,
        id: i32,
        lock: impl AsyncFnOnce(&mut MySqlConnection, i32) -> Result<Option<R>, Error>,
        delete: impl AsyncFnOnce(&mut MySqlConnection, i32) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let audit = self.audit(entity);
        self.transaction(async |tx| {
            let before = audit.locked(lock(tx, id).await?)?;
            delete(tx, id).await?;
            let changes = Changes::between(&before.audit_state(), &Value::Null);
            audit.record(tx, Action::Delete, id, &changes).await
        })
        .await
    }
}
