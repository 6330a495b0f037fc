//! The EventBridge `ECR Image Action` event, and the push it may announce.
//!
//! <https://docs.aws.amazon.com/AmazonECR/latest/userguide/ecr-eventbridge.html>

use serde::Deserialize;
use serde_json::Value;

/// An EventBridge event as this function reads it: the fields of an `ECR Image Action`,
/// each `None` when the event lacks it or holds something other than a string there.
///
/// It deserializes from any JSON (through [`Value`]), so that no event fails the
/// runtime's deserialization: whatever is not a successful tagged push, an empty object
/// or a bare string included, is answered `ignored`, with the reason in the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "Value")]
pub struct EcrImageAction {
    /// EventBridge's event id, for the log.
    pub id: Option<String>,
    /// The account and region the event comes from: the function's own, or refused.
    pub account: Option<String>,
    pub region: Option<String>,
    /// When EventBridge received it (RFC 3339), for the log and the redrive's listing.
    pub time: Option<String>,
    /// `aws.ecr`.
    pub source: Option<String>,
    /// `ECR Image Action`.
    pub detail_type: Option<String>,
    pub detail: Detail,
}

/// The `detail` of an `ECR Image Action`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// `PUSH` or `DELETE`.
    pub action_type: Option<String>,
    /// `SUCCESS` or `FAILURE`.
    pub result: Option<String>,
    /// `<namespace>/<app>`.
    pub repository_name: Option<String>,
    pub image_tag: Option<String>,
    /// `sha256:<hex>`: what ECR must hold under the tag.
    pub image_digest: Option<String>,
}

impl From<&Value> for EcrImageAction {
    fn from(event: &Value) -> Self {
        let text = |pointer: &str| {
            event
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Self {
            id: text("/id"),
            account: text("/account"),
            region: text("/region"),
            time: text("/time"),
            source: text("/source"),
            detail_type: text("/detail-type"),
            detail: Detail {
                action_type: text("/detail/action-type"),
                result: text("/detail/result"),
                repository_name: text("/detail/repository-name"),
                image_tag: text("/detail/image-tag"),
                image_digest: text("/detail/image-digest"),
            },
        }
    }
}

impl From<Value> for EcrImageAction {
    fn from(event: Value) -> Self {
        Self::from(&event)
    }
}

/// A successful, tagged push of a `<namespace>/<app>` repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The ECR repository name, `<namespace>/<app>`.
    pub repository: String,
    pub tag: String,
}

impl TryFrom<&EcrImageAction> for Push {
    /// Why the event is ignored.
    type Error = String;

    fn try_from(event: &EcrImageAction) -> Result<Self, String> {
        let expect = |value: &Option<String>, field: &str, wanted: &str| match value.as_deref() {
            Some(value) if value == wanted => Ok(()),
            Some(value) => Err(format!("{field} is {value:?}, not {wanted:?}")),
            None => Err(format!("no {field} (expected {wanted:?})")),
        };
        let detail = &event.detail;
        expect(&event.source, "source", "aws.ecr")?;
        expect(&event.detail_type, "detail-type", "ECR Image Action")?;
        expect(&detail.action_type, "detail.action-type", "PUSH")?;
        expect(&detail.result, "detail.result", "SUCCESS")?;
        let tag = match detail.image_tag.as_deref() {
            None | Some("") => return Err("the push has no image-tag".into()),
            Some(tag) if !is_tag(tag) => return Err(format!("image-tag {tag:?} is not a tag")),
            Some(tag) => tag.to_owned(),
        };
        let repository = match detail.repository_name.as_deref() {
            Some(name) if is_namespace_and_app(name) => name.to_owned(),
            Some(name) => {
                return Err(format!("repository-name {name:?} is not <namespace>/<app>"));
            }
            None => return Err("no detail.repository-name".into()),
        };
        Ok(Self { repository, tag })
    }
}

impl Push {
    /// Reads an EventBridge `ECR Image Action` event; `Err` holds why it is ignored.
    pub fn from_event(event: &Value) -> Result<Self, String> {
        Self::try_from(&EcrImageAction::from(event))
    }

    pub fn namespace(&self) -> &str {
        self.repository
            .split_once('/')
            .map_or(self.repository.as_str(), |(namespace, _)| namespace)
    }

    /// `Automated commit by ECR push (<repository-name>:<tag>)`, as ecr-heimdall wrote it.
    pub fn commit_message(&self) -> String {
        format!(
            "Automated commit by ECR push ({}:{})",
            self.repository, self.tag
        )
    }
}

/// A Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    tag.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Two ECR path components (lowercase letters, digits, `._-` between them): also keeps
/// the directory `apps/<namespace>/` a plain folder name (no `..`).
fn is_namespace_and_app(name: &str) -> bool {
    let component = |part: &str| {
        let bytes = part.as_bytes();
        let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        edge(bytes.first())
            && edge(bytes.last())
            && bytes.iter().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
    };
    matches!(name.split_once('/'), Some((namespace, app)) if component(namespace) && component(app))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail: Value) -> Value {
        json!({"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": detail})
    }

    #[test]
    fn pushes_are_read_from_the_event() {
        let push = Push::from_event(&event(json!({
            "action-type": "PUSH", "result": "SUCCESS",
            "repository-name": "snutt-dev/snutt-ev", "image-tag": "v1.2_3-rc.1",
        })))
        .unwrap();
        assert_eq!(push.namespace(), "snutt-dev");
        assert_eq!(
            push.commit_message(),
            "Automated commit by ECR push (snutt-dev/snutt-ev:v1.2_3-rc.1)"
        );
        for (name, tag) in [
            ("snutt-dev", "1"),
            ("snutt-dev/snutt-ev/x", "1"),
            ("../etc", "1"),
            ("snutt-dev/..", "1"),
            ("Snutt/ev", "1"),
            ("/ev", "1"),
            ("snutt-dev/snutt-ev", "-1"),
            ("snutt-dev/snutt-ev", "a b"),
            ("snutt-dev/snutt-ev", "a#b"),
        ] {
            let reason = Push::from_event(&event(json!({
                "action-type": "PUSH", "result": "SUCCESS",
                "repository-name": name, "image-tag": tag,
            })))
            .unwrap_err();
            assert!(!reason.is_empty(), "{name}:{tag}");
        }
    }

    #[test]
    fn any_json_reads_as_an_event() {
        for (json, expected) in [
            ("\"hello\"", EcrImageAction::default()),
            ("[1, 2]", EcrImageAction::default()),
            (
                r#"{"id": 7, "source": "aws.ecr", "detail": "PUSH"}"#,
                EcrImageAction {
                    source: Some("aws.ecr".into()),
                    ..EcrImageAction::default()
                },
            ),
        ] {
            let event: EcrImageAction = serde_json::from_str(json).expect(json);
            assert_eq!(event, expected, "{json}");
        }
    }
}
