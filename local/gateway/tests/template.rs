//! The stand-in's reading of the real `template.yaml`.

use gateway::template::{Parameters, Stack};
use serde_norway::Value as Yaml;

fn stack(origins: &[&str]) -> Stack {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
        .expect("template.yaml");
    let mut parameters = Parameters::new();
    parameters.insert("AppEnv".into(), Yaml::String("dev".into()));
    parameters.insert("JwtPublicKey".into(), Yaml::String("KEY".into()));
    parameters.insert("JwtIssuer".into(), Yaml::String("https://issuer".into()));
    parameters.insert(
        "AllowedOrigins".into(),
        Yaml::Sequence(origins.iter().map(|o| Yaml::String((*o).into())).collect()),
    );
    Stack::read(&text, &parameters).expect("the template reads")
}

/// The first of `items` that `is`, which must exist (`what` names it).
fn first<'a, T>(items: &'a [T], what: &str, is: impl Fn(&T) -> bool) -> &'a T {
    items
        .iter()
        .find(|item| is(item))
        .unwrap_or_else(|| panic!("{what}"))
}

#[test]
fn routes_and_functions_come_from_the_template_which_has_no_authorizer() {
    let stack = stack(&["https://wafflestudio.com"]);
    let keys: Vec<String> = stack.routes.iter().map(|r| r.key()).collect();
    assert!(
        keys.contains(&"GET /api/v1/users/{id}".to_owned()),
        "{keys:?}"
    );
    assert!(keys.contains(&"PUT /api/v1/teams/{id}/members/{user_id}".to_owned()));
    assert_eq!(keys.iter().filter(|k| *k == "$default").count(), 1);
    let default = first(&stack.routes, "$default", |r| r.path.is_none());
    assert_eq!(default.function, "DocsFunction");

    // One invocation per request: no authorizer, so no route has one, and every
    // function gets the key and issuer it checks tokens with (Globals).
    assert!(stack.authorizers.is_empty());
    assert!(stack.routes.iter().all(|r| r.authorizer.is_none()));
    for (id, function) in &stack.functions {
        assert_eq!(function.environment["WAFFLE_JWT_PUBLIC_KEY"], "KEY", "{id}");
        assert_eq!(
            function.environment["WAFFLE_JWT_ISSUER"], "https://issuer",
            "{id}"
        );
    }
    assert!(!stack.functions.contains_key("AuthorizerFunction"));

    let users = &stack.functions["UsersFunction"];
    assert_eq!(users.name, "waffledotcom-dev-users");
    assert_eq!(users.binary, "users");
    assert_eq!((users.timeout_secs, users.memory_mb), (10, 256));
    // RUST_LOG follows the AppLogLevel parameter (default INFO), as LoggingConfig does.
    assert_eq!(users.environment["RUST_LOG"], "INFO");
    assert_eq!(users.environment["DB_IAM_AUTH"], "false");
    let batch = &stack.functions["BatchFunction"];
    assert_eq!(
        batch.environment["SLACK_SYNC_FUNCTION_NAME"],
        "waffledotcom-dev-slack-sync"
    );
    assert_eq!(
        batch.environment["SLACK_SYNC_SCHEDULE"],
        "cron(0 12 ? * SAT *)"
    );
    let updater = &stack.functions["ImageTagUpdaterFunction"];
    assert_eq!(
        updater.environment["ECR_HOST"],
        "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"
    );
    assert_eq!(stack.functions["SlackSyncFunction"].timeout_secs, 900);
}

#[test]
fn cors_follows_the_allowed_origins_condition() {
    let cors = stack(&["https://wafflestudio.com", "http://localhost:3000"])
        .cors
        .expect("CORS with origins");
    assert_eq!(
        cors.allow_origins,
        ["https://wafflestudio.com", "http://localhost:3000"]
    );
    assert!(cors.expose_headers.contains(&"x-request-id".to_owned()));
    assert_eq!(cors.max_age, Some(600));
    assert!(
        stack(&[]).cors.is_none(),
        "HasOrigins is false: no CORS configuration"
    );
}

#[test]
fn rules_and_schedules_target_their_functions() {
    let stack = stack(&[]);
    let rule = first(&stack.triggers, "the ECR push rule", |t| {
        t.pattern.is_some()
    });
    assert_eq!(rule.function, "ImageTagUpdaterFunction");
    assert_eq!(
        rule.pattern.as_ref().expect("a pattern")["source"][0],
        "aws.ecr"
    );
    let schedule = first(&stack.triggers, "the weekly schedule", |t| {
        t.schedule.is_some()
    });
    assert_eq!(schedule.function, "SlackSyncFunction");
    assert!(
        schedule
            .input
            .as_deref()
            .unwrap_or_default()
            .contains("aws.scheduler")
    );
}

#[test]
fn limits_logging_and_destinations_come_from_the_template() {
    let stack = stack(&[]);
    // Stage throttling (DefaultRouteSettings) and the expensive routes' own.
    assert_eq!(stack.throttling.stage_rate, Some(50.0));
    assert_eq!(stack.throttling.stage_burst, Some(100));
    assert_eq!(
        stack.throttling.routes["POST /api/v1/batch/force-run"],
        (Some(2.0), Some(5))
    );
    // One sync and one migration at a time.
    assert_eq!(
        stack.functions["SlackSyncFunction"].reserved_concurrency,
        Some(1)
    );
    assert_eq!(
        stack.functions["MigrateFunction"].reserved_concurrency,
        Some(1)
    );
    assert_eq!(stack.functions["DocsFunction"].reserved_concurrency, None);
    for function in stack.functions.values() {
        assert!(function.logging.json, "{}: LogFormat JSON", function.name);
        assert_eq!(function.logging.application_level, "INFO");
    }
    let updater = &stack.functions["ImageTagUpdaterFunction"].event_invoke;
    assert_eq!(
        (
            updater.maximum_retry_attempts,
            updater.maximum_event_age_secs
        ),
        (2, 21_600)
    );
    assert_eq!(
        updater.on_failure.as_ref().map(|q| q.name.as_str()),
        Some("waffledotcom-dev-image-tag-updater-failures")
    );
    let sync = &stack.functions["SlackSyncFunction"].event_invoke;
    assert_eq!(sync.maximum_retry_attempts, 0);
    assert_eq!(
        sync.on_failure.as_ref().map(|q| q.name.as_str()),
        Some("waffledotcom-dev-slack-sync-failures")
    );
    // Every route's integration timeout is HTTP API's default, its maximum.
    assert!(stack.routes.iter().all(|r| r.timeout_ms == 30_000));
}
