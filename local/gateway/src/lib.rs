//! The deployed shape on one machine (`local --lambdas`): an API Gateway HTTP API
//! stand-in built from `template.yaml`, in front of each function's own binary under
//! the Lambda Runtime API; the Lambda Invoke API and EventBridge on a second port.
//!
//! - [`template`], [`parameters`]: what is read from `template.yaml`, and its
//!   parameters as CloudFormation checks them;
//! - [`limits`]: AWS's quotas, and API Gateway's token bucket;
//! - [`runtime`]: the Runtime API protocol (also testkit's emulator);
//! - [`environments`]: execution environments per function, their concurrency, and
//!   their logs;
//! - [`routes`], [`events`], [`api`]: the HTTP API;
//! - [`invoke`]: the Invoke API and the EventBridge door;
//! - [`asynchronous`]: `Event` invocations, their retries and on-failure destinations.

pub mod api;
pub mod asynchronous;
pub mod environments;
pub mod events;
pub mod invoke;
pub mod limits;
pub mod parameters;
pub mod routes;
pub mod runtime;
pub mod template;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use axum::Router;
use serde_norway::Value as Yaml;

use crate::asynchronous::Destinations;
use crate::environments::{Concurrency, Pool};
use crate::limits::TokenBucket;
use crate::template::{Parameters, Stack};

/// Variables of the local server passed to every function in place of what the
/// deployed function reads from Secrets Manager (the database, the Slack token, the
/// GitHub token), plus logging settings.
pub const LOCAL_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "DB_MAX_CONNECTIONS",
    "DB_WAIT_TIMEOUT",
    "DB_SSL_CA",
    "SLACK_API_BASE_URL",
    "SLACK_API_TOKEN",
    "SLACK_RETRY_BASE_DELAY_MS",
    "GITHUB_TOKEN",
    "GITHUB_API_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_BRANCH",
    "RUST_LOG",
    "NO_COLOR",
];

/// Template variables that would make a function read a secret: dropped locally, where
/// the [`LOCAL_VARIABLES`] stand in for them.
const SECRET_BACKED: &[&str] = &["APP_ENV", "GITHUB_TOKEN_SECRET_ID"];

pub struct Options {
    pub template: PathBuf,
    /// Where the function binaries are (beside the `local` executable).
    pub bin_dir: PathBuf,
    /// The address of the Invoke API, given to the functions as `AWS_ENDPOINT_URL_LAMBDA`.
    pub invoke_addr: SocketAddr,
    /// The public port of the HTTP API (`x-forwarded-port`).
    pub api_port: u16,
    /// Where failure records go without `AWS_ENDPOINT_URL` (`target/local/` for `local`).
    pub state_dir: PathBuf,
    /// Waits before an asynchronous event's retries: Lambda's
    /// ([`asynchronous::RETRY_DELAYS`]); the stand-in's tests shorten them.
    pub retry_delays: [std::time::Duration; 2],
    /// The local server's environment (parameters and local variables come from it).
    pub env: BTreeMap<String, String>,
}

/// API Gateway's throttles: the account's, the stage's, and each route's with settings.
pub struct Throttles {
    pub account: TokenBucket,
    pub stage: Option<TokenBucket>,
    /// By route key.
    pub routes: BTreeMap<String, TokenBucket>,
}

/// The stack as running: the template and each function's environments.
pub struct Gateway {
    pub stack: Stack,
    /// By logical id.
    pub pools: BTreeMap<String, Arc<Pool>>,
    pub throttles: Throttles,
    pub destinations: Arc<Destinations>,
    /// Concurrency of the functions without a reservation.
    pub unreserved_concurrency: u32,
    pub api_port: u16,
    auth_cache: api::AuthCache,
    /// Invocations made by the HTTP API so far (`GET /local/counters`, internal port).
    pub counters: api::Counters,
}

