//! A MariaDB server of a test's own, to stop and start at will (the shared test server
//! must stay up for every other test).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

pub struct PrivateMariaDb {
    pub port: u16,
    datadir: PathBuf,
    child: Option<Child>,
    /// More server options (e.g. `--max-connections=5`), kept across `resume`.
    options: Vec<String>,
}

/// `name` from PATH, or from the sbin folders where Debian puts the server, or
/// Homebrew's bin folders (Apple silicon, then Intel), as `scripts/lib.sh` looks.
fn find(name: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/sbin",
                "/usr/local/sbin",
                "/usr/bin",
                "/opt/homebrew/bin",
                "/usr/local/bin",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{name} not found: install MariaDB (Debian: apt-get install mariadb-server; \
                 macOS: brew install mariadb)"
            )
        })
}

impl PrivateMariaDb {
    /// Initialises a data directory and starts the server on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&[]).await
    }

    /// Like [`PrivateMariaDb::start`], with more server options.
    pub async fn start_with(options: &[&str]) -> anyhow::Result<Self> {
        let datadir =
            std::env::temp_dir().join(format!("wd-mariadb-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&datadir)?;
        let install = Command::new(find("mariadb-install-db")?)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg("--user=root")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await?;
        anyhow::ensure!(
            install.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        let mut server = Self {
            port: crate::free_port(),
            datadir,
            child: None,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        };
        server.resume().await?;
        Ok(server)
    }

    /// A started server with one empty database, `app`: the server, and the database's URL.
    pub async fn with_app_database() -> (Self, String) {
        let server = Self::start().await.expect("start a private MariaDB");
        let url = server
            .create_database("app")
            .await
            .expect("create the database");
        (server, url)
    }

    /// `mysql://` URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` (utf8mb4, as every database of the project); its URL.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        use sqlx::Connection;
        let mut admin = sqlx::MySqlConnection::connect(&self.url("mysql")).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )))
        .execute(&mut admin)
        .await?;
        admin.close().await?;
        Ok(self.url(name))
    }

    /// Creates database `name` (see [`PrivateMariaDb::create_database`]) and migrates it to
    /// head; its URL.
    pub async fn create_migrated_database(&self, name: &str) -> String {
        use sqlx::Connection;
        let url = self
            .create_database(name)
            .await
            .expect("create the database");
        let mut conn = crate::db::connect(&url).await;
        crate::db::migrate_to_head(&mut conn).await;
        conn.close().await.expect("close the migrating connection");
        url
    }

    /// Stops the server and waits until it has exited.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Freezes the server (SIGSTOP): its connections stay open and nothing answers, as
    /// in a network partition. [`PrivateMariaDb::thaw`] lets it go on.
    pub async fn freeze(&self) -> anyhow::Result<()> {
        self.signal("-STOP").await
    }

    pub async fn thaw(&self) -> anyhow::Result<()> {
        self.signal("-CONT").await
    }

    async fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .ok_or_else(|| anyhow::anyhow!("the server is not running"))?;
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill {signal} {pid} failed");
        Ok(())
    }

    /// Starts the server again on the same port and data.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let child = Command::new(find("mariadbd")?)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.datadir.display()))
            .arg(format!("--socket={}", socket(&self.datadir).display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg("--skip-grant-tables")
            .arg("--skip-name-resolve")
            .arg("--innodb-buffer-pool-size=16M")
            .arg("--innodb-log-file-size=8M")
            .arg("--user=root")
            .args(&self.options)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        crate::wait_for_port(self.port, Duration::from_secs(30)).await
    }
}

fn socket(datadir: &Path) -> PathBuf {
    datadir.join("mysqld.sock")
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.datadir);
    }
}
