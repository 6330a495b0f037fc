//! Secret values never reach the logs. A test binary of its own: the subscriber that
//! captures every log line is global here, and no other test shares the process.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use shared::Config;
use shared::platform::config::AppEnv;
use testkit::Moto;
use testkit::moto::old_layout_secret;

/// Everything logged (at TRACE, every target, the AWS SDK's included) while the secret
/// is read, printed and used for a failed connection holds none of its values.
#[tokio::test]
async fn secret_values_never_reach_the_logs() {
    let logs = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let moto = Moto::start().await.expect("moto");
    let sdk = moto.sdk_config().await;
    let password = "pw-7f3a9c1e-never-log-me";
    let mut secret = old_layout_secret(password);
    secret["slack_token"] = json!("xoxb-9d8c7b6a-never-log-me");
    secret["db_host"] = json!("127.0.0.1");
    secret["db_port"] = json!("1");
    moto.put_secret("dev/waffledotcom", &secret.to_string())
        .await;
    tracing::info!("secret stored; reading it back");

    let config = Config::from_secret(AppEnv::Dev, "dev/waffledotcom", &sdk)
        .await
        .expect("config");
    tracing::info!(?config, "configuration loaded");
    // A connection attempt with the secret (to a closed port) logs its failure too.
    let state = shared::AppState::new(config).await;
    let pool = state.db.pool().await.expect("pool");
    let failure = sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .expect_err("port 1 is closed");
    tracing::error!(error = %failure, "connection failed as expected");

    let text = logs.text();
    assert!(
        text.contains("GetSecretValue"),
        "the SDK's trace logs were captured"
    );
    assert!(text.contains("configuration loaded"));
    assert!(
        !text.contains("never-log-me"),
        "a secret value reached the logs"
    );
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
