//! The authorizer: which tokens pass, what API Gateway gets back through the real
//! Lambda Runtime API, and the same check as the local server's middleware.

use std::sync::Arc;

use authorizer::{Decision, Denial, KeyError, Verifier};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use shared::{Identity, MaybeIdentity};
use testkit::http::{TestResponse, authorizer_event};
use testkit::jwt::{self, Algorithm, ISSUER, Key};
use testkit::{LambdaProcess, Outcome, RuntimeApi};

const SUB: &str = "1234";

fn verifier() -> Verifier {
    Verifier::new(&jwt::public_pem(), ISSUER).expect("the test key is valid")
}

fn decide_with(verifier: &Verifier, authorization: Option<&str>) -> Decision {
    let mut headers = HeaderMap::new();
    if let Some(value) = authorization {
        headers.insert(
            "authorization",
            HeaderValue::from_str(value).expect("a header value"),
        );
    }
    authorizer::decide(Some(verifier), &headers)
}

fn decide(authorization: Option<&str>) -> Decision {
    decide_with(&verifier(), authorization)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The decision on `Authorization: Bearer <token>`.
fn decide_token(token: &str) -> Decision {
    decide(Some(&bearer(token)))
}

fn valid_token() -> String {
    jwt::mint(SUB, ISSUER, 3600, Algorithm::RS512)
}

#[track_caller]
fn assert_denied(decision: Decision, why: &str) {
    assert!(
        matches!(decision, Decision::Denied(_)),
        "{why}: expected a denial, got {decision:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Which tokens pass

#[test]
fn valid_rs512_and_rs256_tokens_authorize_their_subject() {
    for alg in [Algorithm::RS512, Algorithm::RS256] {
        let token = jwt::mint("42", ISSUER, 3600, alg);
        assert_eq!(decide_token(&token), Decision::User("42".into()), "{alg:?}");
    }
}

#[test]
fn no_authorization_header_is_anonymous() {
    assert_eq!(decide(None), Decision::Anonymous);
}

#[test]
fn a_token_expired_two_minutes_ago_is_denied() {
    let token = jwt::mint(SUB, ISSUER, -120, Algorithm::RS512);
    assert_eq!(decide_token(&token), Decision::Denied(Denial::Expired));
}

#[test]
fn a_token_expired_thirty_seconds_ago_is_still_accepted_within_the_leeway() {
    let token = jwt::mint(SUB, ISSUER, -30, Algorithm::RS512);
    assert_eq!(decide_token(&token), Decision::User(SUB.into()));
}

#[test]
fn a_token_without_exp_is_denied() {
    let token = jwt::mint_claims(
        json!({"iss": ISSUER, "sub": SUB, "iat": jwt::now()}),
        Algorithm::RS512,
        Key::Test,
    );
    assert_eq!(
        decide_token(&token),
        Decision::Denied(Denial::MissingClaim("exp".into()))
    );
}

#[test]
fn a_token_from_another_issuer_is_denied() {
    for issuer in [
        "https://account-api.wafflestudio.com",
        "https://evil.example",
        "",
    ] {
        let token = jwt::mint(SUB, issuer, 3600, Algorithm::RS512);
        assert_denied(decide_token(&token), issuer);
    }
    let mut claims = jwt::claims(SUB, ISSUER, 3600);
    claims.as_object_mut().map(|c| c.remove("iss"));
    let token = jwt::mint_claims(claims, Algorithm::RS512, Key::Test);
    assert_denied(decide_token(&token), "no iss");
}

#[test]
fn a_token_signed_by_a_foreign_key_is_denied() {
    let token = jwt::mint_claims(
        jwt::claims(SUB, ISSUER, 3600),
        Algorithm::RS512,
        Key::Foreign,
    );
    assert_eq!(decide_token(&token), Decision::Denied(Denial::Signature));
}

#[test]
fn a_token_whose_claims_were_changed_after_signing_is_denied() {
    let token = valid_token();
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = jwt::unsigned(jwt::claims("1", ISSUER, 3600));
    let forged_payload = forged_claims.split('.').nth(1).expect("a payload");
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(decide_token(&forged), Decision::Denied(Denial::Signature));
}

/// The classic key confusion: an HS256 token whose HMAC secret is the public key.
#[test]
fn an_hs256_token_signed_with_the_public_key_as_secret_is_denied() {
    let pem = jwt::public_pem();
    let body = jwt::public_base64_body();
    for secret in [pem.as_bytes(), body.as_bytes(), b"secret".as_slice()] {
        for alg in [Algorithm::HS256, Algorithm::HS512] {
            let token = jwt::mint_claims(jwt::claims(SUB, ISSUER, 3600), alg, Key::Hmac(secret));
            assert_eq!(
                decide_token(&token),
                Decision::Denied(Denial::Algorithm),
                "{alg:?}"
            );
        }
    }
}

#[test]
fn an_unsigned_alg_none_token_is_denied() {
    let token = jwt::unsigned(jwt::claims(SUB, ISSUER, 3600));
    assert_denied(decide_token(&token), "alg none");
    // ...also with a real signature stuck on.
    let signature = valid_token()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert_denied(
        decide_token(&format!("{token}{signature}")),
        "alg none with a signature",
    );
}

#[test]
fn rsa_algorithms_other_than_rs512_and_rs256_are_denied() {
    for alg in [Algorithm::RS384, Algorithm::PS256, Algorithm::PS512] {
        let token = jwt::mint_claims(jwt::claims(SUB, ISSUER, 3600), alg, Key::Test);
        assert_eq!(
            decide_token(&token),
            Decision::Denied(Denial::Algorithm),
            "{alg:?}"
        );
    }
}

#[test]
fn a_token_without_a_decimal_sub_is_denied() {
    let mut claims = jwt::claims(SUB, ISSUER, 3600);
    claims.as_object_mut().map(|c| c.remove("sub"));
    let token = jwt::mint_claims(claims, Algorithm::RS512, Key::Test);
    assert_eq!(
        decide_token(&token),
        Decision::Denied(Denial::MissingClaim("sub".into()))
    );

    for sub in [
        json!(""),
        json!("abc"),
        json!("12a"),
        json!("-5"),
        json!(" 12"),
        json!("123456789012345678901"),
        json!(1234),
        json!(null),
    ] {
        let mut claims = jwt::claims(SUB, ISSUER, 3600);
        claims["sub"] = sub.clone();
        let token = jwt::mint_claims(claims, Algorithm::RS512, Key::Test);
        assert_denied(decide_token(&token), &sub.to_string());
    }
    // The longest id accepted: 20 digits.
    let token = jwt::mint("12345678901234567890", ISSUER, 3600, Algorithm::RS512);
    assert_eq!(
        decide_token(&token),
        Decision::User("12345678901234567890".into())
    );
}

#[test]
fn only_the_bearer_scheme_with_a_token_passes_and_its_case_does_not_matter() {
    let token = valid_token();
    let user = Decision::User(SUB.into());
    assert_eq!(decide(Some(&format!("bearer {token}"))), user);
    assert_eq!(decide(Some(&format!("BEARER {token}"))), user);
    assert_eq!(decide(Some(&format!("Bearer   {token}  "))), user);

    assert_eq!(
        decide(Some("Basic xyz")),
        Decision::Denied(Denial::NotBearer)
    );
    assert_eq!(decide(Some(&token)), Decision::Denied(Denial::NotBearer));
    assert_eq!(decide(Some("")), Decision::Denied(Denial::NotBearer));
    assert_eq!(decide(Some("Bearer")), Decision::Denied(Denial::EmptyToken));
    assert_eq!(
        decide(Some("Bearer ")),
        Decision::Denied(Denial::EmptyToken)
    );
    for garbage in ["garbage", "a.b.c", "....", "eyJ.eyJ.sig", "Bearer x"] {
        assert_denied(decide_token(garbage), garbage);
    }
}

#[test]
fn two_authorization_headers_are_denied() {
    let mut headers = HeaderMap::new();
    let token = valid_token();
    for _ in 0..2 {
        headers.append(
            "authorization",
            HeaderValue::from_str(&bearer(&token)).expect("a header value"),
        );
    }
    assert_eq!(
        authorizer::decide(Some(&verifier()), &headers),
        Decision::Denied(Denial::SeveralHeaders)
    );
}

#[test]
fn without_a_verifier_anonymous_requests_pass_and_tokens_are_denied() {
    let mut headers = HeaderMap::new();
    assert_eq!(authorizer::decide(None, &headers), Decision::Anonymous);
    headers.insert(
        "authorization",
        HeaderValue::from_str(&bearer(&valid_token())).expect("a header value"),
    );
    assert_eq!(
        authorizer::decide(None, &headers),
        Decision::Denied(Denial::NoKey)
    );
}

// ---------------------------------------------------------------------------------------
// The key

#[test]
fn the_key_is_accepted_as_pem_or_as_the_bare_base64_body() {
    let body = jwt::public_base64_body();
    let wrapped: String = body
        .as_bytes()
        .chunks(64)
        .map(|line| format!("{}\n", String::from_utf8_lossy(line)))
        .collect();
    let one_line_pem = jwt::public_pem().trim().replace('\n', "\\n");
    let forms = [
        ("SPKI PEM", jwt::public_pem()),
        ("PKCS#1 PEM", jwt::public_rsa_pem()),
        ("bare base64", body.clone()),
        ("bare base64 with line breaks", format!("\n  {wrapped}  ")),
        ("PEM with CRLF", jwt::public_pem().replace('\n', "\r\n")),
        ("PEM on one line with literal \\n", one_line_pem),
    ];
    let token = valid_token();
    for (form, key) in forms {
        let verifier = Verifier::new(&key, ISSUER).unwrap_or_else(|e| panic!("{form}: {e}"));
        assert_eq!(
            verifier.verify(&token),
            Ok(SUB.to_owned()),
            "{form} verifies the token"
        );
    }
    // Each form is this key and no other: the foreign key's tokens still fail.
    let foreign = jwt::mint_claims(
        jwt::claims(SUB, ISSUER, 3600),
        Algorithm::RS512,
        Key::Foreign,
    );
    let verifier = Verifier::new(&body, ISSUER).expect("bare base64");
    assert_eq!(verifier.verify(&foreign), Err(Denial::Signature));
}

#[test]
fn an_invalid_key_gives_a_clear_key_error() {
    let body = jwt::public_base64_body();
    let cases = [
        ("", "empty"),
        ("   \n", "empty"),
        ("not a key at all!", "not base64"),
        // Valid base64, but not a key.
        ("aGVsbG8gd29ybGQ=", "not an RSA public key"),
        // A key cut short.
        (&body[..body.len() / 2], "not an RSA public key"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            "CERTIFICATE",
        ),
        (
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----",
            "-----END PUBLIC KEY-----",
        ),
    ];
    for (key, expected) in cases {
        match Verifier::new(key, ISSUER) {
            Err(error @ KeyError::InvalidKey(_)) => {
                let message = error.to_string();
                assert!(message.contains(expected), "{key:?}: {message}");
                assert!(
                    message.contains("not an RSA public key"),
                    "{key:?}: {message}"
                );
            }
            other => panic!("{key:?}: expected InvalidKey, got {other:?}"),
        }
    }
    assert!(matches!(
        Verifier::new(&jwt::public_pem(), "  "),
        Err(KeyError::EmptyIssuer)
    ));
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
        (vec![("WAFFLE_JWT_ISSUER", ISSUER)], "WAFFLE_JWT_PUBLIC_KEY"),
        (vec![("WAFFLE_JWT_PUBLIC_KEY", "MIIB")], "WAFFLE_JWT_ISSUER"),
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

// ---------------------------------------------------------------------------------------
// The local server's middleware

/// A router that says whom it sees, behind the middleware and the shared layers.
fn app(verifier: Option<Verifier>) -> Router {
    let routes = Router::new()
        .route(
            "/whoami",
            get(|MaybeIdentity(identity): MaybeIdentity| async move {
                Json(json!({ "sso_id": identity.map(|i| i.sso_id) }))
            }),
        )
        .route(
            "/me",
            get(|identity: Identity| async move { Json(json!({ "sso_id": identity.sso_id })) }),
        );
    let auth = axum::middleware::from_fn_with_state(verifier.map(Arc::new), authorizer::middleware);
    shared::platform::http::with_shared_layers_and(routes, |router| router.layer(auth))
}

/// `GET path` through `app` with this `Authorization` header.
async fn get_with_authorization(app: &Router, path: &str, authorization: &str) -> TestResponse {
    testkit::http::get(path)
        .header("authorization", authorization)
        .send(app)
        .await
}

#[tokio::test]
async fn middleware_hands_a_valid_tokens_subject_to_the_handlers() {
    let app = app(Some(verifier()));
    let response = get_with_authorization(&app, "/whoami", &bearer(&valid_token())).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({"sso_id": SUB}));

    let response = get_with_authorization(&app, "/me", &bearer(&valid_token())).await;
    assert_eq!(response.json(), json!({"sso_id": SUB}));
}

#[tokio::test]
async fn middleware_ignores_a_forged_waffle_user_id_header() {
    let app = app(Some(verifier()));
    let response = testkit::http::get("/whoami")
        .header("waffle-user-id", "1")
        .send(&app)
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({"sso_id": null}));

    let response = testkit::http::get("/me")
        .header("waffle-user-id", "1")
        .send(&app)
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn middleware_replaces_an_authorizer_context_the_request_already_carried() {
    let app = app(Some(verifier()));
    for (authorization, expected, what) in [
        (None, json!({"sso_id": null}), "no token: anonymous"),
        (
            Some(bearer(&valid_token())),
            json!({"sso_id": SUB}),
            "the token's subject",
        ),
    ] {
        let mut request = testkit::http::get("/whoami").as_user("999");
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        let response = request.send(&app).await;
        assert_eq!(response.json(), expected, "{what}");
    }
}

#[tokio::test]
async fn middleware_answers_a_bad_token_with_403_json() {
    let app = app(Some(verifier()));
    let expired = jwt::mint(SUB, ISSUER, -600, Algorithm::RS512);
    for value in [bearer(&expired), bearer("garbage"), "Basic xyz".to_owned()] {
        let response = get_with_authorization(&app, "/whoami", &value).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{value}");
        assert_eq!(
            response.json(),
            json!({"detail": "invalid or expired token"})
        );
        assert!(response.header("x-request-id").is_some());
    }
}

#[tokio::test]
async fn middleware_without_a_key_lets_anonymous_requests_through_and_denies_tokens() {
    let app = app(None);
    let response = testkit::http::get("/whoami")
        .as_user("999")
        .send(&app)
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json(), json!({"sso_id": null}));

    let response = get_with_authorization(&app, "/whoami", &bearer(&valid_token())).await;
    response.assert_error(StatusCode::FORBIDDEN, "invalid or expired token");
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
