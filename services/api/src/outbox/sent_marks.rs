//! Marks fast-path outbox rows sent, many per statement.
//!
//! A request that published its run's job hands the outbox row id here and
//! answers at once; one task writes the ids gathered meanwhile in a single
//! `UPDATE`. Nothing is at risk in the gap: a row not yet marked is younger
//! than the relay's grace period, and should the update be lost (database
//! down, api killed) the relay publishes the row again, which the worker's
//! guarded claim turns into a dropped duplicate.

use agent_runner_store::{Pool, outbox};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Most ids written by one statement.
const BATCH: usize = 512;

/// Hands outbox row ids to the marking task.
#[derive(Clone)]
pub struct SentMarks {
    tx: mpsc::UnboundedSender<i64>,
}

impl SentMarks {
    /// Starts the marking task; it writes what it holds and stops when
    /// `shutdown` fires.
    pub fn start(pool: Pool, shutdown: CancellationToken) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(pool, rx, shutdown));
        (Self { tx }, task)
    }

    /// Records that row `id` was published.
    pub fn mark(&self, id: i64) {
        if self.tx.send(id).is_err() {
            tracing::debug!(
                outbox.id = id,
                "api stopping; the relay will see to the row"
            );
        }
    }
}

async fn run(pool: Pool, mut rx: mpsc::UnboundedReceiver<i64>, shutdown: CancellationToken) {
    let mut ids = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = rx.recv_many(&mut ids, BATCH) => {
                if received == 0 {
                    return;
                }
                write(&pool, &mut ids).await;
            }
            () = shutdown.cancelled() => {
                rx.close();
                while rx.recv_many(&mut ids, BATCH).await > 0 {
                    write(&pool, &mut ids).await;
                }
                return;
            }
        }
    }
}

async fn write(pool: &Pool, ids: &mut Vec<i64>) {
    if let Err(err) = outbox::mark_sent_many(pool, ids).await {
        // The relay will publish these rows again; the workers drop the duplicates.
        tracing::warn!(rows = ids.len(), error = %err, "could not mark outbox rows sent");
    }
    ids.clear();
}
