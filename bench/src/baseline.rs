//! `baseline`: this build's local server against an older build's, side by side on the
//! same seeded data, in alternating rounds so that whatever else the machine does falls on
//! both sides alike. `scripts/bench-baseline <rev>` builds the older `local` and runs it.
//!
//! An older build refuses a database at a revision it does not know, so its side gets its
//! own copy of the seed, taken down to `BENCH_BASELINE_REVISION` with this build's own
//! downgrade: the later revisions' down steps drop what they added (tables, triggers,
//! columns), and the users, positions, teams and their links stay as seeded.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::Connection;

use crate::http::{LocalServer, load};
use crate::seed;
use crate::stats::{ROUNDS, Run, Summary, cpu_time, median};

/// Rounds per side after one warm-up round each (more than the other suites' ROUNDS: the
/// question is a difference of a few per cent).
const BASELINE_ROUNDS: usize = ROUNDS + 4;

/// One scenario, both sides.
struct Row {
    scenario: &'static str,
    current: Side,
    baseline: Side,
}

/// One side's medians: the load's figures and what a request cost.
#[derive(Clone, Copy)]
struct Side {
    summary: Summary,
    /// The server's on-CPU time per request, µs.
    server_us: f64,
    /// MariaDB's on-CPU time per request, µs (when its process is on this machine).
    db_us: Option<f64>,
    /// Statements MariaDB received per request.
    statements: f64,
}

/// What one measured round cost, per request.
struct Cost {
    server_us: f64,
    db_us: Option<f64>,
    statements: f64,
}

/// The counters read before and after a round.
struct Counters {
    server: std::time::Duration,
    db: Option<std::time::Duration>,
    questions: f64,
}

impl Counters {
    async fn read(
        server: &LocalServer,
        db_pid: Option<u32>,
        conn: &mut sqlx::MySqlConnection,
    ) -> anyhow::Result<Self> {
        let (_, questions): (String, String) =
            sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Questions'")
                .fetch_one(&mut *conn)
                .await?;
        Ok(Self {
            server: cpu_time(server.pid().context("the server has exited")?)?,
            db: db_pid.and_then(|pid| cpu_time(pid).ok()),
            questions: questions.parse()?,
        })
    }

    fn cost_since(&self, before: &Self, requests: usize) -> Cost {
        let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / requests as f64;
        Cost {
            server_us: per(self.server - before.server),
            db_us: self.db.zip(before.db).map(|(after, b)| per(after - b)),
            // Less the SHOW STATUS that read the counter.
            statements: (self.questions - before.questions - 1.0) / requests as f64,
        }
    }
}

impl Side {
    fn of(runs: &[Run], costs: &[Cost]) -> Self {
        let db: Vec<f64> = costs.iter().filter_map(|c| c.db_us).collect();
        Self {
            summary: Summary::of(runs),
            server_us: median(costs.iter().map(|c| c.server_us).collect()),
            db_us: (!db.is_empty()).then(|| median(db)),
            statements: median(costs.iter().map(|c| c.statements).collect()),
        }
    }
}

