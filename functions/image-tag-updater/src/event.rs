//! What the function reads from an EventBridge `ECR Image Action` event: a push.

use serde_json::Value;

/// A successful, tagged push of a `<namespace>/<app>` repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The ECR repository name, `<namespace>/<app>`.
    pub repository: String,
    pub tag: String,
}

impl Push {
    /// Reads an EventBridge `ECR Image Action` event; `Err` holds why it is ignored.
    pub fn from_event(event: &Value) -> Result<Self, String> {
        let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
        let expect = |pointer: &str, field: &str, wanted: &str| match text(pointer) {
            Some(value) if value == wanted => Ok(()),
            Some(value) => Err(format!("{field} is {value:?}, not {wanted:?}")),
            None => Err(format!("no {field} (expected {wanted:?})")),
        };
        expect("/source", "source", "aws.ecr")?;
        expect("/detail-type", "detail-type", "ECR Image Action")?;
        expect("/detail/action-type", "detail.action-type", "PUSH")?;
        expect("/detail/result", "detail.result", "SUCCESS")?;
        let tag = match text("/detail/image-tag") {
            None | Some("") => return Err("the push has no image-tag".into()),
            Some(tag) if !is_tag(tag) => return Err(format!("image-tag {tag:?} is not a tag")),
            Some(tag) => tag.to_owned(),
        };
        let repository = match text("/detail/repository-name") {
            Some(name) if is_namespace_and_app(name) => name.to_owned(),
            Some(name) => {
                return Err(format!("repository-name {name:?} is not <namespace>/<app>"));
            }
            None => return Err("no detail.repository-name".into()),
        };
        Ok(Self { repository, tag })
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
}
