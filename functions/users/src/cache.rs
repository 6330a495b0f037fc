//! The per-process cache of `GET /users` answers: serialized bytes (and their
//! compressed codings, made once on first demand) keyed by the normalized query string,
//! valid for one directory version.
//!
//! Why it cannot serve a stale list: a request reads the version first and the list
//! after it, each in its own statement. Every write moves the version in its own
//! transaction (the triggers of migration 0007), so once a write has answered, any
//! later request reads a newer version and can only meet an answer built from reads
//! made after that write. An answer built under an older version is never looked up
//! again. See docs/list-cache.md.
//!
//! What is cached never depends on the request's headers: the `Link` host and the
//! chosen coding are added per request, so no header can poison an answer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use shared::platform::compress::{self, Encoding};

/// Memory the cache may hold: each entry is charged its key, its answer's bytes plus room
/// for their codings, and [`ENTRY_OVERHEAD`].
pub const BUDGET: usize = 8 * 1024 * 1024;

/// What an entry costs besides its key's and body's bytes: the `Answer` and its `Arc`,
/// the ETag and the small allocations behind `Bytes` and the key, the map's and the
/// queue's slots (each up to twice their size, as both grow by doubling), and the
/// allocator's headers. Measured, not guessed: distinct empty answers with 1.6 KB keys
/// hold what `functions/users/tests/memory.rs` shows, well inside this charge
/// (docs/perf/2026-12-07-list-cache-memory.md).
pub const ENTRY_OVERHEAD: usize = 512;

/// The most entries the cache keeps, whatever their size: many tiny answers (a filter
/// matching nobody is `[]`) would otherwise fill the budget with per-entry overhead.
/// A directory of ~1,000 members answered for every position, generation and page
/// needs a few hundred.
pub const MAX_ENTRIES: usize = 4096;

/// The most a synchronous Lambda invocation may return, the response as serialized
/// (6 MB: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
/// Above it Lambda fails the invocation and API Gateway answers its own 5xx, so the
/// function refuses first (docs/api.md, "As deployed"). The same rule holds on the
/// merged server, so that a client meets locally what it meets deployed.
pub const LAMBDA_RESPONSE_LIMIT: usize = 6 * 1024 * 1024;
/// What the response's status, headers and JSON frame may take besides the body.
const FRAME_ROOM: usize = 16 * 1024;

/// One list answer, as it is for one directory version.
pub struct Answer {
    pub version: u64,
    /// The strong tag of `body`, quoted.
    pub etag: String,
    pub total: i64,
    /// The next page's path and query, when `limit` cut the list.
    pub next: Option<String>,
    pub body: Bytes,
    gzip: OnceLock<Option<Bytes>>,
    brotli: OnceLock<Option<Bytes>>,
    /// `body`'s length once escaped into the Lambda response's `body` string.
    escaped_len: OnceLock<usize>,
}

impl Answer {
    pub fn new(version: u64, total: i64, next: Option<String>, body: Vec<u8>) -> Self {
        Self {
            version,
            etag: format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(&body)),
            total,
            next,
            body: Bytes::from(body),
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
            escaped_len: OnceLock::new(),
        }
    }

    /// The bytes the body takes in the function's response to Lambda: lambda_http sends
    /// a JSON body as a JSON string (each `"` and `\` escaped, a control character as
    /// `\u00XX` at most), and a compressed one base64-encoded (4 bytes per 3).
    fn payload_len(&self, coded: Option<&Bytes>) -> usize {
        match coded {
            Some(bytes) => bytes.len().div_ceil(3) * 4,
            None => *self.escaped_len.get_or_init(|| {
                self.body
                    .iter()
                    .map(|&b| match b {
                        b'"' | b'\\' => 2,
                        0..0x20 => 6,
                        _ => 1,
                    })
                    .sum()
            }),
        }
    }

    /// The cache's charge for this answer under a key of `key_len` bytes: the key, the
    /// body plus half again for its codings (a JSON list compresses to well under a
    /// quarter in either), the next page's path, the ETag and [`ENTRY_OVERHEAD`].
    fn weight(&self, key_len: usize) -> usize {
        key_len
            + self.body.len()
            + self.body.len() / 2
            + self.next.as_ref().map_or(0, String::len)
            + self.etag.len()
            + ENTRY_OVERHEAD
    }

    /// The body in `encoding`, compressed on first demand and kept; `None` when it is
    /// sent as it is (identity, or under the 1 KiB threshold).
    fn coded(&self, encoding: Encoding) -> Option<Bytes> {
        if self.body.len() < compress::MIN_SIZE {
            return None;
        }
        let slot = match encoding {
            Encoding::Identity => return None,
            Encoding::Gzip => &self.gzip,
            Encoding::Brotli => &self.brotli,
        };
        slot.get_or_init(|| encoding.encode(&self.body).map(Bytes::from))
            .clone()
    }

    /// The HTTP answer for a request with these headers from a caller at `origin`
    /// (`scheme://host`, or `None` when it is not known: the link is then relative).
    pub fn respond(&self, request: &HeaderMap, origin: Option<&str>) -> Response {
        let encoding = Encoding::negotiate(request);
        let would_code = encoding != Encoding::Identity && self.body.len() >= compress::MIN_SIZE;
        let strong = HeaderValue::from_str(&self.etag).ok();
        // The coded bytes differ from the identity ones: their tag is the weak form.
        let etag = strong.map(|tag| {
            if would_code {
                compress::weaken(&tag)
            } else {
                tag
            }
        });
        let mut response = if if_none_match(request, &self.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let coded = self.coded(encoding);
            if self.payload_len(coded.as_ref()) + FRAME_ROOM > LAMBDA_RESPONSE_LIMIT {
                let mut response = too_large(self.total, self.body.len()).into_response();
                compress::add_vary(response.headers_mut());
                return response;
            }
            let mut response = match &coded {
                Some(bytes) => Response::new(Body::from(bytes.clone())),
                None => Response::new(Body::from(self.body.clone())),
            };
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let (Some(_), Some(token)) = (&coded, encoding.token()) {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(token));
            }
            headers.insert("x-total-count", HeaderValue::from(self.total));
            let link = self
                .next
                .as_ref()
                .map(|path| format!("<{}{path}>; rel=\"next\"", origin.unwrap_or("")))
                .and_then(|link| HeaderValue::from_str(&link).ok());
            if let Some(link) = link {
                headers.insert(header::LINK, link);
            }
            response
        };
        let headers = response.headers_mut();
        if let Some(etag) = etag {
            headers.insert(header::ETAG, etag);
        }
        compress::add_vary(headers);
        response
    }
}

