// One version's half of the comparison: `main.rs` includes this file twice, once with
// each sqlx as `sqlx`. The statements are the ones `shared::domain::users::repo` sends
// for one user (the row, then its positions, SNS accounts and teams), on a pool of one
// connection that pings before each use, as the functions' pools do.

use sqlx::Row;
use std::time::{Duration, Instant};

const USER: &str = "SELECT u.id, u.sso_id, u.username, u.image_url, u.first_name, u.last_name, \
    u.department, u.college, u.phone_number, u.github_id, u.github_email, u.slack_id, \
    u.slack_email, u.notion_email, u.apple_email, u.is_rookie, u.is_member, u.is_active, \
    u.is_admin, u.introduction, u.generation, u.created_at, u.updated_at FROM `user` u WHERE u.id = ?";
const POSITIONS: &str = "SELECT pua.user_id, p.id, p.name FROM position_user_association pua \
    JOIN `position` p ON p.id = pua.position_id WHERE pua.user_id BETWEEN ? AND ? ORDER BY p.id";
const SNS: &str = "SELECT user_id, name, url FROM sns_account WHERE user_id BETWEEN ? AND ? ORDER BY id";
const TEAMS: &str = "SELECT tua.user_id, t.id, t.name FROM team_user_association tua \
    JOIN team t ON t.id = tua.team_id WHERE tua.user_id BETWEEN ? AND ? ORDER BY t.id";

pub struct Pool(sqlx::MySqlPool);

pub async fn connect(url: &str) -> Pool {
    Pool(
        sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(1)
            .test_before_acquire(true)
            .connect(url)
            .await
            .unwrap(),
    )
}

/// `n` single-user reads as `GET /users/{id}` makes them (a ping, the user, its three links); CPU and wall time.
pub async fn run(pool: &Pool, n: usize) -> (Duration, Duration) {
    let (cpu0, wall0) = (crate::cpu(), Instant::now());
    let mut sum = 0usize;
    for i in 0..n {
        let id = 1 + ((i * 7919) % 1000) as i32;
        let mut conn = pool.0.acquire().await.unwrap();
        let row = sqlx::query(USER).bind(id).fetch_optional(&mut *conn).await.unwrap().unwrap();
        let _: i32 = row.try_get(0).unwrap();
        for c in 1..15 {
            let v: Option<String> = row.try_get(c).unwrap();
            sum += v.map_or(0, |s| s.len());
        }
        for c in 15..19 {
            let _: bool = row.try_get(c).unwrap();
        }
        for c in 19..21 {
            let v: Option<String> = row.try_get(c).unwrap();
            sum += v.map_or(0, |s| s.len());
        }
        for c in 21..23 {
            let _: time::PrimitiveDateTime = row.try_get(c).unwrap();
        }
        for sql in [POSITIONS, TEAMS] {
            for row in sqlx::query(sql).bind(id).bind(id).fetch_all(&mut *conn).await.unwrap() {
                let (_, _, name): (i32, i32, String) =
                    (row.try_get(0).unwrap(), row.try_get(1).unwrap(), row.try_get(2).unwrap());
                sum += name.len();
            }
        }
        for row in sqlx::query(SNS).bind(id).bind(id).fetch_all(&mut *conn).await.unwrap() {
            let (_, a, b): (i32, String, String) =
                (row.try_get(0).unwrap(), row.try_get(1).unwrap(), row.try_get(2).unwrap());
            sum += a.len() + b.len();
        }
    }
    assert!(sum > 0);
    (crate::cpu() - cpu0, wall0.elapsed())
}