impl Gateway {
    /// Reads the template and checks every function's binary; starts no process.
    pub fn new(options: &Options) -> Result<Self> {
        let text = std::fs::read_to_string(&options.template)
            .with_context(|| format!("reading {}", options.template.display()))?;
        let stack = Stack::read(&text, &parameters(&text, &options.env)?).map_err(|error| {
            let error = format!("{error:#}");
            if error.starts_with("Parameter") {
                anyhow::anyhow!(
                    "{error} (local --lambdas gives JwtPublicKey from WAFFLE_JWT_PUBLIC_KEY, \
                     JwtIssuer from WAFFLE_JWT_ISSUER, AllowedOrigins from CORS_ALLOW_ORIGINS, \
                     AppEnv from WADOT_APP_ENV, and any parameter from \
                     WADOT_PARAMETER_OVERRIDES)"
                )
            } else {
                anyhow::anyhow!(error)
            }
        })?;
        let unreserved_concurrency = unreserved(&stack, &options.env)?;
        let unreserved_pool = Concurrency::unreserved(unreserved_concurrency);
        let credentials = uuid::Uuid::new_v4().simple().to_string();
        let mut pools = BTreeMap::new();
        for (id, spec) in &stack.functions {
            let binary = options.bin_dir.join(&spec.binary);
            if !binary.is_file() {
                bail!(
                    "{} is missing: build the functions beside this executable first \
                     (`cargo build --release --bins`, or `--profile local-release`)",
                    binary.display()
                );
            }
            let mut env: BTreeMap<String, String> = spec
                .environment
                .iter()
                .filter(|(k, _)| !SECRET_BACKED.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            for name in LOCAL_VARIABLES {
                if let Some(value) = options.env.get(*name) {
                    env.insert((*name).to_owned(), value.clone());
                }
            }
            // Lambda hands each function its role's temporary credentials; these only
            // satisfy the SDK's signer, since the stand-in checks no signature.
            env.insert(
                "AWS_ACCESS_KEY_ID".into(),
                format!("LOCAL{}", &credentials[..12]),
            );
            env.insert("AWS_SECRET_ACCESS_KEY".into(), credentials.clone());
            env.insert(
                "AWS_ENDPOINT_URL_LAMBDA".into(),
                format!("http://{}", options.invoke_addr),
            );
            let concurrency = spec
                .reserved_concurrency
                .map_or_else(|| unreserved_pool.clone(), Concurrency::reserved);
            pools.insert(
                id.clone(),
                Arc::new(Pool::new(spec.clone(), binary, env, concurrency)),
            );
        }
        let endpoint = options
            .env
            .get("AWS_ENDPOINT_URL")
            .filter(|v| !v.trim().is_empty())
            .cloned();
        let mut destinations = Destinations::new(endpoint, options.state_dir.clone());
        destinations.retry_delays = options.retry_delays;
        Ok(Self {
            throttles: throttles(&stack),
            stack,
            pools,
            destinations: Arc::new(destinations),
            unreserved_concurrency,
            api_port: options.api_port,
            auth_cache: api::AuthCache::default(),
            counters: api::Counters::default(),
        })
    }

    /// The limits in force, one line for the start log: what a test or a developer
    /// runs under.
    pub fn limits(&self) -> String {
        let bucket = |b: &TokenBucket| format!("{} rps, burst {}", b.rate(), b.burst());
        let mut parts = vec![match &self.throttles.stage {
            Some(stage) => format!("stage {}", bucket(stage)),
            None => format!(
                "stage unthrottled (account {})",
                bucket(&self.throttles.account)
            ),
        }];
        for (key, b) in &self.throttles.routes {
            parts.push(format!("{key}: {}", bucket(b)));
        }
        let reserved: Vec<String> = self
            .pools
            .values()
            .filter_map(|p| {
                p.spec
                    .reserved_concurrency
                    .map(|r| format!("{} {r}", p.spec.binary))
            })
            .collect();
        parts.push(format!(
            "reserved concurrency: {}",
            if reserved.is_empty() {
                "none".to_owned()
            } else {
                reserved.join(", ")
            }
        ));
        parts.push(format!(
            "unreserved concurrency {}",
            self.unreserved_concurrency
        ));
        parts.join("; ")
    }

    /// The function a name, an ARN or a partial ARN designates (as Invoke accepts).
    pub fn function(&self, name: &str) -> Option<Arc<Pool>> {
        let name = name.rsplit_once(":function:").map_or(name, |(_, n)| n);
        let name = name.split(':').next().unwrap_or(name);
        self.pools.values().find(|p| p.spec.name == name).cloned()
    }

    /// The public HTTP API; serve with `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn api(self: &Arc<Self>) -> Router {
        Router::new().fallback(api::handle).with_state(self.clone())
    }

    /// The internal Invoke API and EventBridge door.
    pub fn internal(self: &Arc<Self>) -> Router {
        invoke::router(self.clone())
    }
}

/// The account's unreserved concurrency: `WADOT_ACCOUNT_CONCURRENCY` (default 1,000)
/// minus every reservation; Lambda refuses reservations that leave less than 100
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
fn unreserved(stack: &Stack, env: &BTreeMap<String, String>) -> Result<u32> {
    let account = match env.get("WADOT_ACCOUNT_CONCURRENCY") {
        None => limits::ACCOUNT_CONCURRENCY,
        Some(value) => value.trim().parse().with_context(|| {
            format!("WADOT_ACCOUNT_CONCURRENCY is not a whole number: {value:?}")
        })?,
    };
    let reserved: u32 = stack
        .functions
        .values()
        .filter_map(|f| f.reserved_concurrency)
        .sum();
    match account.checked_sub(reserved) {
        Some(left) if reserved == 0 || left >= limits::UNRESERVED_MINIMUM => Ok(left),
        _ => bail!(
            "Specified ReservedConcurrentExecutions for function decreases account's \
             UnreservedConcurrentExecution below its minimum value of [{}] (account \
             concurrency {account}, reserved {reserved}; WADOT_ACCOUNT_CONCURRENCY sets \
             the account's)",
            limits::UNRESERVED_MINIMUM
        ),
    }
}

