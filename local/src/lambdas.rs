//! `local --lambdas`: the API as deployed, through the `gateway` crate's API Gateway
//! stand-in and each function's own binary (found beside this executable).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

/// Serves the stand-in on `listener` until Ctrl-C. The Invoke API listens on
/// `LAMBDA_BIND_ADDR` (default: a free loopback port, logged).
pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    let env = std::env::vars().collect();
    let internal_addr = std::env::var("LAMBDA_BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let internal = TcpListener::bind(&internal_addr)
        .await
        .with_context(|| format!("binding {internal_addr}"))?;
    let exe = std::env::current_exe().context("finding this executable")?;
    let bin_dir = exe
        .parent()
        .context("this executable has no directory")?
        .to_owned();
    // target/<profile>/local: failure records go to target/local/.
    let state_dir = bin_dir
        .parent()
        .map_or_else(|| bin_dir.join("local"), |target| target.join("local"));
    let options = gateway::Options {
        template: gateway::find_template(&env),
        bin_dir,
        invoke_addr: internal.local_addr()?,
        api_port: listener.local_addr()?.port(),
        state_dir,
        retry_delays: gateway::asynchronous::RETRY_DELAYS,
        env,
    };
    let gateway = Arc::new(gateway::Gateway::new(&options)?);
    tracing::info!(
        api = %listener.local_addr()?,
        invoke = %options.invoke_addr,
        template = %options.template.display(),
        functions = gateway.pools.len(),
        routes = gateway.stack.routes.len(),
        "API Gateway stand-in listening (--lambdas)"
    );
    tracing::info!(limits = %gateway.limits(), "AWS limits in force (--lambdas)");
    let internal_app = gateway.internal();
    tokio::spawn(async move {
        if let Err(error) = axum::serve(internal, internal_app).await {
            tracing::error!(%error, "the Invoke API stopped");
        }
    });
    axum::serve(
        listener,
        gateway
            .api()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
