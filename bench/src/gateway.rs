//! `gateway`: the deployed shape (`local --lambdas`: API Gateway stand-in and the
//! `users` binary under the Runtime API) against the merged server, on the
//! seeded database: `GET /api/v1/users/{id}` with a token at c=1 and c=32, and the
//! first request after start, when every environment is cold.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;

use crate::http::{LocalServer, load_as};
use crate::report::ScenarioRow;
use crate::seed::ADMIN_SSO;
use crate::stats::{median, rounds};

const USERS: usize = 1000;
/// Starts of `--lambdas` whose first request is measured.
const COLD_STARTS: usize = 5;

fn env() -> Vec<(&'static str, String)> {
    vec![
        ("WAFFLE_JWT_PUBLIC_KEY", testkit::jwt::public_pem()),
        ("WAFFLE_JWT_ISSUER", testkit::jwt::ISSUER.to_owned()),
    ]
}

fn token() -> String {
    let token = testkit::jwt::mint(
        ADMIN_SSO,
        testkit::jwt::ISSUER,
        3600,
        testkit::jwt::Algorithm::RS512,
    );
    format!("Bearer {token}")
}

fn path(i: usize) -> String {
    format!("/api/v1/users/{}", 1 + (i * 7919) % USERS)
}

pub async fn rows(bin: &Path, url: &str) -> anyhow::Result<(Vec<ScenarioRow>, f64)> {
    let auth = token();
    let mut rows = Vec::new();
    for (label, args) in [
        ("merged server", &[][..]),
        ("--lambdas", &["--lambdas"][..]),
    ] {
        let server = LocalServer::start_with(bin, url, args, &env()).await?;
        let addr = server.addr.as_str();
        let auth = auth.as_str();
        for c in [1_usize, 32] {
            let total = if c == 1 { 2000 } else { 20_000 };
            let summary =
                rounds(|| async { Ok(load_as(addr, Some(auth), c, total, path).await?.0) }).await?;
            let name = format!("GET /users/{{id}} with a token, {label}, c={c}");
            rows.push(ScenarioRow::new(name, summary));
        }
        server.stop().await;
    }
    let mut cold = Vec::new();
    for _ in 0..COLD_STARTS {
        let server = LocalServer::start_with(bin, url, &["--lambdas"], &env()).await?;
        cold.push(first_request(&server.addr, &auth).await?);
        server.stop().await;
    }
    Ok((rows, median(cold)))
}

/// The time of the first request: every environment it reaches starts cold.
pub async fn first_request(addr: &str, auth: &str) -> anyhow::Result<f64> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get("/api/v1/users/1")
        .header("host", addr)
        .header("authorization", auth)
        .body(Empty::<Bytes>::new())?;
    let sent = Instant::now();
    let response = sender.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await.context("the body")?;
    let elapsed: Duration = sent.elapsed();
    anyhow::ensure!(status == 200, "the first request answered {status}");
    Ok(elapsed.as_secs_f64() * 1000.0)
}
