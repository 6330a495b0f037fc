//! The domain: the member directory. Users (their bodies, SQL and views), the audit log,
//! batch runs, and the admin extractor that reads the `user` table. Built on
//! [`crate::platform`], never the other way round.

pub mod admin;
pub mod admin_write;
pub mod audit;
pub mod batch;
pub mod users;
