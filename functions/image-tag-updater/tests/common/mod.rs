//! What the updater's test binaries share: the ECR registry, the waffle-world repository
//! and branch the fake holds, and push events from the sample.

use serde_json::{Value, json};

pub const HOST: &str = "405906814034.dkr.ecr.ap-northeast-2.amazonaws.com";
pub const REPOSITORY: &str = "wafflestudio/waffle-world";
pub const BRANCH: &str = "main";
const SAMPLE: &str = include_str!("../../../../testkit/fixtures/ecr-image-action-push.json");

/// The sample event, pushing `repository:tag`.
pub fn push_event(repository: &str, tag: &str) -> Value {
    let mut event: Value = serde_json::from_str(SAMPLE).expect("the sample is JSON");
    event["detail"]["repository-name"] = json!(repository);
    event["detail"]["image-tag"] = json!(tag);
    event
}
