/// The batch function in Lambda: configuration, schedules and the dispatcher (an
/// asynchronous invoke of `SLACK_SYNC_FUNCTION_NAME`) once per cold start. A schedule
/// or time zone that cannot be computed fails the init, naming the variable.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::platform::telemetry::init();
    let state = shared::AppState::for_http_function()
        .await
        .inspect_err(shared::platform::process::start_failed)?;
    let batch = batch::Batch::from_env(&state.config)
        .await
        .inspect_err(shared::platform::process::start_failed)?;
    tracing::info!(dispatcher = ?batch.dispatcher, "batch function ready");
    let tokens = state.config.tokens.clone();
    lambda_http::run(shared::platform::http::with_shared_layers(
        batch::router_with(state, batch),
        tokens,
    ))
    .await
}
