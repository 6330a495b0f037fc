use lambda_runtime::service_fn;
use shared::platform::token::Verifier;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::platform::telemetry::init();
    // Once per cold start; a missing or bad key fails the init, naming the variable.
    let verifier = Verifier::from_env().inspect_err(shared::platform::process::start_failed)?;
    let verifier = &verifier;
    lambda_runtime::run(service_fn(move |event| authorizer::handle(verifier, event))).await
}
