//! The shared HTTP plumbing: one error type mapped to statuses and `{"detail": ...}`
//! bodies in one place, a panic guard, and identity from the caller's token only.

use axum::Router;
use axum::routing::get;
use http::{Method, StatusCode};
use serde_json::json;
use shared::{Error, FieldError, Identity, MaybeIdentity};
use testkit::http::{get as get_request, request};
use testkit::jwt::{self, Algorithm, ISSUER, Key};
use tower::ServiceExt;

fn app() -> Router {
    let routes = Router::new()
        .route(
            "/bad-request",
            get(|| async { Error::BadRequest("body is not valid JSON".into()) }),
        )
        .route("/unauthorized", get(|| async { Error::Unauthorized }))
        .route(
            "/forbidden",
            get(|| async { Error::Forbidden("admins only".into()) }),
        )
        .route(
            "/conflict",
            get(|| async { Error::Conflict("username is already taken".into()) }),
        )
        .route(
            "/invalid",
            get(|| async {
                Error::Validation(vec![
                    FieldError::body("username", "must be 4 to 50 characters", "string_too_short"),
                    FieldError::query("limit", "must be between 1 and 1000", "less_than_equal"),
                ])
            }),
        )
        .route(
            "/internal",
            get(|| async {
                Error::Internal(anyhow::anyhow!("table `user` is corrupt at /var/lib"))
            }),
        )
        .route(
            "/unavailable",
            get(|| async { Error::Unavailable("database unavailable".into()) }),
        )
        .route("/panic", get(|| async { panic_on_purpose() }))
        .route(
            "/me",
            get(|identity: Identity| async move { identity.sso_id }),
        )
        .route(
            "/maybe",
            get(|MaybeIdentity(identity): MaybeIdentity| async move {
                identity.map_or_else(|| "anonymous".to_owned(), |i| i.sso_id)
            }),
        );
    shared::platform::http::with_shared_layers(routes, testkit::jwt::tokens())
}

fn panic_on_purpose() -> &'static str {
    let values: Vec<&str> = Vec::new();
    values[0]
}

#[tokio::test]
async fn each_error_has_its_status_and_a_detail() {
    let app = app();
    for (path, status, detail) in [
        ("/bad-request", 400, json!("body is not valid JSON")),
        ("/unauthorized", 401, json!("not authenticated")),
        ("/forbidden", 403, json!("admins only")),
        ("/conflict", 409, json!("username is already taken")),
        ("/unavailable", 503, json!("database unavailable")),
    ] {
        let response = get_request(path).send(&app).await;
        assert_eq!(response.status.as_u16(), status, "{path}");
        assert_eq!(response.json(), json!({ "detail": detail }), "{path}");
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn validation_errors_list_every_field_like_fastapi() {
    let response = get_request("/invalid").send(&app()).await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.json(),
        json!({"detail": [
            {"loc": ["body", "username"], "msg": "must be 4 to 50 characters", "type": "string_too_short"},
            {"loc": ["query", "limit"], "msg": "must be between 1 and 1000", "type": "less_than_equal"},
        ]})
    );
}

#[tokio::test]
async fn internal_errors_show_nothing_of_their_cause() {
    let response = get_request("/internal").send(&app()).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.json(), json!({"detail": "Internal server error"}));
}

#[tokio::test]
async fn a_panicking_handler_costs_one_500_not_the_process() {
    let app = app();
    let response = get_request("/panic").send(&app).await;
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.json(), json!({"detail": "Internal server error"}));
    assert!(response.header("x-request-id").is_some());
    assert_eq!(
        get_request("/maybe").send(&app).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn identity_comes_from_a_verified_token() {
    let app = app();
    let response = get_request("/me").as_user("1234").send(&app).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.bytes, b"1234");
    let response = get_request("/maybe").as_user("1234").send(&app).await;
    assert_eq!(response.bytes, b"1234");

    // The scheme's case does not matter (RFC 9110 §11.1).
    let token = jwt::mint("55", ISSUER, 3600, Algorithm::RS256);
    let response = get_request("/me")
        .header("authorization", &format!("bEaReR {token}"))
        .send(&app)
        .await;
    assert_eq!(response.bytes, b"55");

    let response = get_request("/me").send(&app).await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(response.json(), json!({"detail": "not authenticated"}));

    let response = get_request("/maybe").send(&app).await;
    assert_eq!(response.bytes, b"anonymous");
}

