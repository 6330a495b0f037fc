//! The platform: what any function needs whatever it serves. HTTP layers and the Lambda
//! entry point, the error type, configuration, the MySQL pool and transactions, schema
//! revisions, tokens, identity and extractors, request input and its rules, compression,
//! telemetry, the OpenAPI pieces, AWS access and the state built once per cold start.
//!
//! Nothing here knows the member directory's tables or names `crate::domain`
//! (checked by a test in `lib.rs`).

pub mod api;
#[cfg(feature = "aws")]
pub mod aws;
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
pub mod token;
