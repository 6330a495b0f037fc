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
use sqlx::{MySql, MySqlConnection, QueryBuilder};

/// The issuer of local tokens, which `scripts/run-local` configures the local server to
/// trust and no deployed function accepts (`shared::platform::identity::LOCAL_ISSUER`).
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

/// Makes `sso_id` a registered admin: registers it first (as the demo member of a demo
/// SSO id, else as `dev-<sso_id>`) when no user has that SSO id. Returns the user's id. Written directly, as an operator would
/// flag an admin in the database; not through the API (no admin exists to call it).
pub async fn make_admin(conn: &mut MySqlConnection, sso_id: &str) -> anyhow::Result<i32> {
    let id = match repo::registered(conn, sso_id).await? {
        Some(user) => user.id,
        None => {
            // A demo SSO id registers as that demo member, so the demo loaded later
            // counts it as its own rather than finding its id taken.
            let body = match demo_index(sso_id) {
                Some(i) => demo_member(i).2,
                None => json!({
                    "username": format!("dev-{sso_id}"),
                    "first_name": "Dev",
                    "last_name": "Admin",
                    "introduction": "Made by scripts/token --admin 🛠️",
                }),
            };
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

/// Demo member `i` (0-based): its SSO id, username and registration body.
fn demo_member(i: usize) -> (String, String, Value) {
    let (s, g) = (
        i % SURNAMES.len(),
        (i * 5 + i / SURNAMES.len()) % GIVEN.len(),
    );
    let username = format!("{}{:02}", ROMAN[g], i + 1);
    let mut positions = vec![POSITIONS[i % POSITIONS.len()]];
    if i.is_multiple_of(4) {
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
    (demo_sso_id(i), username, body)
}

fn demo_sso_id(i: usize) -> String {
    format!("{}", DEMO_SSO_BASE as usize + 1 + i)
}

/// The demo member whose SSO id this is, if any: its index.
fn demo_index(sso_id: &str) -> Option<usize> {
    (0..DEMO_MEMBERS).find(|&i| demo_sso_id(i) == sso_id)
}

/// Whether demo member `i` belongs to team `t` of `TEAMS`.
fn in_team(t: usize, i: usize) -> bool {
    let (_, _, first, every) = TEAMS[t];
    i >= first && (i - first).is_multiple_of(every)
}

/// A demo member that could not be loaded: the row in its way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub sso_id: String,
    pub username: String,
    /// The user holding the member's SSO id or username, and what it holds.
    pub by_user: i32,
    pub by_username: Option<String>,
    pub by_sso_id: Option<String>,
}

/// What `seed_demo` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demo {
    /// Demo members and teams that this run wrote.
    pub added_members: usize,
    pub added_teams: usize,
    /// Demo members and teams in the directory afterwards.
    pub members: usize,
    pub teams: usize,
    /// Demo members that other rows keep out.
    pub blocked: Vec<Blocked>,
}

impl Demo {
    /// What a person reads after `dev demo`: true to the directory, and for each member
    /// left out, the row in its way and how to clear it.
    pub fn report(&self) -> String {
        let ids = format!(
            "SSO ids {}–{}",
            demo_sso_id(0),
            demo_sso_id(DEMO_MEMBERS - 1)
        );
        let all = format!("{} members ({ids}), {} teams", self.members, self.teams);
        let added = format!(
            "this run added {} and {}",
            plural(self.added_members, "member"),
            plural(self.added_teams, "team")
        );
        if self.blocked.is_empty() {
            return if self.added_members == 0 && self.added_teams == 0 {
                format!("demo data already there: {all}")
            } else if self.added_members == self.members && self.added_teams == self.teams {
                format!("demo data loaded: {all}")
            } else {
                format!("demo data completed ({added}): {all}")
            };
        }
        let mut report = format!(
            "demo data incomplete ({added}): {} of {DEMO_MEMBERS} members ({ids}), {} of {} teams",
            self.members,
            self.teams,
            TEAMS.len()
        );
        for b in &self.blocked {
            let what = match (&b.by_sso_id, &b.by_username) {
                (Some(sso), username) if *sso == b.sso_id => format!(
                    "SSO id {sso} is already user {} (username {})",
                    b.by_user,
                    username.as_deref().unwrap_or("none")
                ),
                (sso, _) => format!(
                    "username {} is already user {} ({})",
                    b.username,
                    b.by_user,
                    sso.as_ref()
                        .map_or_else(|| "no SSO id".to_owned(), |s| format!("SSO id {s}"))
                ),
            };
            report.push_str(&format!(
                "\n  demo member {} ({}) not loaded: {what}",
                b.sso_id, b.username
            ));
        }
        let mut users: Vec<i32> = self.blocked.iter().map(|b| b.by_user).collect();
        users.sort_unstable();
        users.dedup();
        let users: Vec<String> = users.iter().map(i32::to_string).collect();
        report.push_str(&format!(
            "\n  the demo never changes a row it did not write. To load them, delete user(s) {} \
             (DELETE /api/v1/users/<id> with an admin token, e.g. scripts/token 42 --admin; \
             their positions, teams and SNS accounts go with them), then run \
             scripts/run-local --demo again",
            users.join(", ")
        ));
        report
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A few dozen members (Korean names, emoji, positions, generations, SNS accounts) and
/// teams. Writes whichever of them the directory lacks, judged member by member (the
/// demo's SSO id with the demo's username) and team by team (a team of the demo's name),
/// so a run after a partial one, or after `make_admin` registered a demo member, loads
/// the rest. A row holding a demo member's SSO id or username under another identity is
/// left alone and reported. Memberships are written for the teams and members this run
/// adds: later runs leave edits of the others alone.
pub async fn seed_demo(conn: &mut MySqlConnection) -> anyhow::Result<Demo> {
    let members: Vec<(String, String, Value)> = (0..DEMO_MEMBERS).map(demo_member).collect();
    // Every row holding one of their SSO ids or usernames, in one query.
    let mut existing =
        QueryBuilder::<MySql>::new("SELECT id, sso_id, username FROM `user` WHERE sso_id IN (");
    let mut list = existing.separated(", ");
    for (sso, _, _) in &members {
        list.push_bind(sso);
    }
    existing.push(") OR username IN (");
    let mut list = existing.separated(", ");
    for (_, username, _) in &members {
        list.push_bind(username);
    }
    existing.push(")");
    let rows: Vec<(i32, Option<String>, Option<String>)> =
        existing.build_query_as().fetch_all(&mut *conn).await?;

    // Each member: its user id, whether this run writes it, or what keeps it out.
    let mut ids: Vec<Option<(i32, bool)>> = Vec::with_capacity(DEMO_MEMBERS);
    let mut blocked = Vec::new();
    for (sso, username, body) in &members {
        let same_name = |name: &Option<String>| {
            name.as_deref()
                .is_some_and(|name| name.eq_ignore_ascii_case(username))
        };
        let holder = rows
            .iter()
            .find(|(_, s, _)| s.as_deref() == Some(sso.as_str()))
            .or_else(|| rows.iter().find(|(_, _, name)| same_name(name)));
        match holder {
            Some((id, Some(s), name)) if s == sso && same_name(name) => {
                ids.push(Some((*id, false)))
            }
            Some((id, s, name)) => {
                blocked.push(Blocked {
                    sso_id: sso.clone(),
                    username: username.clone(),
                    by_user: *id,
                    by_username: name.clone(),
                    by_sso_id: s.clone(),
                });
                ids.push(None);
            }
            None => {
                let id = repo::create(conn, Some(sso), &parse(body)?).await?;
                ids.push(Some((id, true)));
            }
        }
    }

    let mut found = QueryBuilder::<MySql>::new("SELECT id, name FROM team WHERE name IN (");
    let mut list = found.separated(", ");
    for (name, ..) in TEAMS {
        list.push_bind(name);
    }
    found.push(") ORDER BY id");
    let teams: Vec<(i32, String)> = found.build_query_as().fetch_all(&mut *conn).await?;
    let mut added_teams = 0;
    let mut memberships = Vec::new();
    for (t, (name, introduction, ..)) in TEAMS.into_iter().enumerate() {
        let present = teams
            .iter()
            .find(|(_, found)| found.to_lowercase() == name.to_lowercase());
        let (team, new) = match present {
            Some((id, _)) => (i64::from(*id), false),
            None => {
                added_teams += 1;
                let id = sqlx::query("INSERT INTO team (name, introduction) VALUES (?, ?)")
                    .bind(name)
                    .bind(introduction)
                    .execute(&mut *conn)
                    .await?
                    .last_insert_id();
                (i64::try_from(id)?, true)
            }
        };
        for (i, member) in ids.iter().enumerate() {
            if let Some((user, new_member)) = member
                && in_team(t, i)
                && (new || *new_member)
            {
                memberships.push((team, i64::from(*user)));
            }
        }
    }
    // Only pairs with a new side: none of them can exist yet.
    if !memberships.is_empty() {
        let mut insert =
            QueryBuilder::<MySql>::new("INSERT INTO team_user_association (team_id, user_id) ");
        insert.push_values(&memberships, |mut row, (team, user)| {
            row.push_bind(team).push_bind(user);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(Demo {
        added_members: ids.iter().flatten().filter(|(_, new)| *new).count(),
        added_teams,
        members: ids.iter().flatten().count(),
        teams: TEAMS.len(),
        blocked,
    })
}
