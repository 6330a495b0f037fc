//! The deployed shape on one machine (`local --lambdas`): an API Gateway HTTP API
//! stand-in built from `template.yaml`, in front of each function's own binary under
//! the Lambda Runtime API; the Lambda Invoke API and EventBridge on a second port.
//!
//! - [`template`]: what is read from `template.yaml`;
//! - [`runtime`]: the Runtime API protocol (also testkit's emulator);
//! - [`environments`]: execution environments per function, and their logs;
//! - [`routes`], [`events`], [`api`]: the HTTP API;
//! - [`invoke`]: the Invoke API and the EventBridge door.

pub mod api;
pub mod environments;
pub mod events;
pub mod invoke;
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

use crate::environments::Pool;
use crate::template::{Parameters, Stack};

/// Variables of the local server passed to every function in place of what the
/// deployed function reads from Secrets Manager (the database, the Slack token, the
/// GitHub token), plus logging settings.
pub const LOCAL_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "DB_MAX_CONNECTIONS",
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
    /// The local server's environment (parameters and local variables come from it).
    pub env: BTreeMap<String, String>,
}

/// The stack as running: the template and each function's environments.
pub struct Gateway {
    pub stack: Stack,
    /// By logical id.
    pub pools: BTreeMap<String, Arc<Pool>>,
    auth_cache: api::AuthCache,
}

impl Gateway {
    /// Reads the template and checks every function's binary; starts no process.
    pub fn new(options: &Options) -> Result<Self> {
        let text = std::fs::read_to_string(&options.template)
            .with_context(|| format!("reading {}", options.template.display()))?;
        let stack = Stack::read(&text, &parameters(&options.env)?)?;
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
            pools.insert(id.clone(), Arc::new(Pool::new(spec.clone(), binary, env)));
        }
        Ok(Self {
            stack,
            pools,
            auth_cache: api::AuthCache::default(),
        })
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

/// The template's parameters from the local variables: the key and issuer the
/// authorizer checks, the CORS origins, and `AppEnv` (`WADOT_APP_ENV`, default `dev`:
/// function names and the sync schedule are dev's).
fn parameters(env: &BTreeMap<String, String>) -> Result<Parameters> {
    let get = |name: &str| env.get(name).filter(|v| !v.trim().is_empty()).cloned();
    let Some(key) = get("WAFFLE_JWT_PUBLIC_KEY") else {
        bail!(
            "WAFFLE_JWT_PUBLIC_KEY is not set: the authorizer function fails its init \
             without it (the template's JwtPublicKey has no default)"
        );
    };
    let mut parameters = Parameters::new();
    parameters.insert("JwtPublicKey".into(), Yaml::String(key));
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
