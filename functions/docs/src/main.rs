#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::platform::telemetry::init();
    // No AppState: the document needs no configuration, so no secret is read. The token
    // check does (its `$default` route answers every path, a refused token with 403).
    let tokens =
        shared::platform::token::load().inspect_err(shared::platform::process::start_failed)?;
    lambda_http::run(docs::lambda_app(tokens)).await
}
