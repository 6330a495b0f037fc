//! Compressed answers (docs/api.md, Conventions): an answer of 1 KiB or more goes out in `br`
//! or `gzip` when the request's `Accept-Encoding` allows it, with `Vary: Accept-Encoding`.
//!
//! One layer in the shared HTTP stack compresses every function's answers; a handler
//! that already holds the compressed bytes (the member list's cache) sets
//! `Content-Encoding` itself and the layer leaves its answer alone. Through API Gateway,
//! `lambda_http` sends any answer with a `Content-Encoding` as a base64 body with
//! `isBase64Encoded: true`.
//!
//! The levels come from `scripts/bench cache` on the 1,000-user list (440 KiB; figures in
//! docs/perf/2026-12-04-list-cache.md): brotli quality 4 makes 11.7 KB in 1.25 ms, smaller and 2.3x
//! quicker than quality 5 (12.5 KB, 2.88 ms); gzip level 4 makes 25.7 KB in 1.05 ms, 3 %
//! more bytes than level 6 (24.9 KB) in 43 % of its time.

use std::io::Write;

use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};

/// Smaller answers are sent as they are: compressing them saves nearly nothing.
pub const MIN_SIZE: usize = 1024;
pub const BROTLI_QUALITY: u32 = 4;
pub const GZIP_LEVEL: u32 = 4;
/// Brotli's window: 4 MiB covers the largest answer (the 1,000-user list, ~440 KiB).
const BROTLI_WINDOW: u32 = 22;

/// How an answer's body is coded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The `Content-Encoding` token, none for identity.
    pub fn token(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Brotli => Some("br"),
        }
    }

    /// The encoding `Accept-Encoding` prefers among br, gzip and identity (RFC 9110
    /// §12.5.3): the highest q-value wins, `*` stands for any coding not named, `q=0`
    /// refuses, and a tie goes to the smaller body (br, then gzip). Without the header,
    /// or with one that cannot be read, the answer is sent as it is.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let mut named = [None::<u16>; 3]; // identity, gzip, br, in thousandths
        let mut any = None::<u16>;
        let mut seen = false;
        for value in headers.get_all(header::ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else {
                return Self::Identity;
            };
            for item in value.split(',') {
                let mut parts = item.split(';');
                let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                if coding.is_empty() {
                    continue;
                }
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                    .map(parse_q)
                    .next()
                    .unwrap_or(Some(1000));
                let Some(q) = q else {
                    continue;
                };
                seen = true;
                match coding.as_str() {
                    "identity" => named[0] = Some(q),
                    "gzip" | "x-gzip" => named[1] = Some(q),
                    "br" => named[2] = Some(q),
                    "*" => any = Some(q),
                    _ => {}
                }
            }
        }
        if !seen {
            return Self::Identity;
        }
        // Identity stays acceptable unless refused by name or by `*;q=0`.
        let identity = named[0].or(any).unwrap_or(1);
        let gzip = named[1].or(any).unwrap_or(0);
        let br = named[2].or(any).unwrap_or(0);
        if br > 0 && br >= gzip && br >= identity {
            Self::Brotli
        } else if gzip > 0 && gzip >= identity {
            Self::Gzip
        } else {
            Self::Identity
        }
    }

    /// `body` coded this way. Writing into memory cannot fail; were it to, the answer
    /// goes out uncompressed (`None`) rather than broken.
    pub fn encode(self, body: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::Identity => Some(body.to_vec()),
            Self::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::new(GZIP_LEVEL),
                );
                encoder.write_all(body).ok()?;
                encoder.finish().ok()
            }
            Self::Brotli => {
                let mut out = Vec::with_capacity(body.len() / 4);
                let params = brotli::enc::BrotliEncoderParams {
                    quality: BROTLI_QUALITY as i32,
                    lgwin: BROTLI_WINDOW as i32,
                    size_hint: body.len(),
                    ..Default::default()
                };
                let mut input = body;
                brotli::BrotliCompress(&mut input, &mut out, &params).ok()?;
                Some(out)
            }
        }
    }
}

