//! Waffle Studio SSO tokens for tests, signed with RSA key pairs generated once per test
//! process: no private key is ever committed. [`Key::Test`] is the key the code under
//! test is configured with ([`public_pem`], [`public_base64_body`]); [`Key::Foreign`] is
//! another, which no verifier trusts.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header};
use rsa::PrivateKey;
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

pub use jsonwebtoken::Algorithm;

/// The dev SSO's issuer, which test verifiers are configured with.
pub const ISSUER: &str = "https://account-api-dev.wafflestudio.com";

/// Which key signs a token.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    /// The key pair the code under test trusts.
    Test,
    /// A key pair nobody trusts.
    Foreign,
    /// An HMAC secret (for `HS*` tokens).
    Hmac(&'a [u8]),
}

struct KeyPair {
    signing: EncodingKey,
    /// SubjectPublicKeyInfo, DER.
    spki_der: Vec<u8>,
    spki_pem: String,
    pkcs1_pem: String,
}

fn generate() -> KeyPair {
    // 2048 bits: what the SSO uses, and quick enough to make at dependency opt-level 1.
    let private = PrivateKey::new(&mut getrandom::SysRng, 2048).expect("generate an RSA test key");
    let public = private.to_public_key();
    KeyPair {
        signing: EncodingKey::from_rsa_der(
            private
                .to_pkcs1_der()
                .expect("encode the test key")
                .as_bytes(),
        ),
        spki_der: public
            .to_public_key_der()
            .expect("encode the public key")
            .into_vec(),
        spki_pem: public
            .to_public_key_pem(LineEnding::LF)
            .expect("encode the public key"),
        pkcs1_pem: public
            .to_pkcs1_pem(LineEnding::LF)
            .expect("encode the public key"),
    }
}

fn test_pair() -> &'static KeyPair {
    static PAIR: OnceLock<KeyPair> = OnceLock::new();
    PAIR.get_or_init(generate)
}

fn foreign_pair() -> &'static KeyPair {
    static PAIR: OnceLock<KeyPair> = OnceLock::new();
    PAIR.get_or_init(generate)
}

/// The test public key as `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) PEM.
pub fn public_pem() -> String {
    test_pair().spki_pem.clone()
}

/// The test public key as `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1) PEM.
pub fn public_rsa_pem() -> String {
    test_pair().pkcs1_pem.clone()
}

/// The test public key as the old gateway's secret holds it: the SubjectPublicKeyInfo
/// DER in base64, without armour or line breaks.
pub fn public_base64_body() -> String {
    STANDARD.encode(&test_pair().spki_der)
}

/// The foreign public key, PEM; for a verifier that must not trust the test key.
pub fn foreign_public_pem() -> String {
    foreign_pair().spki_pem.clone()
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The SSO's claims: `iss`, `sub`, `iat` now, `exp` `exp_offset_secs` from now.
pub fn claims(sub: &str, issuer: &str, exp_offset_secs: i64) -> Value {
    let now = now();
    json!({"iss": issuer, "sub": sub, "iat": now, "exp": now + exp_offset_secs})
}

/// A token as the SSO mints it, signed with the test key (`alg` RS512 or RS256).
pub fn mint(sub: &str, issuer: &str, exp_offset_secs: i64, alg: Algorithm) -> String {
    mint_claims(claims(sub, issuer, exp_offset_secs), alg, Key::Test)
}

/// A token with any claims, any algorithm jsonwebtoken can sign with, and any key.
pub fn mint_claims(claims: Value, alg: Algorithm, key: Key<'_>) -> String {
    let hmac;
    let signing = match key {
        Key::Test => &test_pair().signing,
        Key::Foreign => &foreign_pair().signing,
        Key::Hmac(secret) => {
            hmac = EncodingKey::from_secret(secret).expect("a non-empty HMAC secret");
            &hmac
        }
    };
    jsonwebtoken::encode(&Header::new(alg), &claims, signing).expect("sign the test token")
}

/// A valid token for `sub`, as the SSO mints it: RS512, the test key and issuer, an
/// hour to live. What [`crate::http::TestRequest::as_user`] sends.
pub fn bearer(sub: &str) -> String {
    format!("Bearer {}", mint(sub, ISSUER, 3600, Algorithm::RS512))
}

/// A verifier of the test key and issuer, as a function builds it at its cold start.
pub fn tokens() -> shared::platform::token::Tokens {
    let verifier = shared::platform::token::Verifier::new(&public_pem(), ISSUER)
        .expect("the test key is a valid RSA public key");
    Some(std::sync::Arc::new(verifier))
}

/// A token with `"alg": "none"` and an empty signature, which jsonwebtoken will not make.
pub fn unsigned(claims: Value) -> String {
    let part = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!(
        "{}.{}.",
        part(json!({"alg": "none", "typ": "JWT"})),
        part(claims)
    )
}
