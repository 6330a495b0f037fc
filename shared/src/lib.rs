//! The common crate of every waffledotcom function.

pub mod admin_write;
pub mod api;
pub mod audit;
#[cfg(feature = "aws")]
pub mod aws;
pub mod batch;
pub mod compress;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod http;
pub mod identity;
pub mod input;
pub mod migrations;
pub mod openapi;
pub mod process;
pub mod responses;
pub mod state;
pub mod telemetry;
pub mod users;

pub use config::Config;
pub use db::Database;
pub use error::{Error, FieldError, Result};
pub use identity::{Identity, MaybeIdentity};
pub use state::AppState;
