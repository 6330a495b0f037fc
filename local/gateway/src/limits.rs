//! AWS's quotas the stand-in enforces, each with its page, and the token bucket API
//! Gateway throttles with.

use std::sync::Mutex;
use std::time::Instant;

/// Lambda counts MB as 1,024 KB
/// (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
const MB: usize = 1024 * 1024;

/// A synchronous invocation's event: 6 MB ("Invocation payload (request and response)",
/// https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); Lambda
/// answers `RequestTooLargeException` "Request must be smaller than 6291456 bytes for
/// the InvokeFunction operation".
pub const SYNC_REQUEST_BYTES: usize = 6 * MB;

/// A synchronous invocation's response, as the runtime posts it: 6 MB, counted by
/// Lambda as 6,291,556 bytes ("Response payload size exceeded maximum allowed payload
/// size (6291556 bytes)", the `Function.ResponseSizeTooLarge` error).
pub const SYNC_RESPONSE_BYTES: usize = 6 * MB + 100;

/// An asynchronous invocation's event. The quotas page long said 256 KB; the Invoke
/// API's reference now says "For asynchronous invocations, the maximum payload size is
/// 1 MB" (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html), and the
/// stand-in follows the API's reference.
pub const ASYNC_REQUEST_BYTES: usize = MB;

/// An HTTP API request's body: 10 MB ("Payload size",
/// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
pub const HTTP_API_BODY_BYTES: usize = 10 * MB;

/// An HTTP API request's line and header values together: 10,240 bytes (same page).
pub const HTTP_API_HEADER_BYTES: usize = 10_240;

/// Concurrent executions of an account's functions in a Region, by default
/// (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html);
/// `WADOT_ACCOUNT_CONCURRENCY` changes it, as a quota increase (or a new account's
/// lower quota) would.
pub const ACCOUNT_CONCURRENCY: u32 = 1000;

/// Concurrency that reservations must leave unreserved
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
pub const UNRESERVED_MINIMUM: u32 = 100;

/// API Gateway's account-level throttle per Region, under every stage's
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html).
pub const ACCOUNT_RATE: f64 = 10_000.0;
pub const ACCOUNT_BURST: u64 = 5_000;

/// The token bucket API Gateway throttles with
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-request-throttling.html):
/// `burst` tokens at most, refilled at `rate` per second; a request takes one, or is
/// refused when none is left. It starts full.
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: u64) -> Self {
        let burst = burst as f64;
        Self {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Takes a token if there is one.
    pub fn take(&self) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, at) = &mut *state;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn burst(&self) -> u64 {
        self.burst as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        let bucket = TokenBucket::new(1.0, 3);
        assert_eq!((0..5).filter(|_| bucket.take()).count(), 3);
        let empty = TokenBucket::new(100.0, 0);
        assert!(!empty.take(), "a burst of 0 admits nothing");
        let refilling = TokenBucket::new(1000.0, 1);
        assert!(refilling.take());
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(refilling.take(), "refilled at 1,000 per second");
    }
}
