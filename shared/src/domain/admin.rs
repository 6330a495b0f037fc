//! The admin extractor: a caller whose token the function verified and whom the member
//! directory (`user.is_admin`) names an admin. It lives with the domain because the check
//! reads the `user` table; the platform's extractors (`platform::extract`) know no tables.

use axum::extract::{FromRef, FromRequestParts};
use http::request::Parts;
use sqlx::pool::PoolConnection;
use sqlx::{MySql, MySqlConnection};

use crate::domain::audit::Actor;
use crate::domain::users::repo::{self, Registered};
use crate::platform::db::in_transaction_on;
use crate::platform::error::Error;
use crate::platform::identity::Identity;
use crate::platform::state::AppState;

/// A registered user with `is_admin`: 401 without a token, 403 otherwise. The check runs
/// on the connection the handler then works on, so a request holds one connection, not
/// two: [`AdminCaller::transaction`] runs the handler's transaction on it, and
/// [`AdminCaller::conn`] reads on it.
///
/// The check itself is not part of the transaction: a plain read as its first statement
/// would fix InnoDB's snapshot before the handler's locking reads, and the handler's
/// later reads would then miss what the writes it queued behind committed.
pub struct Admin(pub AdminCaller);

pub struct AdminCaller {
    pub user: Registered,
    pub sso_id: String,
    conn: PoolConnection<MySql>,
}

impl AdminCaller {
    /// The admin as the audit log names them.
    pub fn actor(&self) -> Actor {
        Actor::User(self.sso_id.clone())
    }

    /// Runs `work` in a transaction on this request's connection (see [`in_transaction`](crate::platform::db::in_transaction)).
    pub async fn transaction<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut MySqlConnection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        in_transaction_on(&mut self.conn, work).await
    }

    /// This request's connection, for reads outside a transaction.
    pub fn conn(&mut self) -> &mut MySqlConnection {
        &mut self.conn
    }

    /// The admin's SSO id, giving the connection back to the pool: for a handler whose
    /// work takes connections of its own.
    pub fn release(self) -> String {
        self.sso_id
    }
}

impl<S> FromRequestParts<S> for Admin
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let identity = Identity::from_request_parts(parts, state).await?;
        let state = AppState::from_ref(state);
        let pool = state.db.pool().await?;
        let mut conn = pool.acquire().await?;
        match repo::registered(&mut conn, &identity.sso_id).await? {
            Some(user) if user.is_admin => Ok(Self(AdminCaller {
                user,
                sso_id: identity.sso_id,
                conn,
            })),
            _ => Err(Error::Forbidden("only admins may do this".into())),
        }
    }
}
