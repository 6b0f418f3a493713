//! How far the runs that event streams follow have got, polled for all of
//! them at once.
//!
//! One task per api process reads `last_seq` and the status of every run
//! some open stream follows, in one query per tick, and tells each run's
//! subscribers when it moved. A stream reads events only when there are new
//! ones, so a thousand open streams cost one query per tick, not two
//! thousand. The task does nothing while no stream is open.

use agent_runner_domain::RunStatus;
use agent_runner_store::{Pool, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A run's progress as last polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The `seq` of its latest event.
    pub last_seq: i32,
    /// Finished, or awaiting approval (or deleted): no event will follow
    /// `last_seq` until someone acts on it.
    pub settled: bool,
}

/// Hands out subscriptions to runs' progress.
#[derive(Clone)]
pub struct RunWatch {
    inner: Arc<Inner>,
}

struct Inner {
    runs: Mutex<HashMap<Uuid, Watched>>,
    /// Wakes the poller at once for a run not polled yet.
    new_run: Notify,
}

struct Watched {
    progress: watch::Sender<Option<Progress>>,
    subscribers: usize,
}

/// A stream's view of one run's progress; unsubscribes when dropped.
pub struct Subscription {
    run_id: Uuid,
    inner: Arc<Inner>,
    /// `None` until the run was first polled.
    pub progress: watch::Receiver<Option<Progress>>,
}

impl RunWatch {
    /// Starts the poller, which reads every `every` and stops when
    /// `shutdown` fires.
    pub fn start(
        pool: Pool,
        every: Duration,
        shutdown: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let inner = Arc::new(Inner {
            runs: Mutex::new(HashMap::new()),
            new_run: Notify::new(),
        });
        let task = tokio::spawn(poll(pool, Arc::clone(&inner), every, shutdown));
        (Self { inner }, task)
    }

    /// Follows `run_id` until the subscription is dropped.
    pub fn subscribe(&self, run_id: Uuid) -> Subscription {
        let mut runs = self.inner.lock();
        let watched = runs.entry(run_id).or_insert_with(|| {
            self.inner.new_run.notify_one();
            Watched {
                progress: watch::Sender::new(None),
                subscribers: 0,
            }
        });
        watched.subscribers += 1;
        Subscription {
            run_id,
            inner: Arc::clone(&self.inner),
            progress: watched.progress.subscribe(),
        }
    }

    /// How many runs are followed now.
    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    /// True when no stream is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Watched>> {
        // Every critical section leaves the map consistent.
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut runs = self.inner.lock();
        if let Some(watched) = runs.get_mut(&self.run_id) {
            watched.subscribers -= 1;
            if watched.subscribers == 0 {
                runs.remove(&self.run_id);
            }
        }
    }
}

async fn poll(pool: Pool, inner: Arc<Inner>, every: Duration, shutdown: CancellationToken) {
    loop {
        let ids: Vec<Uuid> = inner.lock().keys().copied().collect();
        if !ids.is_empty() {
            match read(&pool, &ids).await {
                Ok(progress) => publish(&inner, &ids, &progress),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot poll the runs event streams follow")
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
            () = inner.new_run.notified() => {}
        }
    }
}

async fn read(pool: &Pool, ids: &[Uuid]) -> Result<HashMap<Uuid, Progress>, StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached("SELECT id, last_seq, status FROM runs WHERE id = ANY($1)")
        .await?;
    let rows = client.query(&statement, &[&ids]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let status: String = row.get(2);
            let settled = status
                .parse::<RunStatus>()
                .map(|s| s.is_terminal() || s == RunStatus::AwaitingApproval)
                .unwrap_or(true);
            (
                row.get(0),
                Progress {
                    last_seq: row.get(1),
                    settled,
                },
            )
        })
        .collect())
}

/// Tells the subscribers of each polled run where it is; a run that is gone
/// is settled.
fn publish(inner: &Inner, ids: &[Uuid], progress: &HashMap<Uuid, Progress>) {
    let runs = inner.lock();
    for id in ids {
        let Some(watched) = runs.get(id) else {
            continue;
        };
        let now = progress.get(id).copied().unwrap_or(Progress {
            last_seq: 0,
            settled: true,
        });
        watched.progress.send_if_modified(|slot| {
            let changed = *slot != Some(now);
            *slot = Some(now);
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_run_is_followed_while_any_of_its_streams_is_open() {
        // Nothing listens there: the poller's reads fail and change nothing.
        let pool = agent_runner_store::pool::connect("postgres://nobody@127.0.0.1:1/none", 1)
            .expect("pool");
        let shutdown = CancellationToken::new();
        let (watch, task) = RunWatch::start(pool, Duration::from_millis(10), shutdown.clone());
        let (run, other) = (Uuid::now_v7(), Uuid::now_v7());
        let first = watch.subscribe(run);
        let second = watch.subscribe(run);
        let third = watch.subscribe(other);
        assert_eq!(watch.len(), 2);
        drop(first);
        assert_eq!(watch.len(), 2, "the second stream still follows the run");
        drop(second);
        assert_eq!(watch.len(), 1);
        drop(third);
        assert!(watch.is_empty());
        shutdown.cancel();
        task.await.expect("poller stops");
    }

    #[test]
    fn a_run_that_is_gone_settles_its_streams() {
        let inner = Inner {
            runs: Mutex::new(HashMap::new()),
            new_run: Notify::new(),
        };
        let (present, gone) = (Uuid::now_v7(), Uuid::now_v7());
        let mut receivers = Vec::new();
        for id in [present, gone] {
            let sender = watch::Sender::new(None);
            receivers.push(sender.subscribe());
            inner.lock().insert(
                id,
                Watched {
                    progress: sender,
                    subscribers: 1,
                },
            );
        }
        let polled = Progress {
            last_seq: 4,
            settled: false,
        };
        publish(
            &inner,
            &[present, gone],
            &HashMap::from([(present, polled)]),
        );
        assert_eq!(*receivers[0].borrow(), Some(polled));
        assert_eq!(
            *receivers[1].borrow(),
            Some(Progress {
                last_seq: 0,
                settled: true
            })
        );
    }
}
