#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::platform::http::run_lambda(positions::router).await
}
