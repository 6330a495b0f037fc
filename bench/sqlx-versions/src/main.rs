//! `scripts/bench-sqlx`: the reads of one `GET /users/{id}` through sqlx 0.8 and through
//! sqlx 0.9, on the same database, in alternating rounds; prints this process's on-CPU
//! time and the wall time per read, medians of 7 rounds of 4,000 reads.
//!
//! Why it exists: after the upgrade to sqlx 0.9 the local server spent ~30 µs more CPU
//! per `GET /users/{id}` with the same statements, syscalls and layers. sqlx-mysql 0.9
//! builds each result column's origin (`format!("{schema}.{table}")` and the column name
//! as new strings) on every execution, in `recv_next_result_column`. `ONLY=8` or `ONLY=9`
//! runs one version alone, for a profiler.

use std::time::Duration;

mod v08 {
    use sqlx08 as sqlx;
    include!("body.rs");
}
mod v09 {
    use sqlx09 as sqlx;
    include!("body.rs");
}

/// On-CPU time of every thread of this process so far.
fn cpu() -> Duration {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("schedstat"));
        ns += stat
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(ns)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .expect("usage: sqlx-versions <database url>");
    if let Ok(only) = std::env::var("ONLY") {
        let (cpu, wall) = match only.as_str() {
            "8" => v08::run(&v08::connect(&url).await, 20_000).await,
            _ => v09::run(&v09::connect(&url).await, 20_000).await,
        };
        println!("sqlx 0.{only} alone: 20,000 reads, {cpu:?} on CPU, {wall:?} in all");
        return;
    }
    let n = 4000;
    let (old, new) = (v08::connect(&url).await, v09::connect(&url).await);
    v08::run(&old, n / 4).await;
    v09::run(&new, n / 4).await;
    let per_read = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let (mut cpu8, mut cpu9, mut wall8, mut wall9) = (vec![], vec![], vec![], vec![]);
    for _ in 0..7 {
        let (cpu, wall) = v08::run(&old, n).await;
        cpu8.push(per_read(cpu));
        wall8.push(per_read(wall));
        let (cpu, wall) = v09::run(&new, n).await;
        cpu9.push(per_read(cpu));
        wall9.push(per_read(wall));
    }
    let (c8, c9, w8, w9) = (median(cpu8), median(cpu9), median(wall8), median(wall9));
    println!("| sqlx | client CPU µs/read | wall µs/read |");
    println!("|---|---:|---:|");
    println!("| 0.8 | {c8:.1} | {w8:.1} |");
    println!("| 0.9 | {c9:.1} | {w9:.1} |");
    println!("| 0.9 / 0.8 | ×{:.3} | ×{:.3} |", c9 / c8, w9 / w8);
}
