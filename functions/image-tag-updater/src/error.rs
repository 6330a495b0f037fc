//! Why an invocation fails: GitHub's answers classified, and the Lambda error types.

use std::fmt;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

/// Why an invocation failed. Every failure fails the invocation, so that EventBridge
/// delivers the event again.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// ECR could not confirm or deny the image: nothing is trusted, nothing changes.
    #[error(transparent)]
    Ecr(#[from] crate::ecr::EcrError),
    #[error(
        "the tree of branch {branch} is too large for one recursive read (GitHub truncated it); \
         no file was changed"
    )]
    TreeTruncated { branch: String },
    #[error(
        "branch {branch} moved during each of {attempts} attempts to commit; giving up for now \
         (the event is retried)"
    )]
    BranchKeepsMoving { branch: String, attempts: u32 },
}

impl From<Failure> for lambda_runtime::Diagnostic {
    fn from(failure: Failure) -> Self {
        let error_type = match &failure {
            Failure::GitHub(error) => error.kind(),
            Failure::Ecr(_) => "EcrUnavailable",
            Failure::TreeTruncated { .. } => "TreeTruncated",
            Failure::BranchKeepsMoving { .. } => "BranchKeepsMoving",
        };
        Self {
            error_type: error_type.into(),
            error_message: failure.to_string(),
        }
    }
}

/// Why a GitHub call failed.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub authentication failed (401 {message}): the token is wrong, expired or revoked")]
    Unauthorized { message: String },
    #[error("GitHub rate limit exceeded ({status}): {retry}")]
    RateLimited { status: u16, retry: Retry },
    #[error("GitHub refused {method} {path} (403 {message}): the token lacks a permission")]
    Forbidden {
        method: Method,
        path: String,
        message: String,
    },
    #[error(
        "GitHub answered 404 to {method} {path}: the repository, the branch or the object does \
         not exist, or the token cannot see it"
    )]
    NotFound { method: Method, path: String },
    #[error("the branch moved: the update is not a fast forward")]
    NotFastForward,
    #[error("GitHub answered {status} to {method} {path}: {message}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        message: String,
    },
    #[error("GitHub could not be reached ({method} {path}): {reason}")]
    Unreachable {
        method: Method,
        path: String,
        reason: String,
    },
    #[error("GitHub's answer to {method} {path} could not be read: {reason}")]
    Unexpected {
        method: Method,
        path: String,
        reason: String,
    },
}

impl GitHubError {
    /// The Lambda error type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "GitHubAuthenticationFailed",
            Self::RateLimited { .. } => "GitHubRateLimited",
            Self::Forbidden { .. } => "GitHubForbidden",
            Self::NotFound { .. } => "GitHubNotFound",
            Self::NotFastForward => "BranchMoved",
            Self::Unreachable { .. } => "GitHubUnreachable",
            Self::Status { .. } | Self::Unexpected { .. } => "GitHubError",
        }
    }
}

/// When GitHub lets us call again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retry {
    /// `x-ratelimit-reset`: the epoch second the quota resets.
    At {
        reset: i64,
        now: i64,
    },
    /// `retry-after` in seconds.
    After {
        seconds: u64,
    },
    Unknown,
}

impl fmt::Display for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::At { reset, now } => {
                let when = time::OffsetDateTime::from_unix_timestamp(*reset)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_else(|| format!("epoch second {reset}"));
                write!(f, "retry after {when} (in {} s)", (reset - now).max(0))
            }
            Self::After { seconds } => write!(f, "retry after {seconds} s"),
            Self::Unknown => write!(f, "retry in a few minutes"),
        }
    }
}

/// Maps a failed answer to an error, reading GitHub's rate-limit headers.
pub(crate) fn classify(
    method: Method,
    path: &str,
    status: StatusCode,
    headers: &HeaderMap,
    message: String,
) -> GitHubError {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let retry = || match (
        header("retry-after").and_then(|v| v.parse::<u64>().ok()),
        header("x-ratelimit-reset").and_then(|v| v.parse::<i64>().ok()),
    ) {
        (Some(seconds), _) => Retry::After { seconds },
        (None, Some(reset)) => Retry::At {
            reset,
            now: time::OffsetDateTime::now_utc().unix_timestamp(),
        },
        (None, None) => Retry::Unknown,
    };
    let exhausted = header("x-ratelimit-remaining") == Some("0");
    match status.as_u16() {
        401 => GitHubError::Unauthorized { message },
        429 => GitHubError::RateLimited {
            status: 429,
            retry: retry(),
        },
        // GitHub's primary limit (quota spent) and secondary limits (retry-after) are 403s.
        403 if exhausted || header("retry-after").is_some() => GitHubError::RateLimited {
            status: 403,
            retry: retry(),
        },
        403 => GitHubError::Forbidden {
            method,
            path: path.to_owned(),
            message,
        },
        404 => GitHubError::NotFound {
            method,
            path: path.to_owned(),
        },
        422 if method == Method::PATCH && message.to_ascii_lowercase().contains("fast forward") => {
            GitHubError::NotFastForward
        }
        other => GitHubError::Status {
            method,
            path: path.to_owned(),
            status: other,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_say_when_to_retry() {
        let retry = Retry::At {
            reset: 1_795_000_000,
            now: 1_794_999_400,
        };
        assert_eq!(
            retry.to_string(),
            "retry after 2026-11-18T11:06:40Z (in 600 s)"
        );
        assert_eq!(Retry::After { seconds: 60 }.to_string(), "retry after 60 s");
    }
}
