//! What a frontend developer needs from the local server: a signing key of their own
//! (the SSO's key never leaves the SSO), bearer tokens for any SSO id, and a directory
//! with people in it. Used by the `dev` binary that `scripts/run-local` and
//! `scripts/token` call; nothing here is part of any deployed function.

use std::path::{Path, PathBuf};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::PrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use shared::domain::users::{Mode, UserInput, repo};
use sqlx::MySqlConnection;

/// The issuer of local tokens, which `scripts/run-local` configures the local server to
/// trust and no deployed authorizer accepts (`shared::platform::identity::LOCAL_ISSUER`).
pub const ISSUER: &str = shared::platform::identity::LOCAL_ISSUER;

/// Where the key lives: `target/local/` of this checkout (ignored by git, like all of
/// `target/`), unless `WADOT_DEV_DIR` says otherwise.
pub fn key_dir() -> PathBuf {
    std::env::var_os("WADOT_DEV_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/local"),
        PathBuf::from,
    )
}

/// The development key pair: its private half as PKCS#8 PEM, made on first use.
pub struct DevKey {
    private: PrivateKey,
    pub path: PathBuf,
}

impl DevKey {
    /// Reads the key under `dir`, or makes and saves one (readable by the owner only).
    pub fn load_or_create(dir: &Path) -> anyhow::Result<(Self, bool)> {
        let path = dir.join("dev-signing-key.pem");
        if let Ok(pem) = std::fs::read_to_string(&path) {
            let private = PrivateKey::from_pkcs8_pem(&pem)
                .with_context(|| format!("{} is not a PKCS#8 RSA key", path.display()))?;
            return Ok((Self { private, path }, false));
        }
        // 2048 bits, as the SSO's key.
        let private = PrivateKey::new(&mut getrandom::SysRng, 2048)
            .context("generating the development key")?;
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .context("encoding the development key")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_private(&path, pem.as_bytes())?;
        Ok((Self { private, path }, true))
    }

    /// The public half as SubjectPublicKeyInfo PEM: the value of `WAFFLE_JWT_PUBLIC_KEY`.
    pub fn public_pem(&self) -> anyhow::Result<String> {
        self.private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .context("encoding the public key")
    }

