//! Waffle Studio SSO tokens: the one check every HTTP function runs on the caller's
//! `Authorization` header (`http::authenticate`), and that the `authorizer` adapter and
//! the local tools reuse.
//!
//! - no `Authorization` header: anonymous;
//! - `Bearer <token>` (scheme in any case) with a valid token (RS512 or RS256, signed by
//!   the configured key, `iss` the configured issuer, `exp` in the future with 60 s
//!   leeway, `sub` a decimal id): the caller's SSO id;
//! - anything else (bad, expired or foreign token, other scheme, empty token, two
//!   headers): denied.
//!
//! The verifier is built once per cold start from `WAFFLE_JWT_PUBLIC_KEY` and
//! `WAFFLE_JWT_ISSUER` ([`load`]).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::PublicKey as RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use serde::Deserialize;
use serde_json::Value;

use crate::platform::identity::LOCAL_ISSUER;

/// The public key: PEM, or the bare base64 body of an X.509 SubjectPublicKeyInfo.
pub const PUBLIC_KEY_VAR: &str = "WAFFLE_JWT_PUBLIC_KEY";
/// The issuer tokens must name in `iss`.
pub const ISSUER_VAR: &str = "WAFFLE_JWT_ISSUER";
/// Clock skew allowed on `exp`, in seconds.
pub const LEEWAY_SECS: u64 = 60;

/// The verifier a server checks tokens with, shared by its requests; `None` only in a
/// local process started without a key (every request anonymous, every token denied).
pub type Tokens = Option<Arc<Verifier>>;

/// The verifier from the environment, once per cold start. Deployed (`APP_ENV` `dev` or
/// `prod`) a key is required and the local development issuer is refused, so a
/// misconfigured function fails its init instead of serving everyone as anonymous.
/// Locally, without a key, `None` (logged).
pub fn load() -> Result<Tokens, KeyError> {
    let deployed = matches!(env_var("APP_ENV")?.as_deref(), Some("dev" | "prod"));
    match env_var(PUBLIC_KEY_VAR)? {
        Some(_) => Ok(Some(Arc::new(Verifier::from_env()?))),
        None if deployed => Err(KeyError::Missing(PUBLIC_KEY_VAR)),
        None => {
            tracing::warn!(
                "{PUBLIC_KEY_VAR} is not set: every request is anonymous, and any request with a token gets 403"
            );
            Ok(None)
        }
    }
}

/// What to do with a request, from its `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No `Authorization` header: let it through without an identity.
    Anonymous,
    /// A valid token; the caller's SSO id (`sub`).
    User(String),
    Denied(Denial),
}

/// Why a request was denied. The texts go to the logs; none carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("more than one Authorization header")]
    SeveralHeaders,
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("the bearer token is empty")]
    EmptyToken,
    #[error("a token was sent but no public key is configured to verify it")]
    NoKey,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not RS512 or RS256")]
    Algorithm,
    #[error("the token's signature does not verify with the configured key")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token has no `{0}` claim")]
    MissingClaim(String),
    #[error("the token's issuer is not the configured one")]
    Issuer,
    #[error("the token's `sub` is not a decimal user id")]
    Subject,
    #[error("the token is invalid")]
    Other,
}

impl Denial {
    /// A short machine-readable name (never the token).
    pub fn code(&self) -> &'static str {
        match self {
            Self::SeveralHeaders => "several_headers",
            Self::NotBearer => "not_bearer",
            Self::EmptyToken => "empty_token",
            Self::NoKey => "no_key",
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::MissingClaim(_) => "missing_claim",
            Self::Issuer => "issuer",
            Self::Subject => "subject",
            Self::Other => "invalid",
        }
    }
}

/// The decision on a request's headers. `verifier` is `None` only in a local process
/// without a key. Denials are logged with their reason (never the token).
pub fn decide(verifier: Option<&Verifier>, headers: &HeaderMap) -> Decision {
    let decision = match check(verifier, headers) {
        Ok(None) => Decision::Anonymous,
        Ok(Some(sso_id)) => Decision::User(sso_id),
        Err(reason) => Decision::Denied(reason),
    };
    match &decision {
        Decision::Denied(reason) => tracing::info!(%reason, "token denied"),
        Decision::User(sso_id) => tracing::debug!(%sso_id, "token accepted"),
        Decision::Anonymous => tracing::debug!("no token: anonymous"),
    }
    decision
}

