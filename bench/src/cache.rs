//! `bench cache`: the member list at the limit (issue 16) and compressed answers
//! (issue 15), on the seeded 1,000-user database:
//!
//! - the `users` binary through the Runtime API: a warm unchanged first page
//!   (`?limit=1000`, a cache hit) in identity, gzip and br, with the bytes on the wire
//!   (the base64 body API Gateway receives, and what it decodes to), and a miss (the
//!   directory version moved before each invocation, outside the timing);
//! - the local server: the unchanged list at c=1 and c=32, a 304 at c=32, and the whole
//!   list of 330 users at c=1, 8 and 32 (to hold against the old server's 24 / 19 / 17
//!   req/s);
//! - the cost of compressing the 1,000-user answer at each gzip level and brotli
//!   quality, which chose the levels in `shared::platform::compress`.
//!
//! Writes docs/perf/bench/cache.md.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde_json::Value;
use sqlx::Connection;
use testkit::http::apigw_event;
use testkit::{LambdaProcess, RuntimeApi};

use crate::http::{LocalServer, load_with};
use crate::report::ScenarioRow;
use crate::stats::{Run, Summary, median, ms, rounds};

/// One compressor at one level.
type Coder = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// Invocations per variant through the Runtime API.
const INVOCATIONS: usize = 300;

