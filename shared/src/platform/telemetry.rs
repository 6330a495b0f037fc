//! Logging: JSON lines in Lambda (CloudWatch parses them), readable text elsewhere.
//!
//! In Lambda each line is one object: `timestamp` (RFC 3339), `level`, `message` and the
//! event's fields at the top, and `span` with the current span's fields — inside a
//! request, `request_id` and `apigw_request_id` (shared::platform::http). With `LogFormat: JSON`
//! Lambda filters a custom runtime's lines by their `level` and needs a valid
//! `timestamp` to keep it: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html

use tracing_subscriber::EnvFilter;

/// Where the Lambda runtime logs whole events at TRACE: `Authorization` headers and
/// personal data. Held at DEBUG whatever `RUST_LOG` says, so no token reaches a log line.
const RAW_EVENT_TARGETS: &[&str] = &["lambda_runtime::layers::api_response"];

/// Installs the global subscriber once; later calls do nothing. `RUST_LOG` overrides
/// the default level (`info`).
pub fn init() {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for target in RAW_EVENT_TARGETS {
        if let Ok(directive) = format!("{target}=debug").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .with_ansi(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    // Err only means a subscriber exists already (tests install their own).
    drop(installed);
}
