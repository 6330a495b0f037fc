//! moto's server mode on loopback: real AWS API calls, no AWS account.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};

pub struct Moto {
    pub port: u16,
    _child: Child,
}

impl Moto {
    pub async fn start() -> anyhow::Result<Self> {
        let port = crate::free_port();
        let child = Command::new(crate::python_tool("MOTO_SERVER", "moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot start moto_server ({e}): install moto[server] (scripts/test does)"
                )
            })?;
        crate::wait_for_port(port, Duration::from_secs(30)).await?;
        Ok(Self {
            port,
            _child: child,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a process whose AWS SDK should talk to this moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "ap-northeast-2".into()),
        ]
    }
}

impl Moto {
    /// An SDK configuration that talks to this moto with test credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(shared::platform::aws::http_client())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("ap-northeast-2"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }

    /// Creates a Secrets Manager secret holding `value`.
    pub async fn put_secret(&self, name: &str, value: &str) {
        aws_sdk_secretsmanager::Client::new(&self.sdk_config().await)
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("create the secret in moto");
    }
}

impl Moto {
    /// Pushes a new image as `repository:tag` to moto's ECR (the repository is made on
    /// first use), as a registry client finishes a push
    /// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_PutImage.html), and
    /// returns its digest. Pushed again, the same image: the same digest.
    pub async fn push_image(&self, repository: &str, tag: &str) -> String {
        let ecr = aws_sdk_ecr::Client::new(&self.sdk_config().await);
        if let Err(e) = ecr
            .create_repository()
            .repository_name(repository)
            .send()
            .await
        {
            let exists = e
                .as_service_error()
                .is_some_and(|s| s.is_repository_already_exists_exception());
            assert!(exists, "create {repository}: {e:?}");
        }
        // A layer of its own per push, so each push is a new image (moto's digest is
        // made from the layers').
        let layer: String = format!("{repository}:{tag}")
            .bytes()
            .map(|b| format!("{b:02x}"))
            .chain(std::iter::repeat_n("0".to_owned(), 64))
            .collect::<String>()[..64]
            .to_owned();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": format!("sha256:{layer}"),
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 2_811_478,
                "digest": format!("sha256:{layer}"),
            }],
        });
        let put = ecr
            .put_image()
            .repository_name(repository)
            .image_tag(tag)
            .image_manifest(manifest.to_string())
            .send()
            .await;
        match put {
            Ok(put) => put
                .image()
                .and_then(|i| i.image_id())
                .and_then(|id| id.image_digest())
                .expect("a digest")
                .to_owned(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_image_already_exists_exception()) =>
            {
                let images = ecr
                    .describe_images()
                    .repository_name(repository)
                    .image_ids(
                        aws_sdk_ecr::types::ImageIdentifier::builder()
                            .image_tag(tag)
                            .build(),
                    )
                    .send()
                    .await
                    .expect("describe the image");
                images.image_details()[0]
                    .image_digest()
                    .expect("a digest")
                    .to_owned()
            }
            Err(e) => panic!("put {repository}:{tag}: {e:?}"),
        }
    }
}

/// The application's secret in the key layout the Python backend left (`db_username`,
/// `db_password`, ...), holding `password`.
pub fn old_layout_secret(password: &str) -> Value {
    json!({
        "db_username": "waffle",
        "db_password": password,
        "db_host": "wadot.cluster.ap-northeast-2.rds.amazonaws.com",
        "db_port": "3306",
        "db_name": "waffledotcom",
        "slack_token": "xoxb-not-a-real-token",
    })
}