pub async fn run(bin: &Path, server_url: &str, url: &str) -> anyhow::Result<String> {
    let mut out = String::from("# The member list at the limit\n\n");
    out.push_str("Medians of 3 rounds (after a warm-up round) unless said otherwise.\n\n");

    // --- Runtime API -------------------------------------------------------------
    let runtime = RuntimeApi::start().await;
    let _process = LambdaProcess::spawn(
        bin.join("users"),
        &runtime,
        &[("DATABASE_URL", url), ("RUST_LOG", "warn")],
    );
    let mut db = sqlx::MySqlConnection::connect(url).await?;
    out.push_str(
        "## `users` binary through the Runtime API, `GET /users?limit=1000`, 1,000 users\n\n",
    );
    out.push_str("| variant | p50 ms | p99 ms | body on the wire (base64) | decoded body |\n|---|---:|---:|---:|---:|\n");
    let mut identity_body = Vec::new();
    for (name, encoding, miss) in [
        ("hit, identity", None, false),
        ("hit, gzip", Some("gzip"), false),
        ("hit, br", Some("br"), false),
        ("miss, identity", None, true),
        ("miss, br", Some("br"), true),
    ] {
        let mut event = apigw_event("GET", "/api/v1/users?limit=1000", None, None);
        if let Some(encoding) = encoding {
            event["headers"]["accept-encoding"] = encoding.into();
        }
        let mut latencies = Vec::with_capacity(INVOCATIONS);
        let mut wire = 0;
        let mut decoded = 0;
        for i in 0..INVOCATIONS + 20 {
            if miss {
                sqlx::query("UPDATE directory_version SET version = version + 1 WHERE id = 1")
                    .execute(&mut db)
                    .await?;
            }
            let started = Instant::now();
            let payload: Value = runtime.invoke(event.clone()).await.response();
            let took = started.elapsed();
            anyhow::ensure!(payload["statusCode"] == 200, "{name}: {payload}");
            let body = payload["body"].as_str().unwrap_or("");
            wire = body.len();
            decoded = if payload["isBase64Encoded"] == true {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .map(|b| b.len())
                    .unwrap_or(0)
            } else {
                body.len()
            };
            if encoding.is_none() && identity_body.is_empty() {
                identity_body = body.as_bytes().to_vec();
            }
            // The first 20 warm the process (and the cache, for hits).
            if i >= 20 {
                latencies.push(took);
            }
        }
        latencies.sort();
        out.push_str(&format!(
            "| {name} | {:.2} | {:.2} | {wire} | {decoded} |\n",
            ms(crate::stats::percentile(&latencies, 0.5)),
            ms(crate::stats::percentile(&latencies, 0.99)),
        ));
    }

    // --- Compression cost --------------------------------------------------------
    out.push_str(&format!(
        "\n## Compressing the 1,000-user answer ({} bytes), median of 15\n\n",
        identity_body.len()
    ));
    out.push_str("| coding | ms | bytes | ratio |\n|---|---:|---:|---:|\n");
    let mut codings: Vec<(String, Coder)> = Vec::new();
    for level in [1, 4, 6, 9] {
        codings.push((format!("gzip {level}"), Box::new(move |b| gzip(b, level))));
    }
    for quality in [1, 3, 4, 5, 6, 8, 11] {
        codings.push((
            format!("br {quality}"),
            Box::new(move |b| brotli(b, quality)),
        ));
    }
    for (name, code) in &codings {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..15 {
            let started = Instant::now();
            size = code(&identity_body).len();
            times.push(ms(started.elapsed()));
        }
        out.push_str(&format!(
            "| {name} | {:.2} | {size} | {:.1} |\n",
            median(times),
            identity_body.len() as f64 / size.max(1) as f64
        ));
    }

    // --- Local server --------------------------------------------------------------
    out.push_str(
        "\n## Local server\n\n| scenario | req/s | p50 ms | p99 ms |\n|---|---:|---:|---:|\n",
    );
    let server = LocalServer::start(bin, url).await?;
    let addr = server.addr.clone();
    let (_, _, etag) =
        load_with(&addr, 1, 1, |_| "/api/v1/users?limit=1000".into(), &[], 200).await?;
    let etag = etag.context("an ETag")?;
    let mut rows = Vec::new();
    let limit = |_| "/api/v1/users?limit=1000".into();
    for (c, total) in [(1, 400), (32, 3200)] {
        let summary = measured(|| load_with(&addr, c, total, limit, &[], 200)).await?;
        rows.push(ScenarioRow::new(
            format!("unchanged `?limit=1000`, 1,000 users, c={c}"),
            summary,
        ));
    }
    let br = [("accept-encoding".to_owned(), "br".to_owned())];
    let summary = measured(|| load_with(&addr, 32, 3200, limit, &br, 200)).await?;
    rows.push(ScenarioRow::new(
        "unchanged `?limit=1000`, br, c=32",
        summary,
    ));
    let if_none_match = [("if-none-match".to_owned(), etag.clone())];
    let summary = measured(|| load_with(&addr, 32, 16_000, limit, &if_none_match, 304)).await?;
    rows.push(ScenarioRow::new("304 for `If-None-Match`, c=32", summary));
    let by_id = |i: usize| format!("/api/v1/users/{}", 1 + (i * 7919) % 1000);
    let summary = measured(|| load_with(&addr, 32, 16_000, by_id, &[], 200)).await?;
    rows.push(ScenarioRow::new("`GET /users/{id}`, c=32", summary));
    server.stop().await;

    let url_330 = crate::seed::seed(server_url, "bench_users_330", 330).await?;
    let server = LocalServer::start(bin, &url_330).await?;
    for c in [1, 8, 32] {
        let whole = |_| "/api/v1/users".into();
        let summary =
            measured(|| load_with(&server.addr, c, 200 * c.min(8), whole, &[], 200)).await?;
        rows.push(ScenarioRow::new(
            format!("whole list, 330 users, c={c}"),
            summary,
        ));
    }
    server.stop().await;
    for row in rows {
        out.push_str(&row.markdown());
        out.push('\n');
    }
    Ok(out)
}

/// The summary of `rounds` of `load` (a `load_with` call), from its timings.
async fn measured<Fut>(load: impl Fn() -> Fut) -> anyhow::Result<Summary>
where
    Fut: std::future::Future<Output = anyhow::Result<(Run, usize, Option<String>)>>,
{
    rounds(|| async {
        let (run, _, _) = load().await?;
        Ok(run)
    })
    .await
}

fn gzip(body: &[u8], level: u32) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

fn brotli(body: &[u8], quality: i32) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        lgwin: 22,
        size_hint: body.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    let _ = brotli::BrotliCompress(&mut &body[..], &mut out, &params);
    out
}
