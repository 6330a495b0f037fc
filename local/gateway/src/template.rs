//! What the stand-in reads from `template.yaml` at start: the HTTP API's routes,
//! authorizer, CORS and throttling; each function's binary, environment, `Timeout`,
//! `MemorySize`, `ReservedConcurrentExecutions`, `LoggingConfig` and
//! `EventInvokeConfig`; EventBridge rules and schedules; the queues destinations name.
//!
//! CloudFormation's tags are resolved from the parameters (taken from the local
//! environment and checked as CloudFormation does, see [`crate::parameters`]): `!Ref`, `!Sub`, `!If`, `!FindInMap`, `!GetAtt
//! X.Arn`, `!Join`, `!Equals`, `!Not`. Properties the stand-in does not use (policies,
//! VPC, log groups) are never resolved.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value as Json;
use serde_norway::Value as Yaml;

/// Region and account of the stand-in's ARNs and pseudo parameters.
pub const REGION: &str = "ap-northeast-2";
pub const ACCOUNT: &str = "123456789012";

pub use crate::parameters::Parameters;

#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// `FunctionName`, resolved (what the Invoke API and other functions call it).
    pub name: String,
    /// The binary's name: the last part of `CodeUri` (`target/lambda/<binary>/`).
    pub binary: String,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    pub environment: BTreeMap<String, String>,
    /// `ReservedConcurrentExecutions`; `None`: the function draws on the account's
    /// unreserved concurrency.
    pub reserved_concurrency: Option<u32>,
    pub logging: Logging,
    pub event_invoke: EventInvokeConfig,
}

/// `LoggingConfig` (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html):
/// without it, Lambda writes plain text and filters nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logging {
    /// `JSON` or `Text` (Lambda's default).
    pub json: bool,
    /// `ApplicationLogLevel` (JSON only; Lambda's default INFO).
    pub application_level: String,
    /// `SystemLogLevel` (JSON only; Lambda's default INFO).
    pub system_level: String,
}

impl Default for Logging {
    fn default() -> Self {
        Self {
            json: false,
            application_level: "INFO".into(),
            system_level: "INFO".into(),
        }
    }
}

/// `EventInvokeConfig` of asynchronous invocations, with Lambda's defaults when absent
/// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html):
/// two retries, six hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInvokeConfig {
    pub maximum_retry_attempts: u32,
    pub maximum_event_age_secs: u64,
    /// The queue an event that failed for good is sent to (`OnFailure`, type SQS).
    pub on_failure: Option<Queue>,
}

impl Default for EventInvokeConfig {
    fn default() -> Self {
        Self {
            maximum_retry_attempts: 2,
            maximum_event_age_secs: 21_600,
            on_failure: None,
        }
    }
}

/// An `AWS::SQS::Queue` of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub logical_id: String,
    /// `QueueName`, resolved (CloudFormation names it after the stack otherwise).
    pub name: String,
}

impl Queue {
    pub fn arn(&self) -> String {
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}", self.name)
    }
}

/// A token bucket's settings: `ThrottlingRateLimit` (requests per second) and
/// `ThrottlingBurstLimit` (the bucket's size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub rate: f64,
    pub burst: u64,
}