/// MariaDB's process id, when its pid file is readable here (a server on this machine).
async fn db_pid(conn: &mut sqlx::MySqlConnection) -> Option<u32> {
    let file: String = sqlx::query_scalar("SELECT @@pid_file")
        .fetch_one(conn)
        .await
        .ok()?;
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Runs the suite; returns the markdown table it also prints.
pub async fn run(
    bin: &Path,
    server_url: &str,
    current_url: &str,
    users: usize,
) -> anyhow::Result<String> {
    let old_bin = PathBuf::from(
        std::env::var_os("BENCH_BASELINE_BIN")
            .context("BENCH_BASELINE_BIN: the folder of the older build's `local`")?,
    );
    let revision: i64 = std::env::var("BENCH_BASELINE_REVISION")
        .context("BENCH_BASELINE_REVISION: the newest schema revision the older build knows")?
        .parse()
        .context("BENCH_BASELINE_REVISION is a revision number")?;
    let label = std::env::var("BENCH_BASELINE_LABEL").unwrap_or_else(|_| "baseline".into());

    let old_url = seed::seed(server_url, "bench_baseline", users as i64).await?;
    let mut conn = sqlx::MySqlConnection::connect(&old_url).await?;
    shared::platform::migrations::run(
        &mut conn,
        &shared::platform::migrations::Command::Downgrade {
            target: shared::platform::migrations::Target::Version(revision),
        },
    )
    .await
    .with_context(|| format!("downgrade bench_baseline to revision {revision}"))?;
    conn.close().await?;

    let mut counters = sqlx::MySqlConnection::connect(server_url).await?;
    let db = db_pid(&mut counters).await;
    let current = LocalServer::start(bin, current_url).await?;
    let old = LocalServer::start(&old_bin, &old_url).await?;
    let single = |i: usize| format!("/api/v1/users/{}", 1 + (i * 7919) % users);
    let list = |_| "/api/v1/users?limit=1000".to_owned();
    let mut rows = Vec::new();
    for (scenario, concurrency, total, path) in [
        (
            "GET /users/{id}, c=32",
            32,
            40_000,
            &single as &dyn Fn(usize) -> String,
        ),
        ("GET /users/{id}, c=1", 1, 5_000, &single),
        ("GET /users?limit=1000, c=1", 1, 200, &list),
    ] {
        eprintln!("baseline: {scenario}");
        let (mut ours, mut theirs) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        for round in 0..=BASELINE_ROUNDS {
            // Alternate which side goes first, so neither always follows the other's load.
            let order = if round % 2 == 0 {
                [(&current, true), (&old, false)]
            } else {
                [(&old, false), (&current, true)]
            };
            for (server, is_current) in order {
                let before = Counters::read(server, db, &mut counters).await?;
                let run: Run = load(&server.addr, concurrency, total, path).await?.0;
                let cost = Counters::read(server, db, &mut counters)
                    .await?
                    .cost_since(&before, total);
                if round > 0 {
                    let (runs, costs) = if is_current { &mut ours } else { &mut theirs };
                    runs.push(run);
                    costs.push(cost);
                }
            }
        }
        rows.push(Row {
            scenario,
            current: Side::of(&ours.0, &ours.1),
            baseline: Side::of(&theirs.0, &theirs.1),
        });
    }
    current.stop().await;
    old.stop().await;
    Ok(markdown(&rows, &label))
}

fn markdown(rows: &[Row], label: &str) -> String {
    let mut out = format!(
        "# This build against {label}\n\n\
         `scripts/bench-baseline`: both local servers on the same seeded {users} users, \
         alternating rounds; medians of {BASELINE_ROUNDS} rounds after a warm-up each. \
         Ratio = this build / {label} (req/s: above 1 is faster; p50 and costs: below 1 \
         is cheaper). CPU is each process's on-CPU time over the round, per request.\n\n\
         | scenario | req/s this | req/s {label} | ratio | p50 ms this | p50 ms {label} | ratio |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        users = crate::USERS,
    );
    for row in rows {
        let (a, b) = (row.current.summary, row.baseline.summary);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} |",
            row.scenario,
            a.rps,
            b.rps,
            a.rps / b.rps,
            a.p50_ms,
            b.p50_ms,
            a.p50_ms / b.p50_ms,
        );
    }
    let _ = write!(
        out,
        "\n| scenario | server CPU µs/req this | {label} | ratio | MariaDB CPU µs/req this | {label} | statements/req this | {label} |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    let db = |us: Option<f64>| us.map_or("–".to_owned(), |us| format!("{us:.1}"));
    for row in rows {
        let (a, b) = (row.current, row.baseline);
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.3} | {} | {} | {:.2} | {:.2} |",
            row.scenario,
            a.server_us,
            b.server_us,
            a.server_us / b.server_us,
            db(a.db_us),
            db(b.db_us),
            a.statements,
            b.statements,
        );
    }
    out
}
