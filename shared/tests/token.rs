//! The token check every HTTP function runs (`shared::platform::token`): which tokens
//! pass, and the key in every form the contract allows.

use http::{HeaderMap, HeaderValue};
use serde_json::json;
use shared::platform::token::{self, Decision, Denial, KeyError, Verifier};
use testkit::jwt::{self, Algorithm, ISSUER, Key};

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
    token::decide(Some(verifier), &headers)
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
        token::decide(Some(&verifier()), &headers),
        Decision::Denied(Denial::SeveralHeaders)
    );
}

#[test]
fn without_a_verifier_anonymous_requests_pass_and_tokens_are_denied() {
    let mut headers = HeaderMap::new();
    assert_eq!(token::decide(None, &headers), Decision::Anonymous);
    headers.insert(
        "authorization",
        HeaderValue::from_str(&bearer(&valid_token())).expect("a header value"),
    );
    assert_eq!(
        token::decide(None, &headers),
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