/// The stage's throttling (`DefaultRouteSettings`) and each route's (`RouteSettings`,
/// by route key); each field unset falls back, route to stage to account
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Throttling {
    pub stage_rate: Option<f64>,
    pub stage_burst: Option<u64>,
    pub routes: BTreeMap<String, (Option<f64>, Option<u64>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET`, ..., or `ANY`; `$default` has none.
    pub method: Option<String>,
    /// `/api/v1/users/{id}`, or `None` for `$default`.
    pub path: Option<String>,
    pub function: String,
    /// The integration's `TimeoutInMillis` (HTTP API: 50 to 30,000; default 30,000).
    pub timeout_ms: u64,
    /// The Lambda authorizer in front of the route, by its name in `Auth.Authorizers`:
    /// the event's `Auth.Authorizer`, else the API's `DefaultAuthorizer`; `None` without
    /// one or for `Authorizer: NONE`.
    pub authorizer: Option<String>,
}

impl Route {
    /// The route key API Gateway puts into events: `GET /path` or `$default`.
    pub fn key(&self) -> String {
        match (&self.method, &self.path) {
            (Some(method), Some(path)) => format!("{method} {path}"),
            _ => "$default".to_owned(),
        }
    }
}

/// A Lambda authorizer of the HTTP API, as SAM's `Auth.Authorizers.<name>` declares it
/// (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-httpapi-lambdaauthorizer.html).
#[derive(Debug, Clone)]
pub struct Authorizer {
    /// Its key in `Auth.Authorizers`; API Gateway caches each authorizer's answers apart.
    pub name: String,
    pub function: String,
    pub payload_version: String,
    pub simple_responses: bool,
    /// `$request.header.X` / `$request.querystring.X` (SAM's `Identity.Headers` and
    /// `Identity.QueryStrings`); empty: none.
    pub identity_sources: Vec<String>,
    /// `AuthorizerResultTtlInSeconds` (SAM's `Identity.ReauthorizeEvery`).
    pub ttl_secs: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

/// An EventBridge rule (event pattern) or a schedule (fixed input), with its target.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub name: String,
    pub function: String,
    pub pattern: Option<Json>,
    pub input: Option<String>,
    pub schedule: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Stack {
    /// By logical id.
    pub functions: BTreeMap<String, Function>,
    pub routes: Vec<Route>,
    /// The HTTP API's Lambda authorizers, by name.
    pub authorizers: BTreeMap<String, Authorizer>,
    pub cors: Option<Cors>,
    pub throttling: Throttling,
    pub triggers: Vec<Trigger>,
    /// By logical id.
    pub queues: BTreeMap<String, Queue>,
}

impl Stack {
    pub fn read(text: &str, parameters: &Parameters) -> Result<Self> {
        let template: Yaml = serde_norway::from_str(text).context("template.yaml is not YAML")?;
        let cx = Resolver::new(&template, parameters)?;
        let resources = template["Resources"]
            .as_mapping()
            .ok_or_else(|| anyhow!("template.yaml has no Resources"))?;
        let mut stack = Stack::default();
        // Queues first: destinations name them.
        for (id, resource) in resources {
            if resource["Type"].as_str() == Some("AWS::SQS::Queue") {
                let id = scalar(id);
                let name = cx
                    .resolve(&resource["Properties"]["QueueName"])
                    .map(|v| scalar(&v))
                    .unwrap_or_else(|| format!("waffledotcom-local-{id}"));
                stack.queues.insert(
                    id.clone(),
                    Queue {
                        logical_id: id,
                        name,
                    },
                );
            }
        }
        let globals = &template["Globals"]["Function"];
        let mut default_authorizer = None;
        for (id, resource) in resources {
            let id = id.as_str().unwrap_or_default();
            let props = &resource["Properties"];
            match resource["Type"].as_str() {
                Some("AWS::Serverless::Function") => {
                    stack.read_function(&cx, globals, id, props)?;
                }
                Some("AWS::Serverless::HttpApi") => {
                    stack.cors = cx.resolve(&props["CorsConfiguration"]).map(|c| cors(&c));
                    let (authorizers, default) = authorizers(&cx, &props["Auth"])?;
                    stack.authorizers = authorizers;
                    default_authorizer = default;
                    stack.throttling = throttling(&cx, props)?;
                }
                Some("AWS::Events::Rule") if cx.condition_holds(&resource["Condition"])? => {
                    for target in props["Targets"].as_sequence().into_iter().flatten() {
                        stack.triggers.push(Trigger {
                            name: id.to_owned(),
                            function: cx.target(&target["Arn"])?,
                            pattern: cx.resolve(&props["EventPattern"]).map(to_json),
                            input: None,
                            schedule: None,
                        });
                    }
                }
                _ => {}
            }
        }
        // A route without its own `Auth.Authorizer` gets the API's default; `NONE` opts
        // out (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-function-httpapifunctionauth.html).
        for route in &mut stack.routes {
            let name = match route.authorizer.take().as_deref() {
                None => default_authorizer.clone(),
                Some("NONE") => None,
                Some(name) => Some(name.to_owned()),
            };
            if let Some(name) = &name
                && !stack.authorizers.contains_key(name)
            {
                bail!(
                    "{}: no authorizer named {name} in the HttpApi's Auth",
                    route.key()
                );
            }
            route.authorizer = name;
        }
        Ok(stack)
    }

    fn read_function(
        &mut self,
        cx: &Resolver,
        globals: &Yaml,
        id: &str,
        props: &Yaml,
    ) -> Result<()> {
        let get = |key: &str| {
            cx.resolve(&props[key])
                .or_else(|| cx.resolve(&globals[key]))
        };
        let code_uri = get("CodeUri")
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| anyhow!("{id}: no CodeUri"))?;
        let binary = code_uri
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut environment = BTreeMap::new();
        for source in [
            &globals["Environment"]["Variables"],
            &props["Environment"]["Variables"],
        ] {
            if let Some(Yaml::Mapping(vars)) = cx.resolve(source) {
                for (k, v) in vars {
                    environment.insert(scalar(&k), scalar(&v));
                }
            }
        }
        let name = get("FunctionName")
            .map(|v| scalar(&v))
            .unwrap_or_else(|| id.to_owned());
        let reserved_concurrency = match get("ReservedConcurrentExecutions") {
            None => None,
            Some(value) => Some(
                number(&value)
                    .filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n <= f64::from(u32::MAX))
                    .map(|n| n as u32)
                    .ok_or_else(|| {
                        anyhow!("{id}: ReservedConcurrentExecutions is not a whole number")
                    })?,
            ),
        };
        let logging = get("LoggingConfig").map_or_else(Logging::default, |config| {
            let text = |key: &str, default: &str| {
                config
                    .get(key)
                    .map(scalar)
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| default.to_owned())
                    .to_ascii_uppercase()
            };
            Logging {
                json: text("LogFormat", "Text") == "JSON",
                application_level: text("ApplicationLogLevel", "INFO"),
                system_level: text("SystemLogLevel", "INFO"),
            }
        });
        let event_invoke = self.event_invoke_config(id, get("EventInvokeConfig"))?;
        self.functions.insert(
            id.to_owned(),
            Function {
                logical_id: id.to_owned(),
                name,
                binary,
                // SAM's defaults when neither the function nor Globals sets them.
                timeout_secs: get("Timeout")
                    .and_then(|v| number(&v))
                    .map_or(3, |n| n as u64),
                memory_mb: get("MemorySize")
                    .and_then(|v| number(&v))
                    .map_or(128, |n| n as u64),
                environment,
                reserved_concurrency,
                logging,
                event_invoke,
            },
        );
        for (event_name, event) in props["Events"].as_mapping().into_iter().flatten() {
            let event_props = &event["Properties"];
            match event["Type"].as_str() {
                Some("HttpApi") => {
                    // SAM: an HttpApi event without Path and Method is the `$default` route.
                    let text = |key: &str| cx.resolve(&event_props[key]).map(|v| scalar(&v));
                    let route = Route {
                        method: text("Method").map(|m| m.to_ascii_uppercase()),
                        path: text("Path"),
                        function: id.to_owned(),
                        timeout_ms: cx
                            .resolve(&event_props["TimeoutInMillis"])
                            .and_then(|v| number(&v))
                            .map_or(INTEGRATION_TIMEOUT_MS, |n| n as u64),
                        // Resolved against the API's authorizers once all are read.
                        authorizer: text_auth(cx, &event_props["Auth"]),
                    };
                    check_route(&route, id, &scalar(event_name))?;
                    self.routes.push(route);
                }
                Some("ScheduleV2" | "Schedule") => self.triggers.push(Trigger {
                    name: scalar(event_name),
                    function: id.to_owned(),
                    pattern: None,
                    input: cx.resolve(&event_props["Input"]).map(|v| scalar(&v)),
                    schedule: cx
                        .resolve(&event_props["ScheduleExpression"])
                        .map(|v| scalar(&v)),
                }),
                Some("EventBridgeRule" | "CloudWatchEvent") => self.triggers.push(Trigger {
                    name: scalar(event_name),
                    function: id.to_owned(),
                    pattern: cx.resolve(&event_props["Pattern"]).map(to_json),
                    input: None,
                    schedule: None,
                }),
                _ => {}
            }
        }
        Ok(())
    }

    /// `EventInvokeConfig`, within the ranges Lambda accepts
    /// (https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionEventInvokeConfig.html):
    /// retries 0 to 2, maximum age 60 to 21,600 s; the on-failure destination must be a
    /// queue of this stack (the only kind the stand-in delivers to).
    fn event_invoke_config(&self, id: &str, config: Option<Yaml>) -> Result<EventInvokeConfig> {
        let mut out = EventInvokeConfig::default();
        let Some(config) = config else {
            return Ok(out);
        };
        if let Some(value) = config.get("MaximumRetryAttempts") {
            out.maximum_retry_attempts = number(value)
                .filter(|n| (0.0..=2.0).contains(n) && n.fract() == 0.0)
                .map(|n| n as u32)
                .ok_or_else(|| anyhow!("{id}: MaximumRetryAttempts must be 0, 1 or 2"))?;
        }
        if let Some(value) = config.get("MaximumEventAgeInSeconds") {
            out.maximum_event_age_secs = number(value)
                .filter(|n| (60.0..=21_600.0).contains(n) && n.fract() == 0.0)
                .map(|n| n as u64)
                .ok_or_else(|| {
                    anyhow!("{id}: MaximumEventAgeInSeconds must be between 60 and 21600")
                })?;
        }
        let on_failure = &config["DestinationConfig"]["OnFailure"];
        if !on_failure.is_null() {
            let kind = on_failure.get("Type").map(scalar).unwrap_or_default();
            if kind != "SQS" {
                bail!(
                    "{id}: the stand-in delivers on-failure records to SQS queues only, not {kind:?}"
                );
            }
            // Resolved already: `!GetAtt Queue.Arn` is the queue's ARN.
            let arn = on_failure
                .get("Destination")
                .map(scalar)
                .unwrap_or_default();
            let name = arn.rsplit(':').next().unwrap_or_default();
            let queue = self.queues.values().find(|q| q.name == name).cloned();
            out.on_failure = Some(queue.ok_or_else(|| {
                anyhow!("{id}: the on-failure destination is not a queue of this template")
            })?);
        }
        Ok(out)
    }
}

/// An HTTP API integration's timeout, and its maximum: 30 s
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html).
pub const INTEGRATION_TIMEOUT_MS: u64 = 30_000;

/// Route keys API Gateway keeps. A path ending in `/` is not one: SAM creates the
/// integration but not the route, without a word
/// (https://github.com/aws/serverless-application-model/issues/1949), or the deploy is
/// refused as an invalid route name (reported in storacha/w3infra#166); either way, as
/// deployed, that request never reaches the function through it. Rather than serve
/// locally what AWS would not, the start stops.
fn check_route(route: &Route, function: &str, event: &str) -> Result<()> {
    if let Some(path) = &route.path
        && path.len() > 1
        && path.ends_with('/')
    {
        bail!(
            "{function}, event {event}: the route `{}` ends in `/`. API Gateway HTTP APIs \
             do not keep such routes (SAM silently creates no route, or the deploy is \
             refused as an invalid route name), so as deployed this request would not \
             reach {function} through it. Remove the event and answer the slash form from \
             the `$default` route or inside the function.",
            route.key()
        );
    }
    if !(50..=INTEGRATION_TIMEOUT_MS).contains(&route.timeout_ms) {
        bail!(
            "{function}, event {event}: TimeoutInMillis must be between 50 and 30000 \
             (HTTP API integration timeout)"
        );
    }
    Ok(())
}

/// `DefaultRouteSettings` and `RouteSettings` of an `AWS::Serverless::HttpApi`.
fn throttling(cx: &Resolver, props: &Yaml) -> Result<Throttling> {
    let pair = |settings: &Yaml, what: &str| -> Result<(Option<f64>, Option<u64>)> {
        let rate = match cx.resolve(&settings["ThrottlingRateLimit"]) {
            None => None,
            Some(v) => Some(
                number(&v)
                    .filter(|n| *n >= 0.0)
                    .ok_or_else(|| anyhow!("{what}: ThrottlingRateLimit is not a number"))?,
            ),
        };
        let burst = match cx.resolve(&settings["ThrottlingBurstLimit"]) {
            None => None,
            Some(v) => Some(
                number(&v)
                    .filter(|n| *n >= 0.0 && n.fract() == 0.0)
                    .map(|n| n as u64)
                    .ok_or_else(|| anyhow!("{what}: ThrottlingBurstLimit is not a whole number"))?,
            ),
        };
        Ok((rate, burst))
    };
    let (stage_rate, stage_burst) = pair(&props["DefaultRouteSettings"], "DefaultRouteSettings")?;
    let mut routes = BTreeMap::new();
    for (key, settings) in props["RouteSettings"].as_mapping().into_iter().flatten() {
        let key = scalar(key);
        routes.insert(
            key.clone(),
            pair(settings, &format!("RouteSettings {key}"))?,
        );
    }
    Ok(Throttling {
        stage_rate,
        stage_burst,
        routes,
    })
}

/// An HttpApi event's `Auth.Authorizer` (a name, or `NONE`), as written.
fn text_auth(cx: &Resolver, auth: &Yaml) -> Option<String> {
    cx.resolve(&auth["Authorizer"]).map(|v| scalar(&v))
}

/// The HttpApi's `Auth`: its Lambda authorizers by name, and `DefaultAuthorizer`.
/// `FunctionInvokeRole` and `EnableFunctionDefaultPermissions` only say how API Gateway
/// may invoke the function (IAM), which the stand-in does not check.
fn authorizers(
    cx: &Resolver,
    auth: &Yaml,
) -> Result<(BTreeMap<String, Authorizer>, Option<String>)> {
    let mut found = BTreeMap::new();
    for (name, spec) in auth["Authorizers"].as_mapping().into_iter().flatten() {
        let name = scalar(name);
        if spec["FunctionArn"].is_null() {
            bail!("authorizer {name}: only Lambda authorizers (FunctionArn) are emulated");
        }
        let function = cx.target(&spec["FunctionArn"])?;
        let identity = cx.resolve(&spec["Identity"]).unwrap_or(Yaml::Null);
        let mut identity_sources = Vec::new();
        for (key, prefix) in [
            ("Headers", "$request.header."),
            ("QueryStrings", "$request.querystring."),
        ] {
            for source in identity[key].as_sequence().into_iter().flatten() {
                identity_sources.push(format!("{prefix}{}", scalar(source)));
            }
        }
        for key in ["Context", "StageVariables"] {
            if !identity[key].is_null() {
                bail!("authorizer {name}: Identity.{key} is not emulated");
            }
        }
        let ttl_secs = match identity.get("ReauthorizeEvery") {
            // SAM's default when Identity.ReauthorizeEvery is absent.
            None => 300,
            Some(value) => number(value)
                .filter(|n| n.fract() == 0.0 && (0.0..=3600.0).contains(n))
                .map(|n| n as u64)
                // "The maximum value is 3600" (AWS::ApiGatewayV2::Authorizer).
                .ok_or_else(|| anyhow!("authorizer {name}: ReauthorizeEvery must be 0 to 3600"))?,
        };
        found.insert(
            name.clone(),
            Authorizer {
                name,
                function,
                payload_version: cx
                    .resolve(&spec["AuthorizerPayloadFormatVersion"])
                    .map(|v| scalar(&v))
                    .unwrap_or_else(|| "2.0".into()),
                simple_responses: cx
                    .resolve(&spec["EnableSimpleResponses"])
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                identity_sources,
                ttl_secs,
            },
        );
    }
    let default = cx.resolve(&auth["DefaultAuthorizer"]).map(|v| scalar(&v));
    if let Some(name) = &default
        && !found.contains_key(name)
    {
        bail!("DefaultAuthorizer {name} is not in Auth.Authorizers");
    }
    Ok((found, default))
}

fn cors(config: &Yaml) -> Cors {
    let list = |key: &str| -> Vec<String> {
        config[key]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(scalar)
            .collect()
    };
    Cors {
        allow_origins: list("AllowOrigins"),
        allow_methods: list("AllowMethods"),
        allow_headers: list("AllowHeaders"),
        expose_headers: list("ExposeHeaders"),
        max_age: config["MaxAge"].as_u64(),
        allow_credentials: config["AllowCredentials"].as_bool().unwrap_or(false),
    }
}

fn scalar(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Null => String::new(),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// A number, written as one or as a string (parameter values are strings).
fn number(value: &Yaml) -> Option<f64> {
    match value {
        Yaml::Number(n) => n.as_f64(),
        Yaml::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn to_json(value: Yaml) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

/// Resolves intrinsic functions against parameters, mappings and conditions.
struct Resolver<'a> {
    template: &'a Yaml,
    parameters: Parameters,
}

impl<'a> Resolver<'a> {
    fn new(template: &'a Yaml, given: &Parameters) -> Result<Self> {
        let mut parameters = crate::parameters::resolve(template, given)?;
        for (name, value) in [
            ("AWS::Region", REGION.to_owned()),
            ("AWS::AccountId", ACCOUNT.to_owned()),
            ("AWS::Partition", "aws".to_owned()),
            ("AWS::StackName", "waffledotcom-local".to_owned()),
        ] {
            parameters.insert(name.to_owned(), Yaml::String(value));
        }
        Ok(Self {
            template,
            parameters,
        })
    }

    /// The value with every tag resolved; `None` for `AWS::NoValue` or absent.
    fn resolve(&self, value: &Yaml) -> Option<Yaml> {
        match value {
            Yaml::Null => None,
            Yaml::Tagged(tagged) => self.intrinsic(&tagged.tag.to_string(), &tagged.value),
            Yaml::Sequence(items) => Some(Yaml::Sequence(
                items.iter().filter_map(|v| self.resolve(v)).collect(),
            )),
            Yaml::Mapping(map) => Some(Yaml::Mapping(
                map.iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.resolve(v)?)))
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    }

    fn intrinsic(&self, tag: &str, arg: &Yaml) -> Option<Yaml> {
        match tag {
            "!Ref" => self.reference(arg.as_str()?),
            "!Sub" => Some(Yaml::String(self.substitute(arg.as_str()?))),
            "!GetAtt" => {
                let text = scalar(arg);
                let id = text.split('.').next().unwrap_or_default();
                Some(Yaml::String(self.arn(id)))
            }
            "!If" => {
                let args = arg.as_sequence()?;
                let holds = self.condition(args.first()?.as_str()?).ok()?;
                self.resolve(args.get(if holds { 1 } else { 2 })?)
            }
            "!FindInMap" => {
                let args: Vec<String> = arg
                    .as_sequence()?
                    .iter()
                    .filter_map(|v| self.resolve(v))
                    .map(|v| scalar(&v))
                    .collect();
                let [map, key, field] = args.as_slice() else {
                    return None;
                };
                self.resolve(&self.template["Mappings"][map.as_str()][key.as_str()][field.as_str()])
            }
            "!Join" => {
                let args = arg.as_sequence()?;
                let separator = scalar(args.first()?);
                let items = self.resolve(args.get(1)?)?;
                let items: Vec<String> = items.as_sequence()?.iter().map(scalar).collect();
                Some(Yaml::String(items.join(&separator)))
            }
            "!Equals" => {
                let args = arg.as_sequence()?;
                let a = self.resolve(args.first()?).map(|v| scalar(&v));
                let b = self.resolve(args.get(1)?).map(|v| scalar(&v));
                Some(Yaml::Bool(a == b))
            }
            "!Not" => {
                let inner = self.resolve(arg.as_sequence()?.first()?)?;
                Some(Yaml::Bool(!inner.as_bool()?))
            }
            _ => None,
        }
    }

    fn reference(&self, name: &str) -> Option<Yaml> {
        if name == "AWS::NoValue" {
            return None;
        }
        if let Some(value) = self.parameters.get(name) {
            return Some(value.clone());
        }
        // A function's Ref is its name.
        let resource = &self.template["Resources"][name];
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            return self.resolve(&resource["Properties"]["FunctionName"]);
        }
        Some(Yaml::String(name.to_owned()))
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + end];
            let value = match name.split_once('.') {
                Some((id, _)) => self.arn(id),
                None => self.reference(name).map(|v| scalar(&v)).unwrap_or_default(),
            };
            out.push_str(&value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn arn(&self, id: &str) -> String {
        let resource = &self.template["Resources"][id];
        if resource["Type"].as_str() == Some("AWS::SQS::Queue") {
            let name = self
                .resolve(&resource["Properties"]["QueueName"])
                .map(|v| scalar(&v))
                .unwrap_or_else(|| format!("waffledotcom-local-{id}"));
            return format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}");
        }
        let name = self
            .reference(id)
            .map(|v| scalar(&v))
            .unwrap_or_else(|| id.to_owned());
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
    }

    /// The logical id of the function an `Arn` (`!GetAtt X.Arn`) names.
    fn target(&self, arn: &Yaml) -> Result<String> {
        match arn {
            Yaml::Tagged(tagged) if tagged.tag == "!GetAtt" => Ok(scalar(&tagged.value)
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned()),
            other => bail!("a target must be `!GetAtt <Function>.Arn`, not {other:?}"),
        }
    }

    fn condition(&self, name: &str) -> Result<bool> {
        let spec = &self.template["Conditions"][name];
        self.resolve(spec)
            .and_then(|v| v.as_bool())
            .ok_or_else(|| anyhow!("condition {name} does not resolve to a boolean"))
    }

    fn condition_holds(&self, name: &Yaml) -> Result<bool> {
        match name.as_str() {
            Some(name) => self.condition(name),
            None => Ok(true),
        }
    }
}
