//! The load: N submissions through C connections (a task per connection,
//! each pulling the next number from a shared counter), while one more
//! connection reads random already-submitted runs back. Measures the submit
//! rate, the read latency and the client's own CPU time, so that the client
//! can be shown not to be the bottleneck.

use crate::api::Api;
use crate::cpu::{self, MachineTimes};
use crate::stats::Summary;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What to submit: `runs` runs of the simulated agent to one project.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    /// The project the runs belong to.
    pub project_id: Uuid,
    /// How many.
    pub runs: u64,
    /// The simulated agent's pause after each step.
    pub step_delay_ms: u64,
}

impl Batch {
    /// lifecycle-5 runs: no step delay.
    pub fn lifecycle_5(project_id: Uuid, runs: u64) -> Self {
        Self {
            project_id,
            runs,
            step_delay_ms: 0,
        }
    }
}

/// What the load produced.
#[derive(Debug)]
pub struct LoadOutcome {
    /// Ids of the accepted runs, in acceptance order.
    pub ids: Vec<Uuid>,
    /// Submissions that were not accepted.
    pub failures: u64,
    /// The first failure, for the error message.
    pub first_failure: Option<String>,
    /// From the first POST to the last answer.
    pub wall: Duration,
    /// Latency of every accepted POST, ms.
    pub submit_ms: Summary,
    /// Latency of the reads made during the load, ms.
    pub read_ms: Summary,
    /// Reads that failed.
    pub read_failures: u64,
    /// CPU seconds this process used during the load.
    pub client_cpu_s: f64,
    /// Share of the machine's CPU capacity the client used (0..1).
    pub client_cpu_share: f64,
    /// Share of the machine's CPU capacity that was busy (0..1).
    pub machine_busy: f64,
}

impl LoadOutcome {
    /// Accepted submissions per second.
    pub fn submit_rps(&self) -> f64 {
        self.ids.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// State the connection tasks share.
#[derive(Debug, Default)]
struct Shared {
    next: AtomicU64,
    ids: Mutex<Vec<Uuid>>,
    failures: AtomicU64,
    first_failure: Mutex<Option<String>>,
    done: AtomicBool,
}

impl Shared {
    fn accepted(&self) -> Vec<Uuid> {
        self.ids.lock().map(|ids| ids.clone()).unwrap_or_default()
    }

    fn random_id(&self) -> Option<Uuid> {
        let ids = self.ids.lock().ok()?;
        if ids.is_empty() {
            return None;
        }
        ids.get(rand::random_range(0..ids.len())).copied()
    }

    fn fail(&self, err: &anyhow::Error) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_failure.lock() {
            first.get_or_insert_with(|| format!("{err:#}"));
        }
    }
}

/// Submits `batch` through `connections` connections (and, with
/// `read_while`, reads random runs back on one more) and returns the tally.
pub async fn submit(
    base: &str,
    token: &str,
    batch: Batch,
    connections: u32,
    read_while: bool,
) -> anyhow::Result<LoadOutcome> {
    let runs = batch.runs;
    let shared = Arc::new(Shared::default());
    let clients: Vec<Api> = (0..connections)
        .map(|_| Api::new(base, token))
        .collect::<Result<_, _>>()?;
    let reader = read_while.then(|| Api::new(base, token)).transpose()?;
    let ticks = cpu::ticks_per_s();
    let cpu_before = cpu::self_cpu_s(ticks);
    let machine_before = MachineTimes::now();
    let start = Instant::now();

    let reads = reader.map(|api| tokio::spawn(read_loop(api, Arc::clone(&shared))));
    let submitters: Vec<_> = clients
        .into_iter()
        .map(|api| tokio::spawn(submit_loop(api, Arc::clone(&shared), batch)))
        .collect();
    let mut submit_samples = Vec::with_capacity(usize::try_from(runs).unwrap_or(0));
    for handle in submitters {
        submit_samples.extend(handle.await?);
    }
    let wall = start.elapsed();
    shared.done.store(true, Ordering::Relaxed);
    let (read_samples, read_failures) = match reads {
        Some(handle) => handle.await?,
        None => (Vec::new(), 0),
    };

    let client_cpu_s = cpu::self_cpu_s(ticks) - cpu_before;
    let machine_after = MachineTimes::now();
    let capacity_s = wall.as_secs_f64() * cpu::cores() as f64;
    let total = machine_after
        .total
        .saturating_sub(machine_before.total)
        .max(1) as f64;
    let idle = (machine_after.idle + machine_after.iowait)
        .saturating_sub(machine_before.idle + machine_before.iowait) as f64;
    let first_failure = shared.first_failure.lock().ok().and_then(|f| f.clone());
    Ok(LoadOutcome {
        ids: shared.accepted(),
        failures: shared.failures.load(Ordering::Relaxed),
        first_failure,
        wall,
        submit_ms: Summary::of(&submit_samples),
        read_ms: Summary::of(&read_samples),
        read_failures,
        client_cpu_s,
        client_cpu_share: (client_cpu_s / capacity_s.max(1e-9)).clamp(0.0, 1.0),
        machine_busy: ((total - idle) / total).clamp(0.0, 1.0),
    })
}

/// One connection: submit until the counter passes `batch.runs`. Returns
/// latencies (ms).
async fn submit_loop(api: Api, shared: Arc<Shared>, batch: Batch) -> Vec<f64> {
    let mut samples = Vec::new();
    while shared.next.fetch_add(1, Ordering::Relaxed) < batch.runs {
        let sent = Instant::now();
        match api.submit_run(batch.project_id, batch.step_delay_ms).await {
            Ok(id) => {
                samples.push(sent.elapsed().as_secs_f64() * 1000.0);
                if let Ok(mut ids) = shared.ids.lock() {
                    ids.push(id);
                }
            }
            Err(err) => shared.fail(&err),
        }
    }
    samples
}

/// The reading connection: GET a random accepted run, again and again, until
/// the submitters are done. Returns latencies (ms) and the failure count.
async fn read_loop(api: Api, shared: Arc<Shared>) -> (Vec<f64>, u64) {
    let mut samples = Vec::new();
    let mut failures = 0;
    while !shared.done.load(Ordering::Relaxed) {
        let Some(id) = shared.random_id() else {
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        };
        let sent = Instant::now();
        match api.show_run(id).await {
            Ok(()) => samples.push(sent.elapsed().as_secs_f64() * 1000.0),
            Err(err) => {
                failures += 1;
                if failures == 1 {
                    eprintln!("bench: a read failed: {err:#}");
                }
            }
        }
    }
    (samples, failures)
}
