//! The tables `scripts/bench` prints and writes.

use std::fmt::Write as _;

use crate::lambda::Measured;
use crate::stats::{ROUNDS, Run, Summary};

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub scenarios: Vec<ScenarioRow>,
    pub functions: Vec<Measured>,
    pub scaling: Vec<ScalingRow>,
    /// `gateway`: GET /users/{id} with a token, merged and through `--lambdas`.
    pub gateway: Vec<ScenarioRow>,
    /// `gateway`: the first request after `local --lambdas` starts (median of starts), ms.
    pub gateway_cold_first_ms: Option<f64>,
    /// `limits`: through `--lambdas` under the template's limits, with the 503s counted.
    pub limits: Vec<LimitsRow>,
    /// `limits`: the first request after start (median of starts), ms.
    pub limits_cold_first_ms: Option<f64>,
    /// `limits`: whether the API account had the tier's `MAX_USER_CONNECTIONS`.
    pub limits_capped: Option<bool>,
    /// `limits`: a connection opened and closed (p50, p99 in ms): what each invocation adds.
    pub limits_connect_ms: Option<(f64, f64)>,
}

/// A scenario under the template's limits: its figures and how many answers were 503.
#[derive(Debug, serde::Serialize)]
pub struct LimitsRow {
    pub scenario: String,
    #[serde(flatten)]
    pub summary: Summary,
    pub refused: usize,
    pub requests: usize,
}

impl LimitsRow {
    pub fn new(scenario: impl Into<String>, runs: &[Run], refused: usize, requests: usize) -> Self {
        Self {
            scenario: scenario.into(),
            summary: Summary::of(runs),
            refused,
            requests,
        }
    }
}

#[derive(Debug, serde::Serialize)]
pub struct ScenarioRow {
    pub scenario: String,
    #[serde(flatten)]
    pub summary: Summary,
}

impl ScenarioRow {
    pub fn new(scenario: impl Into<String>, summary: Summary) -> Self {
        Self {
            scenario: scenario.into(),
            summary,
        }
    }

    /// The row in a table of scenarios: requests/s, p50 and p99.
    pub fn markdown(&self) -> String {
        let s = self.summary;
        format!(
            "| {} | {:.0} | {:.2} | {:.2} |",
            self.scenario, s.rps, s.p50_ms, s.p99_ms
        )
    }
}

#[derive(Debug, serde::Serialize)]
pub struct ScalingRow {
    pub users: usize,
    pub bytes: usize,
    #[serde(flatten)]
    pub summary: Summary,
}

impl ScalingRow {
    pub fn new(users: usize, bytes: usize, summary: Summary) -> Self {
        Self {
            users,
            bytes,
            summary,
        }
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        if !self.scenarios.is_empty() {
            scenario_table(&mut out, "scenario (1,000 users)", &self.scenarios);
            let _ = writeln!(out);
        }
        if !self.functions.is_empty() {
            table(
                &mut out,
                "| function | invocation | cold start (ms) | warm p50 (ms) | warm p99 (ms) | peak memory (MiB) |",
                "| --- | --- | ---: | ---: | ---: | ---: |",
                self.functions.iter().map(|f| {
                    let (p50, p99) = f.warm.map_or(("–".into(), "–".into()), |w| {
                        (format!("{:.2}", w.p50_ms), format!("{:.2}", w.p99_ms))
                    });
                    format!(
                        "| {} | {} | {:.1} | {p50} | {p99} | {:.1} |",
                        f.name, f.request, f.cold_ms, f.peak_mb
                    )
                }),
            );
            let _ = writeln!(out);
        }
        if let Some(base) = self.scaling.first() {
            table(
                &mut out,
                "| users | answer (KiB) | p50 (ms) | p99 (ms) | size × | p50 × | µs per KiB |",
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
                self.scaling.iter().map(|row| {
                    let kib = row.bytes as f64 / 1024.0;
                    format!(
                        "| {} | {kib:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} |",
                        row.users,
                        row.summary.p50_ms,
                        row.summary.p99_ms,
                        row.bytes as f64 / base.bytes as f64,
                        row.summary.p50_ms / base.summary.p50_ms,
                        row.summary.p50_ms * 1e3 / kib,
                    )
                }),
            );
            let _ = writeln!(out);
        }
        if !self.gateway.is_empty() {
            scenario_table(
                &mut out,
                "deployed shape vs merged (1,000 users)",
                &self.gateway,
            );
            if let Some(cold) = self.gateway_cold_first_ms {
                let _ = writeln!(
                    out,
                    "\nFirst request after `local --lambdas` starts (users cold): {cold:.1} ms (median of starts)."
                );
            }
            let _ = writeln!(out);
        }
        if !self.limits.is_empty() {
            table(
                &mut out,
                "| `--lambdas` under the template's limits (1,000 users) | requests/s | p50 (ms) | p99 (ms) | 503s |",
                "| --- | ---: | ---: | ---: | ---: |",
                self.limits.iter().map(|row| {
                    let s = row.summary;
                    format!(
                        "| {} | {:.0} | {:.2} | {:.2} | {} of {} |",
                        row.scenario, s.rps, s.p50_ms, s.p99_ms, row.refused, row.requests
                    )
                }),
            );
            if let Some(cold) = self.limits_cold_first_ms {
                let _ = writeln!(
                    out,
                    "\nFirst request after `local --lambdas` starts (users cold): {cold:.1} ms (median of starts). API account capped at the tier's MAX_USER_CONNECTIONS: {}.",
                    if self.limits_capped == Some(true) {
                        "yes"
                    } else {
                        "no"
                    }
                );
            }
            if let Some((p50, p99)) = self.limits_connect_ms {
                let _ = writeln!(
                    out,
                    "\nA connection opened and closed, as each invocation does (TCP, login, session setup, COM_QUIT): p50 {p50:.2} ms, p99 {p99:.2} ms."
                );
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(
            out,
            "Medians of {ROUNDS} rounds after a warm-up round; cold starts: median of 7 process starts."
        );
        out
    }
}

/// A table of scenarios: `first_column` names them; requests/s, p50 and p99 follow.
fn scenario_table(out: &mut String, first_column: &str, rows: &[ScenarioRow]) {
    table(
        out,
        &format!("| {first_column} | requests/s | p50 (ms) | p99 (ms) |"),
        "| --- | ---: | ---: | ---: |",
        rows.iter().map(ScenarioRow::markdown),
    );
}

/// A Markdown table: its header and alignment lines, then a line per row.
fn table(out: &mut String, header: &str, alignment: &str, rows: impl Iterator<Item = String>) {
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "{alignment}");
    for row in rows {
        let _ = writeln!(out, "{row}");
    }
}