fn check(verifier: Option<&Verifier>, headers: &HeaderMap) -> Result<Option<String>, Denial> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    // Two headers could mean two identities; take neither.
    if values.next().is_some() {
        return Err(Denial::SeveralHeaders);
    }
    let token = bearer_token(value.as_bytes())?;
    verifier.ok_or(Denial::NoKey)?.verify(token).map(Some)
}

/// The token of `Bearer <token>`. Auth schemes are case-insensitive (RFC 9110 §11.1),
/// so `bearer` and `BEARER` are accepted too.
fn bearer_token(value: &[u8]) -> Result<&str, Denial> {
    let value = std::str::from_utf8(value)
        .map_err(|_| Denial::NotBearer)?
        .trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Denial::NotBearer);
    }
    match token.trim() {
        "" => Err(Denial::EmptyToken),
        token => Ok(token),
    }
}

// ---------------------------------------------------------------------------------------
// The verifier

/// Checks Waffle Studio SSO tokens against one RSA public key and one issuer. Built once
/// per cold start (or local server start).
#[derive(Debug)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// Why a verifier cannot be built; the message names the variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{0} is not valid UTF-8")]
    NotUnicode(&'static str),
    #[error("{var}: {error}")]
    InVariable {
        var: &'static str,
        error: Box<KeyError>,
    },
    #[error(
        "not an RSA public key (expected PEM, or the base64 body of an X.509 SubjectPublicKeyInfo): {0}"
    )]
    InvalidKey(String),
    #[error("the issuer is empty")]
    EmptyIssuer,
    #[error("jsonwebtoken was built without exactly one crypto backend")]
    NoCryptoBackend,
    #[error(
        "{ISSUER_VAR} is the local development issuer, which a deployed function (APP_ENV={0}) never trusts: set the SSO's issuer"
    )]
    LocalIssuer(String),
}

/// The claims we read; `iss` and `exp` are checked by `Validation`.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Value,
}

impl Verifier {
    /// `public_key` is PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`) or the bare base64 body of
    /// an X.509 SubjectPublicKeyInfo, whitespace allowed.
    pub fn new(public_key: &str, issuer: &str) -> Result<Self, KeyError> {
        // jsonwebtoken picks its backend from crate features and would panic on the first
        // token if that went wrong; find out now, at start.
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(KeyError::NoCryptoBackend);
        }
        let issuer = issuer.trim();
        if issuer.is_empty() {
            return Err(KeyError::EmptyIssuer);
        }
        let key = parse_public_key(public_key)?;
        let key = DecodingKey::from_rsa_raw_components(&key.n_bytes(), &key.e_bytes());

        let mut validation = Validation::new(Algorithm::RS512);
        // Only RSA: a token naming HS256 (signed with the public key as the secret) or
        // `none` never gets near the key.
        validation.algorithms = vec![Algorithm::RS512, Algorithm::RS256];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_aud = false; // the SSO's tokens carry no `aud`
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Ok(Self { key, validation })
    }

    /// From `WAFFLE_JWT_PUBLIC_KEY` and `WAFFLE_JWT_ISSUER`.
    /// Deployed (`APP_ENV` `dev` or `prod`), the local development issuer is refused:
    /// tokens minted by `scripts/token` are never accepted there.
    pub fn from_env() -> Result<Self, KeyError> {
        let public_key = env_var(PUBLIC_KEY_VAR)?.ok_or(KeyError::Missing(PUBLIC_KEY_VAR))?;
        let issuer = env_var(ISSUER_VAR)?.ok_or(KeyError::Missing(ISSUER_VAR))?;
        if let Some(env) = env_var("APP_ENV")?.filter(|e| e == "dev" || e == "prod")
            && issuer.trim() == LOCAL_ISSUER
        {
            return Err(KeyError::LocalIssuer(env));
        }
        Self::new(&public_key, &issuer).map_err(|error| {
            let var = match error {
                KeyError::EmptyIssuer => ISSUER_VAR,
                _ => PUBLIC_KEY_VAR,
            };
            KeyError::InVariable {
                var,
                error: Box::new(error),
            }
        })
    }

    /// The caller's SSO id (`sub`) when `token` is valid.
    pub fn verify(&self, token: &str) -> Result<String, Denial> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|error| denial(error.kind()))?;
        match data.claims.sub {
            Value::String(sub) if is_user_id(&sub) => Ok(sub),
            _ => Err(Denial::Subject),
        }
    }
}