/// Token buckets from the template's throttling: a route's unset field falls back to
/// the stage's, the stage's to the account's.
fn throttles(stack: &Stack) -> Throttles {
    let t = &stack.throttling;
    let stage_rate = t.stage_rate.unwrap_or(limits::ACCOUNT_RATE);
    let stage_burst = t.stage_burst.unwrap_or(limits::ACCOUNT_BURST);
    let stage = (t.stage_rate.is_some() || t.stage_burst.is_some())
        .then(|| TokenBucket::new(stage_rate, stage_burst));
    let routes = t
        .routes
        .iter()
        .filter(|(_, (rate, burst))| rate.is_some() || burst.is_some())
        .map(|(key, (rate, burst))| {
            (
                key.clone(),
                TokenBucket::new(rate.unwrap_or(stage_rate), burst.unwrap_or(stage_burst)),
            )
        })
        .collect();
    Throttles {
        account: TokenBucket::new(limits::ACCOUNT_RATE, limits::ACCOUNT_BURST),
        stage,
        routes,
    }
}

/// The template's parameters: from the local variables, those the template declares —
/// the key and issuer the functions check tokens with (`JwtPublicKey`, `JwtIssuer`), the CORS
/// origins (`AllowedOrigins`), `AppEnv` (`WADOT_APP_ENV`, default `dev`: function names
/// and the sync schedule are dev's) — then `WADOT_PARAMETER_OVERRIDES` over them, in
/// `sam deploy --parameter-overrides` syntax.
fn parameters(text: &str, env: &BTreeMap<String, String>) -> Result<Parameters> {
    let template: Yaml = serde_norway::from_str(text).context("template.yaml is not YAML")?;
    let declared = |name: &str| !template["Parameters"][name].is_null();
    let mut parameters = local_parameters(env, &declared)?;
    parameters.retain(|name, _| declared(name));
    if let Some(overrides) = env.get("WADOT_PARAMETER_OVERRIDES") {
        for (key, value) in
            parameters::parse_overrides(overrides).context("WADOT_PARAMETER_OVERRIDES")?
        {
            let value = if template["Parameters"][key.as_str()]["Type"].as_str()
                == Some("CommaDelimitedList")
            {
                Yaml::Sequence(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(|v| Yaml::String(v.to_owned()))
                        .collect(),
                )
            } else {
                Yaml::String(value)
            };
            parameters.insert(key, value);
        }
    }
    Ok(parameters)
}

fn local_parameters(
    env: &BTreeMap<String, String>,
    declared: &dyn Fn(&str) -> bool,
) -> Result<Parameters> {
    let get = |name: &str| env.get(name).filter(|v| !v.trim().is_empty()).cloned();
    let mut parameters = Parameters::new();
    match get("WAFFLE_JWT_PUBLIC_KEY") {
        Some(key) => {
            parameters.insert("JwtPublicKey".into(), Yaml::String(key));
        }
        // The template's default names an SSM parameter the stand-in does not read.
        None if declared("JwtPublicKey") => bail!(
            "WAFFLE_JWT_PUBLIC_KEY is not set: every API function fails its init \
             without it (the template's JwtPublicKey is read from SSM when deployed)"
        ),
        None => {}
    }
    if let Some(issuer) = get("WAFFLE_JWT_ISSUER") {
        parameters.insert("JwtIssuer".into(), Yaml::String(issuer));
    }
    parameters.insert(
        "AppEnv".into(),
        Yaml::String(get("WADOT_APP_ENV").unwrap_or_else(|| "dev".into())),
    );
    let origins = get("CORS_ALLOW_ORIGINS").unwrap_or_default();
    parameters.insert(
        "AllowedOrigins".into(),
        Yaml::Sequence(
            origins
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(|o| Yaml::String(o.to_owned()))
                .collect(),
        ),
    );
    Ok(parameters)
}

/// `template.yaml`: `WADOT_TEMPLATE`, else the current directory's, else the one of
/// the workspace this was built from.
pub fn find_template(env: &BTreeMap<String, String>) -> PathBuf {
    if let Some(path) = env.get("WADOT_TEMPLATE") {
        return PathBuf::from(path);
    }
    let here = Path::new("template.yaml");
    if here.is_file() {
        return here.to_owned();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}
