#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::platform::telemetry::init();
    // No AppState: the document needs no configuration, so no secret is read.
    lambda_http::run(docs::lambda_app()).await
}
