//! What holding runs costs in place rather than per second: each worker's
//! resident memory, open file descriptors and runs RUNNING, the sessions on
//! the bench database, and RabbitMQ's memory and work-queue counts. Reads
//! `/proc`, PostgreSQL and the management api; changes nothing.

use crate::environment::BenchEnv;
use crate::report::Footprint;
use anyhow::Context;
use std::collections::HashMap;

/// Reads the footprint now.
pub async fn read(env: &BenchEnv) -> anyhow::Result<Footprint> {
    let (_, worker_rss_mb) = env.rss_mb();
    let worker_fds = env.fleet.workers.iter().map(|w| open_fds(w.pid)).collect();
    let running: HashMap<String, i64> = env
        .db
        .query(
            "SELECT worker_id, count(*) FROM runs WHERE status = 'RUNNING' GROUP BY worker_id",
            &[],
        )
        .await
        .context("cannot count the runs held per worker")?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let running_per_worker = (0..env.fleet.workers.len())
        .map(|i| {
            let held = running.get(&env.launcher.worker_id(i)).copied();
            u64::try_from(held.unwrap_or(0)).unwrap_or(0)
        })
        .collect();
    let sessions = crate::pg_work::other_sessions(&env.db).await?;
    let rabbitmq = env
        .mgmt()
        .figures(&format!("{}.work", env.name))
        .await
        .context("cannot read RabbitMQ's figures")?;
    Ok(Footprint {
        worker_rss_mb: worker_rss_mb
            .iter()
            .map(|m| crate::stats::round(*m, 1))
            .collect(),
        worker_fds,
        running_per_worker,
        pg_sessions: u64::try_from(sessions).unwrap_or(0),
        rabbitmq,
    })
}

/// Entries of `/proc/<pid>/fd` (0 when it cannot be read).
fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count() as u64)
}
