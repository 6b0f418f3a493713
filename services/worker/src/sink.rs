//! The event sink an agent writes to, written behind the agent.
//!
//! `emit` queues the event and returns; a flush task started by the first
//! queued event waits [`LINGER`] and writes everything queued by then in one
//! fenced statement, so an agent that emits several events in quick
//! succession costs one transaction, not one each. The attempt's ending
//! takes whatever is still queued ([`EventLog::close`]) and commits it in the
//! same statement as the terminal status, so a run is never seen finished
//! with steps missing from its timeline. A flush that finds the attempt
//! fenced out makes the next `emit` fail as a direct write would have. A
//! flush that finds the database down keeps its events queued and tries
//! again with backoff, so an outage delays the timeline but does not cost
//! the attempt (if it outlasts the lease, the attempt is fenced out later).

use agent_runner_agent::{EmitError, EventSink};
use agent_runner_domain::EventKind;
use agent_runner_store::Pool;
use agent_runner_store::attempt::{self, NewEvent};
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::mem;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// How long a flush waits for more events before writing: short enough
/// for a live timeline, long enough to gather a burst.
pub const LINGER: Duration = Duration::from_millis(10);

/// The queued events of one attempt of one run.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    run_id: Uuid,
    attempt: i32,
    linger: Duration,
    queue: Mutex<Queue>,
    /// Held while a batch is written, so batches (and the ending) commit in
    /// the order their events were emitted.
    writing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Queue {
    events: Vec<NewEvent>,
    flush_scheduled: bool,
    closed: bool,
    failure: Option<EmitError>,
}

impl EventLog {
    /// A log for `attempt` of `run_id`.
    pub fn new(pool: Pool, run_id: Uuid, attempt: i32) -> Self {
        Self::with_linger(pool, run_id, attempt, LINGER)
    }

    /// A log whose flushes wait `linger` for more events.
    pub fn with_linger(pool: Pool, run_id: Uuid, attempt: i32, linger: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                run_id,
                attempt,
                linger,
                queue: Mutex::new(Queue::default()),
                writing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Stops flushing and returns the events not yet written, in order, for
    /// the ending to commit with the terminal status. Waits for a flush in
    /// progress to finish first.
    pub async fn close(&self) -> Vec<NewEvent> {
        let _writing = self.inner.writing.lock().await;
        let mut queue = self.inner.lock();
        queue.closed = true;
        mem::take(&mut queue.events)
    }

    fn queue_event(&self, kind: EventKind, payload: Value) -> Result<(), EmitError> {
        let mut queue = self.inner.lock();
        if let Some(failure) = &queue.failure {
            return Err(failure.clone());
        }
        if queue.closed {
            return Err(EmitError::Fenced);
        }
        queue.events.push(NewEvent { kind, payload });
        if !queue.flush_scheduled {
            queue.flush_scheduled = true;
            let linger = self.inner.linger;
            tokio::spawn(flush(Arc::clone(&self.inner), linger));
        }
        Ok(())
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // A panic while holding this lock can only come from a bug in this
        // module; the queue itself stays consistent, so keep using it.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Longest wait between flushes while the database is down.
const UNAVAILABLE_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Writes what is queued after `wait`. A fenced attempt records why, for
/// the next `emit`; an unavailable database puts the batch back in front
/// (for a later flush or the ending) and tries again after a longer wait.
fn flush(inner: Arc<Inner>, wait: Duration) -> BoxFuture<'static, ()> {
    Box::pin(flush_after(inner, wait))
}

async fn flush_after(inner: Arc<Inner>, wait: Duration) {
    tokio::time::sleep(wait).await;
    let _writing = inner.writing.lock().await;
    let batch = {
        let mut queue = inner.lock();
        queue.flush_scheduled = false;
        if queue.closed {
            return;
        }
        mem::take(&mut queue.events)
    };
    if batch.is_empty() {
        return;
    }
    let written = attempt::append_events(&inner.pool, inner.run_id, inner.attempt, &batch).await;
    let mut queue = inner.lock();
    match written {
        Ok(true) => {}
        Ok(false) => {
            // Nothing of this attempt can be written any more.
            queue.events.clear();
            queue.failure = Some(EmitError::Fenced);
        }
        Err(err) => {
            let later = mem::replace(&mut queue.events, batch);
            queue.events.extend(later);
            if !err.is_unavailable() {
                queue.failure = Some(EmitError::Unavailable(err.to_string()));
            } else if !queue.closed && !queue.flush_scheduled {
                tracing::warn!(run.id = %inner.run_id, error = %err, "database unavailable; events stay queued");
                queue.flush_scheduled = true;
                let next = (wait * 2).clamp(Duration::from_millis(100), UNAVAILABLE_BACKOFF_MAX);
                tokio::spawn(flush(Arc::clone(&inner), next));
            }
        }
    }
}

impl EventSink for EventLog {
    fn emit(&self, kind: EventKind, payload: Value) -> BoxFuture<'_, Result<(), EmitError>> {
        let queued = self.queue_event(kind, payload);
        Box::pin(async move { queued })
    }
}