/// The answer to a list that Lambda could not return: 422 naming the two ways to get
/// it (a compressed coding, or pages).
fn too_large(total: i64, len: usize) -> shared::Error {
    let megabytes = len as f64 / 1_000_000.0;
    shared::Error::Validation(vec![shared::platform::error::FieldError::query(
        "limit",
        format!(
            "The list ({total} users, {megabytes:.1} MB as JSON) is larger than one answer may \
             carry (6 MB uncompressed): send Accept-Encoding: br or gzip, or page through it \
             with limit (1-1000)"
        ),
        "answer_too_large",
    )])
}

/// Whether `If-None-Match` names `tag` (weak comparison, RFC 9110 §13.1.2), or is `*`.
fn if_none_match(request: &HeaderMap, tag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*")
}

/// The answers of recent queries, for the newest directory version seen.
#[derive(Default)]
pub struct ListCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    version: u64,
    /// The key is held once, shared with `order`.
    answers: HashMap<Arc<str>, Arc<Answer>>,
    /// Keys in insertion order; the oldest goes first when the budget or the entry cap
    /// is spent.
    order: VecDeque<Arc<str>>,
    weight: usize,
}

impl ListCache {
    /// The answer to `key` for `version`, if it was kept.
    pub fn get(&self, key: &str, version: u64) -> Option<Arc<Answer>> {
        let inner = self.inner.lock().ok()?;
        inner
            .answers
            .get(key)
            .filter(|answer| answer.version == version)
            .cloned()
    }

