//! Load on the local server: GETs over keep-alive connections.

use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use tokio::process::{Child, Command};

use crate::stats::Run;

/// The release `local` server on a free port, serving `database_url`.
pub struct LocalServer {
    pub addr: String,
    child: Child,
}

impl LocalServer {
    pub async fn start(bin: &std::path::Path, database_url: &str) -> anyhow::Result<Self> {
        Self::start_with(bin, database_url, &[], &[]).await
    }

    /// With `args` (`--lambdas`) and `env` on top.
    pub async fn start_with(
        bin: &std::path::Path,
        database_url: &str,
        args: &[&str],
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let port = testkit::free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut command = Command::new(bin.join("local"));
        // The merged server's own pool; under `--lambdas` each function keeps the
        // template's (one connection per environment).
        if !args.contains(&"--lambdas") {
            command.env("DB_MAX_CONNECTIONS", "16");
        }
        let child = command
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", &addr)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .context("start target/release/local")?;
        testkit::wait_for_port(port, Duration::from_secs(30)).await?;
        Ok(Self { addr, child })
    }

    /// The process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the server and waits until it has exited, so its port is free again.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `total` GETs over `concurrency` keep-alive connections; every answer must be 200.
/// Also returns the size of the last body read.
pub async fn load(
    addr: &str,
    concurrency: usize,
    total: usize,
    path: impl Fn(usize) -> String,
) -> anyhow::Result<(Run, usize)> {
    load_as(addr, None, concurrency, total, path).await
}

/// Like `load`, sending `authorization` with every request.
pub async fn load_as(
    addr: &str,
    authorization: Option<&str>,
    concurrency: usize,
    total: usize,
    path: impl Fn(usize) -> String,
) -> anyhow::Result<(Run, usize)> {
    let headers: Vec<(String, String)> = authorization
        .map(|value| ("authorization".to_owned(), value.to_owned()))
        .into_iter()
        .collect();
    let (run, size, _) = load_with(addr, concurrency, total, path, &headers, 200).await?;
    Ok((run, size))
}

/// Like `load`, with `headers` on every request and `expect` as the status every answer
/// must have; also returns the last `ETag`.
pub async fn load_with(
    addr: &str,
    concurrency: usize,
    total: usize,
    path: impl Fn(usize) -> String,
    headers: &[(String, String)],
    expect: u16,
) -> anyhow::Result<(Run, usize, Option<String>)> {
    let per_worker = total / concurrency;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let paths: Vec<String> = (0..per_worker)
            .map(|i| path(worker * per_worker + i))
            .collect();
        let addr = addr.to_owned();
        let headers = headers.to_vec();
        workers.spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let mut latencies = Vec::with_capacity(paths.len());
            let mut size = 0;
            let mut etag = None;
            for path in paths {
                let mut request = hyper::Request::get(path.as_str()).header("host", addr.as_str());
                for (name, value) in &headers {
                    request = request.header(name.as_str(), value.as_str());
                }
                let request = request.body(Empty::<Bytes>::new())?;
                let sent = Instant::now();
                let response = sender.send_request(request).await?;
                let status = response.status();
                etag = response
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                size = response.into_body().collect().await?.to_bytes().len();
                latencies.push(sent.elapsed());
                anyhow::ensure!(status == expect, "{path} answered {status}");
            }
            anyhow::Ok((latencies, size, etag))
        });
    }
    let mut latencies = Vec::with_capacity(total);
    let mut size = 0;
    let mut etag = None;
    while let Some(result) = workers.join_next().await {
        let (samples, last, tag) = result??;
        latencies.extend(samples);
        size = last;
        etag = tag;
    }
    Ok((Run::from_samples(latencies, started.elapsed()), size, etag))
}
