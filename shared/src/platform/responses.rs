//! More response sets for `#[utoipa::path]`'s `responses(...)`, beside those in
//! `openapi`: the answers that come from a shared extractor or parser rather than from a
//! route's own logic, worded once for the whole document. A route whose answer says more
//! keeps its own line.

use utoipa::IntoResponses;

use crate::platform::openapi::{ErrorBody, ValidationErrorBody};

/// The answers of a route that reads a JSON body (`extract::JsonObject`).
#[derive(IntoResponses)]
pub enum BodyErrors {
    #[response(status = 400, description = "The body is not JSON.")]
    NotJson(ErrorBody),
    #[response(status = 413, description = "The body is over 64 KiB.")]
    TooLarge(ErrorBody),
}

/// 400 of a route that reads a query string (`input::query::read`).
#[derive(IntoResponses)]
#[response(status = 400, description = "The query string cannot be parsed.")]
pub struct BadQuery(pub ErrorBody);

/// 422 of a route whose only input is an `{id}` (`extract::PathId`).
#[derive(IntoResponses)]
#[response(status = 422, description = "The id is not a positive integer.")]
pub struct BadId(pub ValidationErrorBody);

/// 422 of a route that creates from a body.
#[derive(IntoResponses)]
#[response(status = 422, description = "Invalid fields, one entry per field.")]
pub struct BadFields(pub ValidationErrorBody);

/// 422 of a route that changes `{id}` from a body.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Invalid fields (one entry per field) or a bad id."
)]
pub struct BadFieldsOrId(pub ValidationErrorBody);

/// 422 of a route whose query string has several parameters.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "A bad parameter value, one entry per parameter."
)]
pub struct BadParams(pub ValidationErrorBody);

/// 204 of a delete.
#[derive(IntoResponses)]
#[response(status = 204, description = "Deleted.")]
pub struct Deleted;
