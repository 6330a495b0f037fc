//! Logging: JSON lines in Lambda (CloudWatch parses them), readable text elsewhere.
//!
//! In Lambda each line is one object: `timestamp` (RFC 3339), `level`, `message` and the
//! event's fields at the top, and `span` with the current span's fields — inside a
//! request, `request_id` and `apigw_request_id` (shared::platform::http). With `LogFormat: JSON`
//! Lambda filters a custom runtime's lines by their `level` and needs a valid
//! `timestamp` to keep it: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html

use tracing_subscriber::filter::{LevelFilter, Targets};

/// Where the Lambda runtime logs whole events at TRACE: `Authorization` headers and
/// personal data. Held at DEBUG whatever `RUST_LOG` says, so no token reaches a log line.
const RAW_EVENT_TARGETS: &[&str] = &["lambda_runtime::layers::api_response"];

/// Installs the global subscriber once; later calls do nothing. `RUST_LOG` overrides
/// the default level (`info`): a level, and `target=level` pairs, comma-separated (the
/// template sets a bare level). `Targets` rather than `EnvFilter`, whose span and
/// field filters need the `regex` crate: ~0.3 MiB of every zip (docs/perf/2026-12-08-floor.md).
pub fn init() {
    init_with(std::env::var("RUST_LOG").ok().as_deref());
}

fn filter(rust_log: Option<&str>) -> Targets {
    let mut filter = rust_log
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    for target in RAW_EVENT_TARGETS {
        let level = filter
            .iter()
            .find(|(t, _)| t == target)
            .map_or(LevelFilter::DEBUG, |(_, level)| {
                level.min(LevelFilter::DEBUG)
            });
        filter = filter.with_target(*target, level);
    }
    filter
}

fn init_with(rust_log: Option<&str>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = filter(rust_log);
    // The builder's own filter (INFO by default) lets everything through: `filter` decides.
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr);
    let installed = if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .with_ansi(false)
            .finish()
            .with(filter)
            .try_init()
    } else {
        builder.compact().finish().with(filter).try_init()
    };
    // Err only means a subscriber exists already (tests install their own).
    drop(installed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn rust_log_sets_levels_and_raw_events_stay_at_debug() {
        let default = filter(None);
        assert!(enabled(&default, "users", Level::INFO));
        assert!(!enabled(&default, "users", Level::DEBUG));

        let trace = filter(Some("TRACE"));
        assert!(enabled(&trace, "sqlx::query", Level::TRACE));
        assert!(enabled(&trace, RAW_EVENT_TARGETS[0], Level::DEBUG));
        assert!(!enabled(&trace, RAW_EVENT_TARGETS[0], Level::TRACE));

        let per_target = filter(Some("warn,local=info,lambda_runtime=trace"));
        assert!(enabled(&per_target, "local::server", Level::INFO));
        assert!(!enabled(&per_target, "users", Level::INFO));
        assert!(enabled(&per_target, "lambda_runtime", Level::TRACE));
        assert!(!enabled(&per_target, RAW_EVENT_TARGETS[0], Level::TRACE));

        let quiet = filter(Some("lambda_runtime::layers::api_response=warn"));
        assert!(!enabled(&quiet, RAW_EVENT_TARGETS[0], Level::INFO));

        // What `Targets` cannot read (span filters) falls back to the default.
        let unreadable = filter(Some("[request{id=1}]=trace"));
        assert!(enabled(&unreadable, "users", Level::INFO));
        assert!(!enabled(&unreadable, "users", Level::DEBUG));
    }
}
