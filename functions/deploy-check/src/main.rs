use lambda_runtime::{LambdaEvent, service_fn};
use shared::platform::process::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    shared::platform::telemetry::init();
    let sdk = shared::platform::aws::sdk_config().await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let codedeploy = aws_sdk_codedeploy::Client::new(&sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<deploy_check::HookEvent>| {
        let (lambda, codedeploy) = (&lambda, &codedeploy);
        async move { deploy_check::handle(lambda, codedeploy, event.payload).await }
    }))
    .await
}
