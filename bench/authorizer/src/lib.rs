//! The `authorizer` function: a Lambda authorizer (HTTP API, payload 2.0, simple
//! responses) over `shared::platform::token`.
//!
//! Not in template.yaml, and not under functions/ (every crate there is a deployed
//! function: scripts/package zips each, functions/docs/tests/template.rs wants a
//! resource for each). The product is one invocation per request: every HTTP function
//! checks the caller's token itself (`shared::platform::http`), and nothing reads an
//! authorizer context (docs/architecture.md, "Identity"). This adapter is the
//! alternative design, kept so that `scripts/bench identity` can put it back in front
//! of the routes (on every route, or cached on the identity-reading ones) and measure
//! it again. It answers as the deployed one did:
//!
//! - no `Authorization` header: authorized, anonymous (empty context);
//! - a valid token: authorized with `{"waffle_user_id": sub}`;
//! - anything else: still authorized, with `{"waffle_denied": reason}` and no identity
//!   (API Gateway's own 403 would be `{"message":"Forbidden"}` without `x-request-id`;
//!   the function behind it refuses the token again with the contract's 403).

use std::convert::Infallible;

use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_runtime::LambdaEvent;
use serde_json::{Map, Value};
use shared::platform::token::{Decision, Verifier, decide};

/// The context key of the caller's SSO id.
pub const CONTEXT_KEY: &str = "waffle_user_id";
/// The context key of the reason a token was refused.
pub const DENIAL_KEY: &str = "waffle_denied";

/// The simple response: `{"isAuthorized": bool, "context": {...}}`.
pub type AuthorizerResponse = ApiGatewayV2CustomAuthorizerSimpleResponse<Map<String, Value>>;

/// Answers one authorizer request. Never fails: every outcome is a decision, because a
/// function error would reach the caller as API Gateway's own 500.
pub async fn handle(
    verifier: &Verifier,
    event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>,
) -> Result<AuthorizerResponse, Infallible> {
    Ok(respond(decide(Some(verifier), &event.payload.headers)))
}

fn respond(decision: Decision) -> AuthorizerResponse {
    let mut response = AuthorizerResponse::default();
    match decision {
        Decision::User(sso_id) => {
            response
                .context
                .insert(CONTEXT_KEY.to_owned(), Value::String(sso_id));
        }
        Decision::Anonymous => {}
        Decision::Denied(reason) => {
            response
                .context
                .insert(DENIAL_KEY.to_owned(), Value::String(reason.code().into()));
        }
    }
    // Always authorized: a refusal is the function's 403 (see the module's comment).
    response.is_authorized = true;
    response
}
