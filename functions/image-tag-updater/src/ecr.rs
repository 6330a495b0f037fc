//! What ECR says about an image: the one read the updater trusts (`ecr:DescribeImages`,
//! read-only), rather than the event that names it.
//!
//! <https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html>:
//! asked for image ids, DescribeImages fails with `ImageNotFoundException` when one does
//! not exist, and with `RepositoryNotFoundException` for an unknown repository.

use aws_sdk_ecr::error::DisplayErrorContext;
use aws_sdk_ecr::primitives::DateTime;
use aws_sdk_ecr::types::ImageIdentifier;

/// An image as ECR holds it under one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `sha256:<hex>`, the manifest's digest.
    pub digest: String,
    /// When it was pushed (`imagePushedAt`); an image tagged again keeps its first push.
    pub pushed_at: DateTime,
}

/// The function's own registry.
#[derive(Clone)]
pub struct Registry {
    client: aws_sdk_ecr::Client,
    /// The function's own account: the registry is asked for by id, never the caller's
    /// default.
    account: String,
}

/// ECR could not be asked (no answer, no permission, throttled): the invocation fails
/// and is retried, since nothing was learnt about the image.
#[derive(Debug, thiserror::Error)]
#[error("ECR could not be asked about {repository}:{tag}: {reason}")]
pub struct EcrError {
    pub repository: String,
    pub tag: String,
    pub reason: String,
}

impl Registry {
    pub fn new(sdk: &aws_config::SdkConfig, account: &str) -> Self {
        Self {
            client: aws_sdk_ecr::Client::new(sdk),
            account: account.to_owned(),
        }
    }

    /// The image tagged `tag` in `repository`, or `None` when ECR has no such tag (or no
    /// such repository).
    pub async fn image(&self, repository: &str, tag: &str) -> Result<Option<Image>, EcrError> {
        let error = |reason: String| EcrError {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
            reason,
        };
        let answer = self
            .client
            .describe_images()
            .registry_id(&self.account)
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(e) => {
                let unknown = e.as_service_error().is_some_and(|s| {
                    s.is_image_not_found_exception() || s.is_repository_not_found_exception()
                });
                if unknown {
                    return Ok(None);
                }
                return Err(error(DisplayErrorContext(&e).to_string()));
            }
        };
        // One id asked for, so at most one detail; a detail must carry the tag asked for.
        let detail = output
            .image_details()
            .iter()
            .find(|d| d.image_tags().iter().any(|t| t == tag));
        let Some(detail) = detail else {
            return Ok(None);
        };
        match (detail.image_digest(), detail.image_pushed_at()) {
            (Some(digest), Some(pushed_at)) => Ok(Some(Image {
                digest: digest.to_owned(),
                pushed_at: *pushed_at,
            })),
            _ => Err(error(
                "the answer lacks the image's digest or push time".into(),
            )),
        }
    }
}

/// An ECR time in RFC 3339, for the log.
pub fn rfc3339(time: &DateTime) -> String {
    time.fmt(aws_sdk_ecr::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("epoch second {}", time.secs()))
}
