//! Deployed log lines (docs/operations.md, "Logs and traces"): JSON, and every line of a
//! request carries API Gateway's request id as `request_id`, even when the client sent
//! its own id, which is logged as `client_request_id` and never answered as ours.

use serde_json::Value;
use testkit::http::{apigw_event, apigw_response};
use testkit::{LambdaProcess, TestDb};

#[tokio::test]
async fn every_request_line_carries_the_api_gateway_request_id() {
    let db = TestDb::migrated().await;
    let (runtime, process) =
        LambdaProcess::start(env!("CARGO_BIN_EXE_users"), &[("DATABASE_URL", &db.url)]).await;
    let mut event = apigw_event("GET", "/api/v1/users/424242", None, None);
    event["headers"]["x-request-id"] = "client-chosen-id".into();
    let gateway_id = event["requestContext"]["requestId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, headers, _) = apigw_response(&runtime.invoke(event).await.response());
    assert_eq!(status, 404);
    assert_eq!(headers["x-request-id"], gateway_id.as_str());

    let logs = process.logs();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &Value| line["span"]["name"] == "request")
        .collect();
    assert!(!lines.is_empty(), "no request line: {logs}");
    for line in &lines {
        assert_eq!(
            line["span"]["apigw_request_id"],
            gateway_id.as_str(),
            "{line}"
        );
        assert_eq!(line["span"]["request_id"], gateway_id.as_str(), "{line}");
        assert_eq!(
            line["span"]["client_request_id"], "client-chosen-id",
            "{line}"
        );
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    assert!(lines.iter().any(|l| l["message"] == "handled"), "{logs}");
}
