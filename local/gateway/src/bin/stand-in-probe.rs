//! A Lambda function for the stand-in's own tests (local/gateway/tests/stand_in.rs),
//! speaking the Runtime API over plain HTTP/1.1 like any custom runtime. Never
//! deployed: template.yaml does not name it.
//!
//! Through the HTTP API (a payload 2.0 event), the path says what to do:
//! `/echo` answers the event itself as the JSON body; `/sleep/{ms}` answers after that
//! long; `/big/{bytes}` answers a body of that many bytes; `/text` answers something
//! that is not JSON; `/error` reports a function error. Invoked directly, the event
//! `{"touch": path, "sleep_ms": n, "fail": bool}` appends a line to `path`, sleeps, then
//! answers or fails. As a Lambda authorizer (a `type: REQUEST` event) it appends a line
//! to `$PROBE_AUTH_LOG` and answers simply: no `authorization` header authorized with
//! an empty context, `allow-<who>` authorized with `{"who": who}`, anything else not.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        eprintln!("AWS_LAMBDA_RUNTIME_API is not set");
        std::process::exit(1);
    };
    loop {
        let Ok((id, event)) = next(&api).await else {
            std::process::exit(1);
        };
        let (kind, body) = handle(&event).await;
        let path = format!("/2018-06-01/runtime/invocation/{id}/{kind}");
        if post(&api, &path, &body).await.is_err() {
            std::process::exit(1);
        }
    }
}

/// What to post for `event`: `("response" | "error", body)`.
async fn handle(event: &[u8]) -> (&'static str, Vec<u8>) {
    let event: Value = serde_json::from_slice(event).unwrap_or(Value::Null);
    if event["type"] == "REQUEST" {
        return authorize(&event);
    }
    let Some(path) = event["rawPath"].as_str() else {
        return direct(&event).await;
    };
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (action, arg) = (parts.next().unwrap_or_default(), parts.next());
    let number = arg.and_then(|a| a.parse::<usize>().ok()).unwrap_or(0);
    let answer = |body: String| {
        json!({"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body})
            .to_string()
            .into_bytes()
    };
    match action {
        "echo" => ("response", answer(event.to_string())),
        "sleep" => {
            tokio::time::sleep(Duration::from_millis(number as u64)).await;
            ("response", answer("\"slept\"".into()))
        }
        "big" => ("response", answer("x".repeat(number))),
        "text" => ("response", b"plain text, not JSON".to_vec()),
        "error" => (
            "error",
            json!({"errorType": "Probe", "errorMessage": "asked to fail"})
                .to_string()
                .into_bytes(),
        ),
        _ => (
            "response",
            json!({"statusCode": 404, "body": "no such probe"})
                .to_string()
                .into_bytes(),
        ),
    }
}

fn authorize(event: &Value) -> (&'static str, Vec<u8>) {
    if let Ok(path) = std::env::var("PROBE_AUTH_LOG")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(file, "{}", event["identitySource"]);
    }
    let answer = match event["headers"]["authorization"].as_str() {
        None => json!({"isAuthorized": true, "context": {}}),
        Some(value) => match value.strip_prefix("allow-") {
            Some(who) => json!({"isAuthorized": true, "context": {"who": who}}),
            None => json!({"isAuthorized": false}),
        },
    };
    ("response", answer.to_string().into_bytes())
}

async fn direct(event: &Value) -> (&'static str, Vec<u8>) {
    if let Some(path) = event["touch"].as_str() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{now}");
        }
    }
    if let Some(ms) = event["sleep_ms"].as_u64() {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if event["fail"] == true {
        let error = json!({"errorType": "Probe", "errorMessage": "asked to fail"});
        return ("error", error.to_string().into_bytes());
    }
    ("response", json!({"ok": true}).to_string().into_bytes())
}

/// `GET /invocation/next`: the request id and the event.
async fn next(api: &str) -> std::io::Result<(String, Vec<u8>)> {
    let (headers, body) = request(api, "GET", "/2018-06-01/runtime/invocation/next", &[]).await?;
    let id = headers
        .iter()
        .find(|(k, _)| k == "lambda-runtime-aws-request-id")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| std::io::Error::other("no request id"))?;
    Ok((id, body))
}

async fn post(api: &str, path: &str, body: &[u8]) -> std::io::Result<()> {
    request(api, "POST", path, body).await.map(drop)
}

/// One HTTP/1.1 exchange on its own connection: the answer's headers (lower-case
/// names) and body.
async fn request(
    api: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(Vec<(String, String)>, Vec<u8>)> {
    let mut stream = TcpStream::connect(api).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut reader = BufReader::new(stream);
    let mut headers = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line).await?; // status line
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    match length {
        Some(length) => {
            body.resize(length, 0);
            reader.read_exact(&mut body).await?;
        }
        None => {
            reader.read_to_end(&mut body).await?;
        }
    }
    Ok((headers, body))
}
