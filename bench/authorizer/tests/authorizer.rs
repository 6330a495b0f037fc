//! The `authorizer` adapter (not deployed; kept for `scripts/bench identity`): what
//! API Gateway gets back from the real binary through the Lambda Runtime API. Which
//! tokens pass is `shared::platform::token`'s, tested in shared/tests/token.rs.

use serde_json::json;
use testkit::http::authorizer_event;
use testkit::jwt::{self, Algorithm, ISSUER, Key};
use testkit::{LambdaProcess, Outcome, RuntimeApi};

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

// ---------------------------------------------------------------------------------------
// The binary, through the Lambda Runtime API

fn spawn(runtime: &RuntimeApi, env: &[(&str, &str)]) -> LambdaProcess {
    LambdaProcess::spawn(env!("CARGO_BIN_EXE_authorizer"), runtime, env)
}

#[tokio::test]
async fn binary_answers_authorizer_requests_with_simple_responses() {
    let runtime = RuntimeApi::start().await;
    let key = jwt::public_base64_body();
    // TRACE: even the runtime's own event logging must not show the token.
    let mut process = spawn(
        &runtime,
        &[
            ("WAFFLE_JWT_PUBLIC_KEY", &key),
            ("WAFFLE_JWT_ISSUER", ISSUER),
            ("RUST_LOG", "trace"),
        ],
    );

    let token = jwt::mint("777", ISSUER, 3600, Algorithm::RS512);
    let answer = runtime
        .invoke(authorizer_event(Some(&bearer(&token))))
        .await;
    assert_eq!(
        answer,
        Outcome::Response(json!({"isAuthorized": true, "context": {"waffle_user_id": "777"}})),
        "{}",
        process.logs()
    );

    let answer = runtime.invoke(authorizer_event(None)).await.response();
    assert_eq!(answer, json!({"isAuthorized": true, "context": {}}));

    let expired = jwt::mint("777", ISSUER, -600, Algorithm::RS512);
    let foreign = jwt::mint_claims(
        jwt::claims("777", ISSUER, 3600),
        Algorithm::RS512,
        Key::Foreign,
    );
    for value in [
        bearer(&expired),
        bearer(&foreign),
        "Basic dXNlcjpwYXNz".to_owned(),
        "Bearer".to_owned(),
    ] {
        let answer = runtime
            .invoke(authorizer_event(Some(&value)))
            .await
            .response();
        // A denial hands over no identity, only its reason: the function answers 403.
        assert_eq!(answer["isAuthorized"], true, "{value}");
        assert!(answer["context"]["waffle_denied"].is_string(), "{answer}");
        assert!(
            answer["context"].get("waffle_user_id").is_none(),
            "{answer}"
        );
    }

    // Header names are case-insensitive.
    let mut event = authorizer_event(None);
    event["headers"]["Authorization"] = bearer(&token).into();
    let answer = runtime.invoke(event).await.response();
    assert_eq!(answer["context"]["waffle_user_id"], "777", "{answer}");
    assert!(process.is_running());

    let logs = process.logs();
    assert!(
        logs.contains(r#""level":"TRACE""#),
        "TRACE lines were captured"
    );
    assert!(
        logs.contains("token denied") && logs.contains("the token has expired"),
        "denials are logged with their reason: {logs}"
    );
    for secret in [&token, &expired, &foreign] {
        assert!(!logs.contains(secret.as_str()), "a token reached the logs");
        // Not even the signature part.
        let signature = secret.rsplit('.').next().unwrap_or_default();
        assert!(!logs.contains(signature), "a signature reached the logs");
    }
}

#[tokio::test]
async fn binary_fails_its_init_naming_a_missing_variable() {
    for (env, missing) in [
        (
            vec![("WAFFLE_JWT_PUBLIC_KEY", ""), ("WAFFLE_JWT_ISSUER", ISSUER)],
            "WAFFLE_JWT_PUBLIC_KEY",
        ),
        (
            vec![("WAFFLE_JWT_PUBLIC_KEY", "MIIB"), ("WAFFLE_JWT_ISSUER", "")],
            "WAFFLE_JWT_ISSUER",
        ),
    ] {
        let runtime = RuntimeApi::start().await;
        let mut process = spawn(&runtime, &env);
        let why = format!("the function must not start without {missing}");
        process
            .assert_init_fails(&why, &format!("{missing} is not set"))
            .await;
    }
}

#[tokio::test]
async fn binary_fails_its_init_on_an_invalid_key() {
    let runtime = RuntimeApi::start().await;
    let mut process = spawn(
        &runtime,
        &[
            ("WAFFLE_JWT_PUBLIC_KEY", "aGVsbG8gd29ybGQ="),
            ("WAFFLE_JWT_ISSUER", ISSUER),
        ],
    );
    process
        .assert_init_fails(
            "a bad key must fail the init",
            "WAFFLE_JWT_PUBLIC_KEY: not an RSA public key",
        )
        .await;
}

/// Deployed (`APP_ENV` dev or prod), the authorizer refuses to start with the local
/// development issuer, so no stack can be configured to accept `scripts/token`'s tokens.
#[tokio::test]
async fn a_deployed_binary_refuses_the_local_development_issuer() {
    let public = jwt::public_pem();
    for app_env in ["dev", "prod"] {
        let runtime = RuntimeApi::start().await;
        let mut process = spawn(
            &runtime,
            &[
                ("APP_ENV", app_env),
                ("WAFFLE_JWT_PUBLIC_KEY", public.as_str()),
                (
                    "WAFFLE_JWT_ISSUER",
                    shared::platform::identity::LOCAL_ISSUER,
                ),
            ],
        );
        process
            .assert_init_fails(
                "a deployed authorizer must not trust local tokens",
                "the local development issuer",
            )
            .await;
    }
}
