//! `template.yaml`'s operations part against its promises (docs/operations.md): the
//! connection budget adds up in every tier, throttling covers real routes, failed
//! asynchronous events are kept, every function has its alarms, logs are JSON, and the
//! metric filters count lines the code really writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_norway::Value as Yaml;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template() -> Yaml {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

fn source(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The value under a short-form tag (`!Ref X` → `X`), if `value` carries `tag`.
fn tagged<'a>(value: &'a Yaml, tag: &str) -> Option<&'a Yaml> {
    match value {
        Yaml::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

fn reference(value: &Yaml) -> Option<&str> {
    tagged(value, "!Ref").and_then(Yaml::as_str)
}

fn resources(template: &Yaml) -> Vec<(String, &Yaml)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(id, r)| (id.as_str().unwrap_or_default().to_owned(), r))
        .collect()
}

fn functions(template: &Yaml) -> Vec<(String, &Yaml)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .collect()
}

fn of_type<'a>(template: &'a Yaml, kind: &str) -> Vec<(String, &'a Yaml)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

fn number(value: &Yaml) -> u64 {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {value:?}"))
}

/// Functions inside the VPC are the ones that reach the database.
fn database_functions(template: &Yaml) -> Vec<(String, &Yaml)> {
    functions(template)
        .into_iter()
        .filter(|(_, f)| !f["Properties"]["VpcConfig"].is_null())
        .collect()
}

/// The functions API Gateway invokes (their events are HttpApi routes).
fn api_functions(template: &Yaml) -> Vec<(String, &Yaml)> {
    functions(template)
        .into_iter()
        .filter(|(_, f)| {
            f["Properties"]["Events"]
                .as_mapping()
                .is_some_and(|events| events.values().any(|e| e["Type"] == "HttpApi"))
        })
        .collect()
}

#[test]
fn every_tier_of_the_connection_budget_adds_up() {
    let template = template();
    let tiers = template["Mappings"]["DbBudget"]
        .as_mapping()
        .expect("Mappings.DbBudget");
    let allowed: BTreeSet<String> = template["Parameters"]["DbMaxConnections"]["AllowedValues"]
        .as_sequence()
        .expect("DbMaxConnections.AllowedValues")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    let keys: BTreeSet<String> = tiers
        .keys()
        .map(|k| k.as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(allowed, keys, "each allowed DbMaxConnections has its tier");

    // The pool size every function gets, from the tier.
    let pool = &template["Globals"]["Function"]["Environment"]["Variables"]["DB_MAX_CONNECTIONS"];
    let pool_key = tagged(pool, "!FindInMap").expect("DB_MAX_CONNECTIONS: !FindInMap");
    assert_eq!(pool_key[0], "DbBudget");
    assert_eq!(reference(&pool_key[1]), Some("DbMaxConnections"));
    assert_eq!(pool_key[2], "PoolSize");

    let db_functions = database_functions(&template);
    assert!(db_functions.len() >= 8, "{db_functions:?}");
    for (id, function) in &db_functions {
        assert!(
            function["Properties"]["Environment"]["Variables"]["DB_MAX_CONNECTIONS"].is_null(),
            "{id}: the pool size comes from Globals"
        );
    }
    // Above a reservation Lambda refuses a synchronous invocation before the code runs,
    // and API Gateway answers its own 5xx: the database says no instead (1226 → 503).
    let api = api_functions(&template);
    assert!(api.len() >= 7, "{api:?}");
    for (id, function) in &api {
        assert!(
            function["Properties"]["ReservedConcurrentExecutions"].is_null(),
            "{id}: an API function must not have reserved concurrency"
        );
    }
    // The operators read the figure to set from the stack's outputs.
    let output = &template["Outputs"]["ApiMaxUserConnections"]["Value"];
    let output_key = tagged(output, "!FindInMap").expect("ApiMaxUserConnections: !FindInMap");
    assert_eq!(output_key[2], "ApiConnections");

    let migrate = &template["Resources"]["MigrateFunction"]["Properties"];
    let sync = &template["Resources"]["SlackSyncFunction"]["Properties"];
    let sync_key = tagged(&sync["ReservedConcurrentExecutions"], "!FindInMap")
        .expect("slack-sync's reservation comes from the tier");
    assert_eq!(sync_key[2], "SlackSync");
    for (tier, budget) in tiers {
        let max_connections = number(tier);
        let pool_size = number(&budget["PoolSize"]);
        assert_eq!(
            pool_size, 1,
            "tier {tier:?}: an environment runs one invocation at a time"
        );
        let headroom = number(&budget["Headroom"]);
        assert!(headroom >= 10, "tier {tier:?}: headroom for operators");
        // The API account holds the API functions' connections and slack-sync's (one
        // environment); migrate logs in with its own account.
        let api_connections = number(&budget["ApiConnections"]);
        let sync_connections = number(&budget["SlackSync"]) * pool_size;
        assert!(
            sync_connections < api_connections,
            "tier {tier:?}: the sync fits in the API account"
        );
        let migrate_connections = number(&migrate["ReservedConcurrentExecutions"]) * pool_size;
        let planned = headroom + api_connections + migrate_connections;
        assert!(
            planned <= max_connections,
            "tier {tier:?}: {planned} connections planned for {max_connections}"
        );
        // The stage's burst is what reaches the functions at once; the smallest tier
        // answers part of it 503 (docs/operations.md has the figures).
        assert!(api_connections >= 40, "tier {tier:?}");
    }
}

#[test]
fn the_stage_throttles_every_route_and_the_expensive_ones_harder() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"];
    let default = &api["DefaultRouteSettings"];
    assert_eq!(
        reference(&default["ThrottlingRateLimit"]),
        Some("ApiThrottleRate")
    );
    assert_eq!(
        reference(&default["ThrottlingBurstLimit"]),
        Some("ApiThrottleBurst")
    );
    assert_eq!(default["DetailedMetricsEnabled"], true);

    let mut routes = BTreeSet::new();
    for (_, function) in functions(&template) {
        if let Some(events) = function["Properties"]["Events"].as_mapping() {
            for event in events.values().filter(|e| e["Type"] == "HttpApi") {
                let p = &event["Properties"];
                routes.insert(format!(
                    "{} {}",
                    p["Method"].as_str().unwrap_or_default(),
                    p["Path"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    let overrides = api["RouteSettings"].as_mapping().expect("RouteSettings");
    assert!(overrides.len() >= 2);
    for (route, settings) in overrides {
        let route = route.as_str().unwrap_or_default();
        assert!(routes.contains(route), "{route:?} is no route of the API");
        assert_eq!(
            reference(&settings["ThrottlingRateLimit"]),
            Some("ExpensiveRouteThrottleRate")
        );
    }
    assert!(overrides.contains_key("POST /api/v1/batch/force-run"));
}

#[test]
fn failed_asynchronous_events_are_kept_fourteen_days_encrypted() {
    let template = template();
    let resources = &template["Resources"];
    for (function, queue) in [
        ("ImageTagUpdaterFunction", "ImageTagUpdaterFailures"),
        ("SlackSyncFunction", "SlackSyncFailures"),
    ] {
        let config = &resources[function]["Properties"]["EventInvokeConfig"];
        assert!(
            config["MaximumRetryAttempts"].as_u64().is_some(),
            "{function}"
        );
        assert!(
            config["MaximumEventAgeInSeconds"].as_u64().is_some(),
            "{function}"
        );
        let on_failure = &config["DestinationConfig"]["OnFailure"];
        assert_eq!(on_failure["Type"], "SQS", "{function}");
        let target = tagged(&on_failure["Destination"], "!GetAtt").expect("!GetAtt");
        assert_eq!(target.as_str(), Some(format!("{queue}.Arn").as_str()));

        let queue = &resources[queue];
        assert_eq!(queue["Type"], "AWS::SQS::Queue");
        assert_eq!(
            number(&queue["Properties"]["MessageRetentionPeriod"]),
            14 * 86_400
        );
        assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], true);
    }
    // What EventBridge cannot deliver lands in the same queue.
    let target = &resources["EcrPushRule"]["Properties"]["Targets"][0];
    let dead_letter = tagged(&target["DeadLetterConfig"]["Arn"], "!GetAtt").expect("!GetAtt");
    assert_eq!(dead_letter.as_str(), Some("ImageTagUpdaterFailures.Arn"));
}

#[test]
fn every_function_has_error_and_throttle_alarms_and_every_alarm_notifies_the_topic() {
    let template = template();
    let alarms = of_type(&template, "AWS::CloudWatch::Alarm");
    let watched = |metric: &str| -> BTreeSet<String> {
        alarms
            .iter()
            .filter(|(_, a)| a["Properties"]["MetricName"] == metric)
            .filter_map(|(_, a)| {
                let dimension = &a["Properties"]["Dimensions"][0];
                reference(&dimension["Value"]).map(str::to_owned)
            })
            .collect()
    };
    let functions: BTreeSet<String> = functions(&template).into_iter().map(|(id, _)| id).collect();
    assert_eq!(watched("Errors"), functions);
    assert_eq!(watched("Throttles"), functions);
    for (id, alarm) in &alarms {
        let actions = alarm["Properties"]["AlarmActions"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{id}: no AlarmActions"));
        assert!(
            actions.iter().any(|a| reference(a) == Some("AlarmTopic")),
            "{id}"
        );
    }
    let names: BTreeSet<&str> = alarms.iter().map(|(id, _)| id.as_str()).collect();
    for wanted in [
        "Api5xxAlarm",
        "ApiLatencyAlarm",
        "ImageTagUpdaterFailuresAlarm",
        "SlackSyncFailuresAlarm",
        "SlackSyncFailedAlarm",
        "SlackSyncMissingAlarm",
        "MigrationFailedAlarm",
        "UnknownNamespaceAlarm",
    ] {
        assert!(names.contains(wanted), "no {wanted}");
    }
    // CloudWatch looks back 7 days at most (PutMetricAlarm: Period x EvaluationPeriods
    // <= 604,800 s; at most one day for periods under an hour).
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        if p["Period"].is_null() {
            continue;
        }
        let span = number(&p["Period"]) * number(&p["EvaluationPeriods"]);
        let limit = if number(&p["Period"]) < 3600 {
            86_400
        } else {
            604_800
        };
        assert!(span <= limit, "{id}: looks back {span} s");
    }
    let email = &template["Resources"]["AlarmEmailSubscription"];
    assert_eq!(email["Condition"], "HasAlarmEmail");
}

#[test]
fn metric_filters_count_lines_the_code_writes() {
    let template = template();
    let filters = of_type(&template, "AWS::Logs::MetricFilter");
    let code = [
        source("functions/image-tag-updater/src/lib.rs"),
        source("functions/slack-sync/src/lib.rs"),
        source("shared/src/platform/error.rs"),
    ]
    .join("\n");
    let mut messages = 0;
    for (id, filter) in &filters {
        let pattern = filter["Properties"]["FilterPattern"]
            .as_str()
            .unwrap_or_default();
        if let Some(at) = pattern.find("$.message = \"") {
            let rest = &pattern[at + "$.message = \"".len()..];
            let message = rest[..rest.find('"').unwrap_or(rest.len())].trim_end_matches('*');
            assert!(
                code.contains(message),
                "{id}: no code logs a message starting {message:?}"
            );
            messages += 1;
        }
    }
    assert!(messages >= 4, "{messages} filters on messages");
}

#[test]
fn logs_are_json_with_levels_and_the_api_logs_every_request() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Tracing"], "Active");
    assert_eq!(
        reference(&globals["Environment"]["Variables"]["RUST_LOG"]),
        Some("AppLogLevel")
    );
    for (id, function) in functions(&template) {
        let logging = &function["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"], "JSON", "{id}");
        assert_eq!(
            reference(&logging["ApplicationLogLevel"]),
            Some("AppLogLevel"),
            "{id}"
        );
        let group = reference(&logging["LogGroup"]).unwrap_or_default();
        let group = &template["Resources"][group];
        assert!(!group["Properties"]["RetentionInDays"].is_null(), "{id}");
    }
    let access = &template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    let group = tagged(&access["DestinationArn"], "!GetAtt").expect("!GetAtt");
    assert_eq!(group.as_str(), Some("ApiAccessLogGroup.Arn"));
    let format = access["Format"].as_str().expect("Format");
    let fields: serde_json::Value = serde_json::from_str(format).expect("the format is JSON");
    for (key, variable) in [
        ("requestId", "$context.requestId"),
        ("routeKey", "$context.routeKey"),
        ("status", "$context.status"),
        ("responseLatency", "$context.responseLatency"),
        ("integrationError", "$context.integrationErrorMessage"),
    ] {
        assert_eq!(fields[key], variable, "{key}");
    }
    // No authorizer, so no `$context.authorizer.*` field (always empty).
    assert!(!format.contains("$context.authorizer"), "{format}");
}

#[test]
fn the_dashboard_is_valid_json_with_the_promised_widgets() {
    let template = template();
    let body = &template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"];
    let body = tagged(body, "!Sub")
        .and_then(Yaml::as_str)
        .expect("!Sub body");
    let body: serde_json::Value = serde_json::from_str(body).expect("dashboard JSON");
    let titles: Vec<String> = body["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .map(|w| {
            w["properties"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
        })
        .collect();
    for wanted in [
        "requests",
        "errors",
        "latency per route",
        "cold starts",
        "database",
        "slack sync",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no {wanted} in {titles:?}"
        );
    }
}