/// A q-value in thousandths; `None` when it is not one (the item is then ignored).
fn parse_q(text: &str) -> Option<u16> {
    let q: f32 = text.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&q)
        .then(|| (q * 1000.0).round() as u16)
}

/// Marks `headers` as depending on `Accept-Encoding`, once.
pub fn add_vary(headers: &mut HeaderMap) {
    let present = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("accept-encoding") || v.trim() == "*");
    if !present {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// The entity tag of a compressed answer: weak, since its bytes differ from the
/// identity answer's (RFC 9110 §8.8.1). `If-None-Match` compares weakly, so the one tag
/// revalidates every coding of the same answer.
pub fn weaken(etag: &HeaderValue) -> HeaderValue {
    if etag.as_bytes().starts_with(b"W/") {
        return etag.clone();
    }
    let mut weak = b"W/".to_vec();
    weak.extend_from_slice(etag.as_bytes());
    HeaderValue::from_bytes(&weak).unwrap_or_else(|_| etag.clone())
}

/// The layer: compresses an answer of [`MIN_SIZE`] or more whose type is text of some
/// kind, unless the handler already coded it.
pub async fn layer(request: Request, next: Next) -> Response {
    let encoding = Encoding::negotiate(request.headers());
    let mut response = next.run(request).await;
    add_vary(response.headers_mut());
    if encoding == Encoding::Identity
        || matches!(
            response.status(),
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
        )
        || response.headers().contains_key(header::CONTENT_ENCODING)
        || !is_compressible(response.headers())
        || response
            .body()
            .size_hint()
            .upper()
            .is_some_and(|n| n < MIN_SIZE as u64)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Every answer here is built in memory: collecting it costs a copy at most.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if bytes.len() < MIN_SIZE {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let (Some(coded), Some(token)) = (encoding.encode(&bytes), encoding.token()) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static(token));
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(etag) = parts.headers.get(header::ETAG).map(weaken) {
        parts.headers.insert(header::ETAG, etag);
    }
    Response::from_parts(parts, Body::from(coded))
}

fn is_compressible(headers: &HeaderMap) -> bool {
    let Some(kind) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let kind = kind.to_ascii_lowercase();
    kind.starts_with("text/")
        || ["json", "javascript", "xml", "yaml", "svg"]
            .iter()
            .any(|k| kind.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Encoding {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        Encoding::negotiate(&headers)
    }

    #[test]
    fn q_values_decide() {
        assert_eq!(Encoding::negotiate(&HeaderMap::new()), Encoding::Identity);
        assert_eq!(accept("gzip, deflate, br, zstd"), Encoding::Brotli);
        assert_eq!(accept("gzip"), Encoding::Gzip);
        assert_eq!(accept("br;q=0.5, gzip;q=0.8"), Encoding::Gzip);
        assert_eq!(accept("br;q=0, gzip;q=0"), Encoding::Identity);
        assert_eq!(accept("*"), Encoding::Brotli);
        assert_eq!(accept("*;q=0.3, br;q=0"), Encoding::Gzip);
        assert_eq!(accept("gzip;q=0.5, identity"), Encoding::Identity);
        assert_eq!(accept("identity"), Encoding::Identity);
        assert_eq!(accept("deflate"), Encoding::Identity);
        assert_eq!(accept("br;q=2"), Encoding::Identity);
        assert_eq!(accept("BR;Q=0.9"), Encoding::Brotli);
    }

    #[test]
    fn both_codings_round_trip() {
        use std::io::Read;
        let body = br#"{"first_name":"Jiwon"}"#.repeat(200);
        let gz = Encoding::Gzip.encode(&body).unwrap();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, body);
        let br = Encoding::Brotli.encode(&body).unwrap();
        let mut plain = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut plain).unwrap();
        assert_eq!(plain, body);
        assert!(br.len() < body.len() / 10 && gz.len() < body.len() / 10);
    }

    #[test]
    fn compressed_tags_are_weak() {
        let strong = HeaderValue::from_static("\"abc\"");
        assert_eq!(weaken(&strong), "W/\"abc\"");
        assert_eq!(weaken(&weaken(&strong)), "W/\"abc\"");
    }
}
