//! What the updater's test binaries share: the ECR registry (moto's, in its default
//! account, which is the function's own here), the waffle-world repository and branch
//! the fake holds, and push events shaped like the sample, for images pushed to moto.
#![allow(dead_code)]

use std::time::Duration;

use aws_sdk_ecr::Client;
use serde_json::{Value, json};
use testkit::Moto;

/// moto's default account and the region its clients use: the function's own.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "ap-northeast-2";
pub const HOST: &str = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com";
pub const REPOSITORY: &str = "wafflestudio/waffle-world";
pub const BRANCH: &str = "main";
const SAMPLE: &str = include_str!("../../../../testkit/fixtures/ecr-image-action-push.json");

/// The sample event, pushing `repository:tag` with `digest`, from the function's own
/// account and region.
pub fn push_event(repository: &str, tag: &str, digest: &str) -> Value {
    let mut event: Value = serde_json::from_str(SAMPLE).expect("the sample is JSON");
    event["account"] = json!(ACCOUNT);
    event["region"] = json!(REGION);
    event["detail"]["repository-name"] = json!(repository);
    event["detail"]["image-tag"] = json!(tag);
    event["detail"]["image-digest"] = json!(digest);
    event
}

/// moto's ECR: images are pushed with `put_image`, as a registry client would finish a
/// push (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutImage.html).
pub struct Registry {
    pub moto: Moto,
    pub ecr: Client,
    pub sdk: aws_config::SdkConfig,
}

impl Registry {
    pub async fn start() -> Self {
        let moto = Moto::start().await.expect("moto");
        let sdk = moto.sdk_config().await;
        Self {
            ecr: Client::new(&sdk),
            sdk,
            moto,
        }
    }

    /// Pushes a new image as `repository:tag` (making the repository on first use) and
    /// returns the event ECR would send for it.
    pub async fn push(&self, repository: &str, tag: &str) -> Value {
        let digest = self.moto.push_image(repository, tag).await;
        push_event(repository, tag, &digest)
    }

    /// Pushes `older`, then `newer` a second later (ECR's push times, as moto keeps them,
    /// are whole seconds): the events of both.
    pub async fn push_two(&self, repository: &str, older: &str, newer: &str) -> (Value, Value) {
        let first = self.push(repository, older).await;
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        (first, self.push(repository, newer).await)
    }
}

/// An SDK configuration whose calls find nobody listening.
pub async fn unreachable_sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::platform::aws::http_client())
        .endpoint_url(format!("http://127.0.0.1:{}", testkit::free_port()))
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_ecr::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// The WARN line carrying `message` in JSON `logs`.
pub fn warn_line(logs: &str, message: &str) -> Value {
    let line = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["message"] == message)
        .unwrap_or_else(|| panic!("no {message:?} line: {logs}"));
    assert_eq!(line["level"], "WARN", "{line}");
    line
}