/// A variable's value; `None` when unset or blank.
pub fn env_var(name: &'static str) -> Result<Option<String>, KeyError> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(KeyError::NotUnicode(name)),
    }
}

fn denial(kind: &ErrorKind) -> Denial {
    match kind {
        ErrorKind::InvalidAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => Denial::Algorithm,
        ErrorKind::InvalidSignature | ErrorKind::InvalidRsaKey(_) => Denial::Signature,
        ErrorKind::ExpiredSignature => Denial::Expired,
        ErrorKind::InvalidIssuer => Denial::Issuer,
        ErrorKind::MissingRequiredClaim(claim) => Denial::MissingClaim(claim.clone()),
        ErrorKind::InvalidToken
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => Denial::Malformed,
        _ => Denial::Other,
    }
}

/// SSO user ids are decimal numbers, sent as strings.
fn is_user_id(sub: &str) -> bool {
    (1..=20).contains(&sub.len()) && sub.bytes().all(|b| b.is_ascii_digit())
}

fn parse_public_key(text: &str) -> Result<RsaPublicKey, KeyError> {
    let invalid = |reason: String| KeyError::InvalidKey(reason);
    // Environment files often hold a PEM on one line with literal `\n`s.
    let text = text.trim().replace("\\n", "\n");
    let (label, body) = match text.strip_prefix("-----BEGIN ") {
        Some(rest) => {
            let (label, rest) = rest
                .split_once("-----")
                .ok_or_else(|| invalid("unterminated PEM header".into()))?;
            let body = rest
                .trim_end()
                .strip_suffix(&format!("-----END {label}-----"))
                .ok_or_else(|| invalid(format!("no `-----END {label}-----` line")))?;
            (Some(label), body)
        }
        None => (None, text.as_str()),
    };
    let base64: String = body.split_ascii_whitespace().collect();
    if base64.is_empty() {
        return Err(invalid("empty".into()));
    }
    let der = STANDARD
        .decode(base64)
        .map_err(|error| invalid(format!("not base64 ({error})")))?;
    let key = match label {
        Some("PUBLIC KEY") => RsaPublicKey::from_public_key_der(&der).map_err(|e| e.to_string()),
        Some("RSA PUBLIC KEY") => RsaPublicKey::from_pkcs1_der(&der).map_err(|e| e.to_string()),
        // The bare form is SubjectPublicKeyInfo; a bare PKCS#1 body costs nothing to accept.
        None => RsaPublicKey::from_public_key_der(&der)
            .or_else(|spki| RsaPublicKey::from_pkcs1_der(&der).map_err(|_| spki))
            .map_err(|e| e.to_string()),
        Some(other) => Err(format!("a PEM `{other}` is not a public key")),
    };
    key.map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer_token(b"Bearer abc"), Ok("abc"));
        assert_eq!(bearer_token(b"bearer abc"), Ok("abc"));
        assert_eq!(bearer_token(b"BEARER   abc  "), Ok("abc"));
        assert_eq!(bearer_token(b"Bearer"), Err(Denial::EmptyToken));
        assert_eq!(bearer_token(b"Bearer   "), Err(Denial::EmptyToken));
        assert_eq!(bearer_token(b"Basic xyz"), Err(Denial::NotBearer));
        assert_eq!(bearer_token(b"Bearerabc"), Err(Denial::NotBearer));
        assert_eq!(bearer_token(b"abc"), Err(Denial::NotBearer));
        assert_eq!(bearer_token(b""), Err(Denial::NotBearer));
        assert_eq!(bearer_token(b"Bearer \xff"), Err(Denial::NotBearer));
    }

    #[test]
    fn user_ids_are_short_decimal_strings() {
        assert!(is_user_id("1"));
        assert!(is_user_id("12345678901234567890"));
        assert!(!is_user_id(""));
        assert!(!is_user_id("123456789012345678901"));
        assert!(!is_user_id("12a"));
        assert!(!is_user_id("-1"));
        assert!(!is_user_id("１２")); // full-width digits
    }

    #[test]
    fn private_keys_and_garbage_are_refused_with_a_reason() {
        let error =
            parse_public_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .expect_err("not a public key");
        assert!(error.to_string().contains("PRIVATE KEY"), "{error}");
        let error = parse_public_key("not a key!").expect_err("not base64");
        assert!(error.to_string().contains("not base64"), "{error}");
        let error =
            parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n").expect_err("no END line");
        assert!(error.to_string().contains("END PUBLIC KEY"), "{error}");
    }
}
