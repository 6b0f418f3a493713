//! One measured window of the long-runs scenario: PostgreSQL's counters and
//! the `/proc` CPU sampler around a stretch of wall time, with short runs
//! arriving at a fixed rate during it or not.

use crate::api::Api;
use crate::cpu::Sampler;
use crate::environment::BenchEnv;
use crate::open_loop;
use crate::pg_rates::{PgRates, Snapshot};
use crate::report::{Cpu, WindowFigures};
use crate::stats::round;
use anyhow::bail;
use std::time::Duration;
use uuid::Uuid;

/// Short runs to submit during a window.
#[derive(Debug, Clone, Copy)]
pub struct ShortRuns<'a> {
    /// The api client they are submitted with.
    pub api: &'a Api,
    /// The project they belong to.
    pub project_id: Uuid,
    /// Submissions per second.
    pub per_s: f64,
}

/// Measures `length` of wall time, submitting `short` runs meanwhile if
/// given; returns the figures and the ids of the short runs.
pub async fn measure(
    env: &BenchEnv,
    length: Duration,
    short: Option<ShortRuns<'_>>,
) -> anyhow::Result<(WindowFigures, Vec<Uuid>)> {
    let before = Snapshot::read(&env.db).await?;
    let sampler = Sampler::start(env.roles());
    let ids = match short {
        Some(s) => {
            let arrivals = open_loop::submit(s.api, s.project_id, 0, s.per_s, length).await;
            if arrivals.failures > 0 {
                bail!(
                    "{} short runs were not accepted; first: {}",
                    arrivals.failures,
                    arrivals
                        .first_failure
                        .as_deref()
                        .unwrap_or("(none recorded)")
                );
            }
            arrivals.ids
        }
        None => {
            tokio::time::sleep(length).await;
            Vec::new()
        }
    };
    let cpu = sampler.finish().await;
    let after = Snapshot::read(&env.db).await?;
    let postgres = cpu.cores_used.get("postgres").copied().unwrap_or(0.0);
    let figures = WindowFigures {
        seconds: round(cpu.wall_s, 1),
        short_runs: ids.len() as u64,
        pg: PgRates::between(&before, &after, postgres),
        cpu: Cpu::from(&cpu),
    };
    Ok((figures, ids))
}
