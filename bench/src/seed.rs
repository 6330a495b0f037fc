//! The benchmark databases: `n` users, each with 1–2 positions, 0–3 SNS accounts and a
//! team; user 1 is an admin (SSO id `100001`); 1,000 audit entries.

use std::fmt::Write as _;

use sqlx::Connection;

/// The SSO id of the seeded admin (user 1).
pub const ADMIN_SSO: &str = "100001";

/// Drops and recreates database `name` on `server_url` at head with `users` users;
/// returns its URL.
pub async fn seed(server_url: &str, name: &str, users: i64) -> anyhow::Result<String> {
    let url = testkit::db::with_database(server_url, name);
    let mut admin = sqlx::MySqlConnection::connect(server_url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}; \
         CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )))
    .execute(&mut admin)
    .await?;
    let mut conn = sqlx::MySqlConnection::connect(&url).await?;
    shared::platform::migrations::run(
        &mut conn,
        &shared::platform::migrations::Command::Upgrade {
            target: shared::platform::migrations::Target::Head,
        },
    )
    .await?;
    let teams = (0..10)
        .map(|t| format!("('Team {t}', 'A team of the club')"))
        .collect::<Vec<_>>()
        .join(",");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO team (name, introduction) VALUES {teams}"
    )))
    .execute(&mut conn)
    .await?;
    let positions: Vec<i32> = sqlx::query_scalar("SELECT id FROM `position` ORDER BY id")
        .fetch_all(&mut conn)
        .await?;
    let teams: Vec<i32> = sqlx::query_scalar("SELECT id FROM team ORDER BY id")
        .fetch_all(&mut conn)
        .await?;

    let (mut rows, mut links, mut sns, mut members) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for id in 1..=users {
        rows.push(format!(
            "({id}, '{}', 'member{id:04}', '와플{id}', '김', 'member-{id}', 'U{id:08}', \
             '안녕하세요, 와플스튜디오 {id}기입니다.', '{}', 0, 1, 1, {})",
            100_000 + id,
            10 + id % 12,
            i32::from(id == 1),
        ));
        let p = id as usize % positions.len();
        links.push(format!("({}, {id})", positions[p]));
        if id % 2 == 0 {
            links.push(format!("({}, {id})", positions[(p + 1) % positions.len()]));
        }
        for s in 0..(id % 4) {
            sns.push(format!("({id}, 'sns{s}', 'https://example.com/{id}/{s}')"));
        }
        members.push(format!("({}, {id})", teams[id as usize % teams.len()]));
    }
    // Chunks keep each statement well under max_allowed_packet.
    for chunk in rows.chunks(1000) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO `user` (id, sso_id, username, first_name, last_name, github_id, \
             slack_id, introduction, generation, is_rookie, is_member, is_active, is_admin) \
             VALUES {}",
            chunk.join(",")
        )))
        .execute(&mut conn)
        .await?;
    }
    for (table, columns, values) in [
        ("position_user_association", "position_id, user_id", &links),
        ("sns_account", "user_id, name, url", &sns),
        ("team_user_association", "team_id, user_id", &members),
    ] {
        for chunk in values.chunks(2000) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {table} ({columns}) VALUES {}",
                chunk.join(",")
            )))
            .execute(&mut conn)
            .await?;
        }
    }
    let mut audit = String::new();
    for i in 1..=1000 {
        let _ = write!(
            audit,
            "{}('{ADMIN_SSO}', 'update', 'user', '{}', '{{\"introduction\": [\"before\", \"after {i}\"]}}')",
            if i > 1 { "," } else { "" },
            1 + i % users,
        );
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO audit_log (actor, action, entity, entity_id, changes) VALUES {audit}"
    )))
    .execute(&mut conn)
    .await?;
    eprintln!("seeded {name}: {users} users");
    Ok(url)
}
