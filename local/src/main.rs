use anyhow::Context;
use shared::platform::migrations::{self, Command, Target};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::platform::telemetry::init();
    // `--lambdas`: as deployed, through the API Gateway stand-in (local::lambdas).
    let lambdas = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--lambdas") => true,
        Some(other) => anyhow::bail!("unknown argument {other:?} (the only one is --lambdas)"),
    };
    let settings = local::LocalSettings::from_env();
    // A bad key stops the start here, before any database work.
    let mut config = shared::Config::load().await.inspect_err(|error| {
        tracing::error!(%error, "cannot start: configuration failed");
    })?;
    // One process serves every function here: give it a pool to match.
    if std::env::var_os("DB_MAX_CONNECTIONS").is_none() {
        config.database.max_connections = 16;
    }
    let state = shared::AppState::new(config).await;

    // The local server keeps its database at head, as a deploy would: as `migrate`
    // does, with MIGRATOR_DATABASE_URL when set (the API's account may lack DDL rights).
    let migrator = shared::AppState::for_migrations().await?;
    let pool = migrator.db.pool().await?;
    let mut conn = pool
        .acquire()
        .await
        .context("connecting to MIGRATOR_DATABASE_URL (or DATABASE_URL)")?;
    let status = migrations::run(
        &mut conn,
        &Command::Upgrade {
            target: Target::Head,
        },
    )
    .await?;
    drop(conn);
    drop(migrator);
    tracing::info!(?status, "schema at head");

    let addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    if lambdas {
        drop(state);
        return local::lambdas::serve(listener).await;
    }
    // Batch schedules and the in-process runner, once, like every other setting.
    let batch = batch::Batch::local(&state.config);
    tracing::info!(%addr, "local server listening");
    axum::serve(listener, local::app(state, batch, &settings))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