    /// Keeps `answer` for `key`. A newer version empties the cache (nothing older can be
    /// asked for again); an answer of an older version than the cache's is not kept.
    pub fn put(&self, key: String, answer: Arc<Answer>) {
        let weight = answer.weight(key.len());
        if weight > BUDGET {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if answer.version < inner.version {
            return;
        }
        if answer.version > inner.version {
            // New, smaller containers: the old ones' capacity goes with them.
            inner.answers = HashMap::new();
            inner.order = VecDeque::new();
            inner.weight = 0;
            inner.version = answer.version;
        }
        let key: Arc<str> = Arc::from(key);
        match inner.answers.insert(key.clone(), answer) {
            Some(old) => inner.weight -= old.weight(key.len()),
            None => inner.order.push_back(key),
        }
        inner.weight += weight;
        while inner.weight > BUDGET || inner.answers.len() > MAX_ENTRIES {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(old) = inner.answers.remove(&oldest) {
                inner.weight -= old.weight(oldest.len());
            }
        }
    }

    /// The bytes it is charged for now, and how many entries it holds.
    #[cfg(test)]
    fn weight(&self) -> usize {
        self.inner.lock().map_or(0, |inner| inner.weight)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map_or(0, |inner| inner.answers.len())
    }
}

/// `scheme://host[:port]` of the caller, for absolute links.
///
/// Behind API Gateway, the payload's `requestContext.domainName` is the domain it served
/// (the custom domain, or the execute-api one), and `x-forwarded-proto` and
/// `x-forwarded-port` how it was called: API Gateway sets those itself, replacing what a
/// client sends — `https` and 443 as deployed, `http` and its own port through `local
/// --lambdas`. Without them, `https`. `X-Forwarded-Host` is not read: API Gateway passes
/// a client's through unchanged. Elsewhere (the local server) it is `http://` and the
/// `Host` header. A host that is not a plain `name[:port]` gives no origin, and the link
/// stays relative.
pub fn origin(domain_name: Option<&str>, request: &HeaderMap) -> Option<String> {
    if let Some(domain) = domain_name.filter(|d| is_host(d)) {
        let forwarded = |name: &str| {
            request
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let (scheme, default_port) = match forwarded("x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("http") => ("http", 80),
            _ => ("https", 443),
        };
        let port = forwarded("x-forwarded-port")
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p != default_port && !domain.contains(':'));
        return Some(match port {
            Some(port) => format!("{scheme}://{domain}:{port}"),
            None => format!("{scheme}://{domain}"),
        });
    }
    let host = request.get(header::HOST)?.to_str().ok()?;
    is_host(host).then(|| format!("http://{host}"))
}

fn is_host(host: &str) -> bool {
    shared::platform::input::rules::is_token(host, 255, b"-.:[]_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(version: u64, size: usize) -> Arc<Answer> {
        Arc::new(Answer::new(version, 1, None, vec![b'x'; size]))
    }

    #[test]
    fn a_newer_version_replaces_everything_and_older_ones_are_refused() {
        let cache = ListCache::default();
        cache.put("a".into(), answer(2, 10));
        cache.put("b".into(), answer(2, 10));
        assert!(cache.get("a", 2).is_some());
        assert!(cache.get("a", 3).is_none());
        cache.put("a".into(), answer(3, 10));
        assert!(cache.get("b", 2).is_none());
        cache.put("b".into(), answer(2, 10));
        assert!(cache.get("b", 2).is_none());
    }

    #[test]
    fn the_budget_holds() {
        let cache = ListCache::default();
        for i in 0..40 {
            cache.put(format!("k{i}"), answer(1, 500_000));
        }
        assert!(cache.weight() <= BUDGET);
        assert!(cache.get("k39", 1).is_some());
        assert!(cache.get("k0", 1).is_none());
    }

    /// Many distinct filters that match nobody (`[]`) with long Unicode values: the keys
    /// and the per-entry overhead are charged, and the entry cap holds.
    #[test]
    fn keys_and_entries_are_charged_and_capped() {
        let cache = ListCache::default();
        // The longest key the query allows: q (100), position (50), generation (30)
        // Korean characters, each 9 bytes percent-encoded.
        let long = |i: usize| {
            let korean = |n: usize| "%ED%95%9C".repeat(n);
            format!(
                "position={}&generation={}&q={}{i}",
                korean(50),
                korean(30),
                korean(96)
            )
        };
        let mut charged = 0;
        for i in 0..20_000 {
            let key = long(i);
            charged = key.len() + 3 + 34 + ENTRY_OVERHEAD;
            cache.put(key, answer(1, 2));
            assert!(cache.weight() <= BUDGET);
            assert!(cache.len() <= MAX_ENTRIES);
        }
        assert!(
            charged > 2_000,
            "a long key is charged its length: {charged}"
        );
        // The budget, not the cap, bounds these: ~3,900 entries of ~2.1 KB.
        assert_eq!(cache.len(), BUDGET / charged);
        assert!(cache.get(&long(19_999), 1).is_some());
        assert!(cache.get(&long(0), 1).is_none());

        // Short keys: the cap bounds them.
        let cache = ListCache::default();
        for i in 0..20_000 {
            cache.put(format!("q={i}"), answer(1, 2));
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(cache.weight() <= MAX_ENTRIES * (ENTRY_OVERHEAD + 64));
    }

    #[test]
    fn origins_come_from_api_gateway_then_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("localhost:8000"));
        assert_eq!(
            origin(Some("api.wafflestudio.com"), &headers).as_deref(),
            Some("https://api.wafflestudio.com")
        );
        assert_eq!(
            origin(None, &headers).as_deref(),
            Some("http://localhost:8000")
        );
        // API Gateway's own x-forwarded-*: as deployed, then through `local --lambdas`.
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert("x-forwarded-port", HeaderValue::from_static("443"));
        assert_eq!(
            origin(Some("api.wafflestudio.com"), &headers).as_deref(),
            Some("https://api.wafflestudio.com")
        );
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        headers.insert("x-forwarded-port", HeaderValue::from_static("8080"));
        assert_eq!(
            origin(Some("127.0.0.1"), &headers).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        headers.insert(header::HOST, HeaderValue::from_static("evil.com/x?"));
        assert_eq!(origin(None, &headers), None);
    }
}
