//! The `audit` function: the audit log's read side, for admins.
//!
//! Every successful write appends an entry through `shared::domain::audit::record`, in the
//! writer's own transaction; this function pages through them, newest first. Reads top
//! to bottom: the router, the handler; the query string is in `query`, the SQL and the
//! entry's shape in `entries`.

mod entries;
mod query;

use axum::Json;
use axum::extract::RawQuery;
use shared::domain::admin::Admin;
use shared::platform::openapi::AdminErrors;
use shared::platform::responses::{BadParams, BadQuery};
use shared::{AppState, Error};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use entries::AuditPage;
use query::{Cursor, ListQuery};

shared::router_and_openapi!();

/// The routes and their documentation, registered together so that they cannot diverge.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(list_entries))
}

/// `GET /audit-logs`: admins only; a page of entries, newest first, and the cursor of
/// the next page. One query per page, whatever the filters.
#[utoipa::path(
    get,
    path = "/api/v1/audit-logs",
    operation_id = "audit_list",
    tag = "audit",
    summary = "Read the audit log",
    description = "Admins only. Every successful write (users, positions, teams, memberships, and \
        each change the Slack sync makes), newest first (by `id`), as `{field: [old, new]}` per \
        entry. Filters combine with AND. `limit` entries per page; to page on, send the answer's \
        `next_cursor` back as `cursor` (with the same filters) until it is `null`. Entries written \
        meanwhile never show up in later pages, and none is skipped.",
    params(
        ("entity" = Option<entries::AuditEntity>, Query, description = "Only entries about this kind of thing."),
        ("entity_id" = Option<String>, Query, min_length = 1, max_length = 64, description = "Only entries about the thing of this id (`<team_id>:<user_id>` for a `team_member`)."),
        ("actor" = Option<String>, Query, min_length = 1, max_length = 64, description = "Only entries by this actor: an SSO id, or `slack-sync`."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many entries; 100 when absent."),
        ("cursor" = Option<String>, Query, description = "Where the page starts: the `next_cursor` of the previous page, as is (an opaque string). Absent for the first page."),
    ),
    security(("waffle_sso" = [])),
    responses(
        (status = 200, description = "A page of entries, newest first.", body = AuditPage),
        BadQuery,
        AdminErrors,
        BadParams,
    ),
)]
async fn list_entries(
    Admin(mut admin): Admin,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditPage>, Error> {
    let query = ListQuery::parse(raw.as_deref())?;
    // One entry more than asked tells whether there is a next page.
    let limit = query.limit as usize;
    let mut items =
        entries::page(admin.conn(), &query.filter, query.cursor, query.limit + 1).await?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| Cursor::after(last.id).to_string())
    } else {
        None
    };
    Ok(Json(AuditPage { items, next_cursor }))
}
