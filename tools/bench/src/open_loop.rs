//! Open-loop arrivals: runs submitted at a fixed rate for a while, each on a
//! schedule of its own (a slow answer delays no later submission), the way
//! independent clients arrive. The closed-loop load of [`crate::load`]
//! instead submits as fast as its connections are answered.

use crate::api::Api;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use uuid::Uuid;

/// What was submitted.
#[derive(Debug, Default)]
pub struct Arrivals {
    /// Ids of the accepted runs.
    pub ids: Vec<Uuid>,
    /// Submissions that were not accepted.
    pub failures: u64,
    /// The first failure, for the error message.
    pub first_failure: Option<String>,
}

/// Submits runs of the simulated agent with `step_delay_ms` to `project_id`,
/// `per_s` a second for `duration`, and waits for every answer.
pub async fn submit(
    api: &Api,
    project_id: Uuid,
    step_delay_ms: u64,
    per_s: f64,
    duration: Duration,
) -> Arrivals {
    let every = Duration::from_secs_f64(1.0 / per_s.max(1e-3));
    let mut ticks = tokio::time::interval(every);
    // Late ticks are caught up at once, so the count over the window holds.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let outcome = Arc::new(Mutex::new(Arrivals::default()));
    let mut pending = JoinSet::new();
    let end = Instant::now() + duration;
    loop {
        let tick = ticks.tick().await;
        if tick >= end {
            break;
        }
        let (api, outcome) = (api.clone(), Arc::clone(&outcome));
        pending.spawn(async move {
            let answer = api.submit_run(project_id, step_delay_ms).await;
            if let Ok(mut outcome) = outcome.lock() {
                match answer {
                    Ok(id) => outcome.ids.push(id),
                    Err(err) => {
                        outcome.failures += 1;
                        outcome
                            .first_failure
                            .get_or_insert_with(|| format!("{err:#}"));
                    }
                }
            }
        });
    }
    while pending.join_next().await.is_some() {}
    outcome
        .lock()
        .map(|mut o| std::mem::take(&mut *o))
        .unwrap_or_default()
}
