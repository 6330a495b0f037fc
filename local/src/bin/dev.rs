//! Development helpers for the local server (never deployed):
//!
//! - `dev key`: makes the development signing key under `target/local/` on first use and
//!   prints its public half (PEM), the value of `WAFFLE_JWT_PUBLIC_KEY`;
//! - `dev token <sso_id> [--admin] [--hours N]`: prints a bearer token for that SSO id,
//!   issued by the local issuer (no deployed stack accepts it), valid 12 hours at most;
//!   `--admin` also registers the user when needed and flags it admin (`DATABASE_URL`);
//! - `dev demo`: migrates `DATABASE_URL` to head and loads what the directory lacks of
//!   the demo (each member and team once), saying what keeps any member out.
//!
//! Reports go to stderr; stdout carries only what a script captures (a key, a token).

use anyhow::{Context, bail};
use local::dev::{self, DevKey};
use shared::platform::migrations::{self, Command, Target};
use sqlx::{Connection, MySqlConnection};

const USAGE: &str = "usage: dev key | dev token <sso_id> [--admin] [--hours N] | dev demo";
/// The longest a local token lives (and its default): a leaked one is dead by tomorrow.
const MAX_HOURS: i64 = 12;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("key") => {
            let (key, created) = DevKey::load_or_create(&dev::key_dir())?;
            if created {
                eprintln!("made a development signing key: {}", key.path.display());
            }
            print!("{}", key.public_pem()?);
        }
        Some("token") => token(&args[1..]).await?,
        Some("demo") => {
            let mut conn = connect().await?;
            migrations::run(
                &mut conn,
                &Command::Upgrade {
                    target: Target::Head,
                },
            )
            .await?;
            let mut tx = conn.begin().await?;
            let demo = dev::seed_demo(&mut tx).await?;
            tx.commit().await?;
            eprintln!("{}", demo.report());
        }
        _ => bail!("{USAGE}"),
    }
    Ok(())
}

async fn token(args: &[String]) -> anyhow::Result<()> {
    let mut sso_id = None;
    let mut admin = false;
    let mut hours: i64 = MAX_HOURS;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--admin" => admin = true,
            "--hours" => {
                hours = rest
                    .next()
                    .and_then(|h| h.parse().ok())
                    .filter(|h| (1..=MAX_HOURS).contains(h))
                    .with_context(|| {
                        format!("--hours takes a number of hours, 1 to {MAX_HOURS}")
                    })?;
            }
            id if sso_id.is_none() && !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
                sso_id = Some(id.to_owned());
            }
            other => bail!("unexpected {other:?}: the SSO id is a decimal number\n{USAGE}"),
        }
    }
    let sso_id = sso_id.context(USAGE)?;
    let (key, created) = DevKey::load_or_create(&dev::key_dir())?;
    if created {
        eprintln!(
            "made a development signing key: {} (restart the local server so it trusts it)",
            key.path.display()
        );
    }
    if admin {
        let mut conn = connect().await?;
        let mut tx = conn.begin().await?;
        let id = dev::make_admin(&mut tx, &sso_id).await?;
        tx.commit().await?;
        eprintln!("SSO id {sso_id} is user {id}, an admin");
    }
    println!("{}", key.token(&sso_id, hours * 3600)?);
    Ok(())
}

async fn connect() -> anyhow::Result<MySqlConnection> {
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL is not set")?;
    MySqlConnection::connect(&url)
        .await
        .with_context(|| "connecting to DATABASE_URL (is scripts/run-local running?)")
}