#[tokio::test]
async fn headers_a_client_can_set_never_become_an_identity() {
    let app = app();
    for header in ["waffle-user-id", "x-waffle-user-id", "waffle_user_id"] {
        let response = get_request("/me").header(header, "1").send(&app).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{header}");
        let response = get_request("/maybe").header(header, "1").send(&app).await;
        assert_eq!(response.bytes, b"anonymous", "{header}");
    }
}

/// There is no Lambda authorizer: an event that carries `requestContext.authorizer`
/// (forged, or from an authorizer someone put back in front) gives no identity, and its
/// denial gives no 403 either. Only the token counts.
#[tokio::test]
async fn a_forged_authorizer_context_gives_no_identity() {
    let app = app();
    for context in [
        json!({"waffle_user_id": "7"}),
        json!({"waffle_denied": "expired"}),
        json!({"waffle_denied": "signature", "waffle_user_id": "7"}),
    ] {
        let response = get_request("/me")
            .with_authorizer_context(context.clone())
            .send(&app)
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{context}");
        let response = get_request("/maybe")
            .with_authorizer_context(context.clone())
            .send(&app)
            .await;
        assert_eq!(response.bytes, b"anonymous", "{context}");
        // With a token, the token's subject, whatever the context says.
        let response = get_request("/me")
            .as_user("1234")
            .with_authorizer_context(context.clone())
            .send(&app)
            .await;
        assert_eq!(response.bytes, b"1234", "{context}");
    }
}

/// Only the token check creates an `Identity`: one already in the request's extensions
/// (a layer further out, a test double) is dropped.
#[tokio::test]
async fn an_identity_placed_before_the_check_is_dropped() {
    let mut forged = get_request("/me").build();
    forged
        .extensions_mut()
        .insert(Identity { sso_id: "7".into() });
    let response = app().oneshot(forged).await.expect("routers are infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_refused_token_gets_403_before_any_route_fallback_or_method_check() {
    let expired = jwt::mint("7", ISSUER, -600, Algorithm::RS512);
    let foreign = jwt::mint_claims(
        jwt::claims("7", ISSUER, 3600),
        Algorithm::RS512,
        Key::Foreign,
    );
    let app = app();
    for value in [
        format!("Bearer {expired}"),
        format!("Bearer {foreign}"),
        "Bearer garbage".to_owned(),
        "Bearer".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
    ] {
        for (method, path) in [
            (Method::GET, "/me"),
            (Method::GET, "/maybe"),
            (Method::GET, "/bad-request"),
            (Method::GET, "/no-such-route"),
            (Method::DELETE, "/maybe"),
        ] {
            let response = request(method.clone(), path)
                .header("authorization", &value)
                .send(&app)
                .await;
            let what = format!("{method} {path} {value}");
            response.assert_error(StatusCode::FORBIDDEN, "invalid or expired token");
            assert!(response.header("x-request-id").is_some(), "{what}");
        }
    }
}

#[tokio::test]
async fn without_a_key_requests_are_anonymous_and_any_token_is_refused() {
    let routes = Router::new().route(
        "/maybe",
        get(|MaybeIdentity(identity): MaybeIdentity| async move {
            identity.map_or_else(|| "anonymous".to_owned(), |i| i.sso_id)
        }),
    );
    let app = shared::platform::http::with_shared_layers(routes, None);
    let response = get_request("/maybe").send(&app).await;
    assert_eq!(response.bytes, b"anonymous");
    let response = get_request("/maybe").as_user("1234").send(&app).await;
    response.assert_error(StatusCode::FORBIDDEN, "invalid or expired token");
}
