//! The API's `$default` route (template.yaml): API Gateway sends here every request
//! that no route matches. Its own answers would be `404 {"message":"Not Found"}` for
//! an unknown path and for a wrong method alike; this answers the contract's 404, or
//! 405 with `Allow` when the path is a route's under another method, both through the
//! shared HTTP layer (`detail`, `x-request-id`).
//!
//! A CORS preflight reaches it too: AWS documents that `$default` catches OPTIONS
//! requests (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html,
//! "Configuring CORS for an HTTP API with a $default route and an authorizer"). A
//! preflight of a known path gets 204; API Gateway adds the configured CORS headers.
//!
//! HTTP APIs do not keep a route whose path ends in "/" (the route is not created, or
//! refused as an invalid route key: aws/serverless-application-model issue 1949), so
//! `GET /api/v1/health/` arrives here too, and [`crate::lambda_app`] serves it with the
//! health function's own handler.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::OpenApi;

/// Every route of the document: its path split into segments (`None` for a
/// `{parameter}`) and its methods.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<(Vec<Option<String>>, BTreeSet<Method>)>,
}

impl RouteTable {
    pub fn new(document: &OpenApi) -> Self {
        let routes = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                let methods = [
                    (&item.get, Method::GET),
                    (&item.post, Method::POST),
                    (&item.put, Method::PUT),
                    (&item.patch, Method::PATCH),
                    (&item.delete, Method::DELETE),
                ]
                .into_iter()
                .filter(|(op, _)| op.is_some())
                .map(|(_, m)| m)
                .collect();
                (segments, methods)
            })
            .collect();
        Self { routes }
    }

    /// The table of `routes` (paths and method names, as build.rs writes them from the
    /// committed document), with `slash_forms` answering as their path without the slash.
    pub fn from_routes(routes: &[(&str, &[&str])], slash_forms: &[&str]) -> Self {
        let table = |path: &str, methods: &[&str]| {
            let segments = path
                .split('/')
                .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                .collect();
            let methods = methods
                .iter()
                .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
                .collect();
            (segments, methods)
        };
        let mut entries: Vec<_> = routes.iter().map(|(p, m)| table(p, m)).collect();
        for slash in slash_forms {
            if let Some((_, methods)) = routes
                .iter()
                .find(|(p, _)| *p == slash.trim_end_matches('/'))
            {
                entries.push(table(slash, methods));
            }
        }
        Self { routes: entries }
    }

    /// The methods of the route `path` belongs to; `None` for an unknown path.
    pub fn methods(&self, path: &str) -> Option<&BTreeSet<Method>> {
        let parts: Vec<&str> = path.split('/').collect();
        self.routes.iter().find_map(|(segments, methods)| {
            let matches = segments.len() == parts.len()
                && segments.iter().zip(&parts).all(|(s, p)| match s {
                    Some(fixed) => fixed == p,
                    None => !p.is_empty(),
                });
            matches.then_some(methods)
        })
    }
}

/// Middleware for the deployed docs function: requests of its own routes pass; any
/// other known path gets 405 (or 204 for a preflight); unknown paths fall through to
/// the shared 404.
pub async fn answer(
    State(table): State<Arc<RouteTable>>,
    request: Request,
    next: Next,
) -> Response {
    // Behind the shared token check: a refused token was answered 403 before this.
    let Some(methods) = table.methods(request.uri().path()) else {
        return next.run(request).await;
    };
    if methods.contains(request.method()) {
        return next.run(request).await;
    }
    let allow = methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        shared::Error::MethodNotAllowed.into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