    /// A token as the SSO mints it (RS512; `iss`, `sub`, `iat`, `exp` only).
    pub fn token(&self, sso_id: &str, valid_for_secs: i64) -> anyhow::Result<String> {
        // jsonwebtoken reads a PKCS#1 DER private key.
        let der = self
            .private
            .to_pkcs1_der()
            .context("encoding the development key")?;
        let key = EncodingKey::from_rsa_der(der.as_bytes());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({"iss": ISSUER, "sub": sso_id, "iat": now, "exp": now + valid_for_secs});
        jsonwebtoken::encode(&Header::new(Algorithm::RS512), &claims, &key)
            .context("signing the token")
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Makes `sso_id` a registered admin: registers it first (as `dev-<sso_id>`) when no
/// user has that SSO id. Returns the user's id. Written directly, as an operator would
/// flag an admin in the database; not through the API (no admin exists to call it).
pub async fn make_admin(conn: &mut MySqlConnection, sso_id: &str) -> anyhow::Result<i32> {
    let id = match repo::registered(conn, sso_id).await? {
        Some(user) => user.id,
        None => {
            let body = json!({
                "username": format!("dev-{sso_id}"),
                "first_name": "Dev",
                "last_name": "Admin",
                "introduction": "Made by scripts/token --admin 🛠️",
            });
            let input = parse(&body)?;
            repo::create(conn, Some(sso_id), &input).await?
        }
    };
    sqlx::query("UPDATE `user` SET is_admin = TRUE WHERE id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

fn parse(body: &Value) -> anyhow::Result<UserInput> {
    let object = body.as_object().context("a user is a JSON object")?;
    UserInput::parse(object, Mode::Create)
        .map_err(|error| anyhow::anyhow!("demo user {body} is invalid: {error:?}"))
}

const SURNAMES: [&str; 12] = [
    "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오",
];
const GIVEN: [&str; 12] = [
    "민준", "서연", "도윤", "지우", "하준", "서윤", "은우", "하은", "시우", "지민", "유나", "준서",
];
const ROMAN: [&str; 12] = [
    "minjun", "seoyeon", "doyun", "jiwoo", "hajun", "seoyun", "eunwoo", "haeun", "siwoo", "jimin",
    "yuna", "junseo",
];
const POSITIONS: [&str; 5] = ["프론트엔드", "백엔드", "iOS", "안드로이드", "디자이너"];
const INTROS: [&str; 6] = [
    "와플 좋아해요 🧇",
    "Rust 🦀 and coffee ☕",
    "디자인 시스템 만드는 중 🎨",
    "iOS 앱 출시 준비 중 📱",
    "새벽 코딩 🌙✨",
    "SNUTT 만들어요 🗓️",
];
/// The demo teams and the members each takes (every `n`-th demo user, from `first`).
const TEAMS: [(&str, &str, usize, usize); 4] = [
    ("SNUTT", "서울대 시간표 앱 🗓️", 0, 3),
    ("Waffle Market", "중고거래 🥞", 1, 4),
    ("Siksha", "학식 메뉴 🍚", 2, 5),
    ("wafflestudio.com", "이 웹사이트 🌐", 0, 6),
];

/// The number of demo members.
pub const DEMO_MEMBERS: usize = 36;
/// SSO ids of demo members: `DEMO_SSO_BASE + 1` to `DEMO_SSO_BASE + DEMO_MEMBERS`.
pub const DEMO_SSO_BASE: u32 = 900_000;

/// What `seed_demo` did.
pub struct Demo {
    pub created: bool,
    pub members: usize,
    pub teams: usize,
}

/// A few dozen members (Korean names, emoji, positions, generations, SNS accounts) and
/// teams, in one transaction. Does nothing when the first demo member exists already.
pub async fn seed_demo(conn: &mut MySqlConnection) -> anyhow::Result<Demo> {
    let first = format!("{}", DEMO_SSO_BASE + 1);
    if repo::registered(conn, &first).await?.is_some() {
        return Ok(Demo {
            created: false,
            members: DEMO_MEMBERS,
            teams: TEAMS.len(),
        });
    }
    let mut ids = Vec::with_capacity(DEMO_MEMBERS);
    for i in 0..DEMO_MEMBERS {
        let (s, g) = (
            i % SURNAMES.len(),
            (i * 5 + i / SURNAMES.len()) % GIVEN.len(),
        );
        let username = format!("{}{:02}", ROMAN[g], i + 1);
        let mut positions = vec![POSITIONS[i % POSITIONS.len()]];
        if i % 4 == 0 {
            positions.push(POSITIONS[(i + 2) % POSITIONS.len()]);
        }
        if i < 2 {
            positions.push("운영팀");
        }
        let generation = if i % 7 == 3 {
            format!("{}.5", 14 + i % 10)
        } else {
            format!("{}", 14 + i % 10)
        };
        let body = json!({
            "username": username,
            "first_name": GIVEN[g],
            "last_name": SURNAMES[s],
            "generation": generation,
            "introduction": INTROS[i % INTROS.len()],
            "github_id": format!("{username}-gh"),
            "positions": positions,
            "sns_accounts": [
                {"name": "GitHub", "url": format!("https://github.com/{username}-gh")},
                {"name": "블로그 ✍️", "url": format!("https://{username}.tistory.com")},
            ],
            "is_member": i % 6 != 5,
            "is_active": i % 9 != 8,
            "is_rookie": i >= DEMO_MEMBERS - 6,
        });
        let sso = format!("{}", DEMO_SSO_BASE + 1 + i as u32);
        ids.push(repo::create(conn, Some(&sso), &parse(&body)?).await?);
    }
    for (name, introduction, first, every) in TEAMS {
        let team = sqlx::query("INSERT INTO team (name, introduction) VALUES (?, ?)")
            .bind(name)
            .bind(introduction)
            .execute(&mut *conn)
            .await?
            .last_insert_id();
        for id in ids.iter().skip(first).step_by(every) {
            sqlx::query("INSERT INTO team_user_association (team_id, user_id) VALUES (?, ?)")
                .bind(team)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(Demo {
        created: true,
        members: DEMO_MEMBERS,
        teams: TEAMS.len(),
    })
}
