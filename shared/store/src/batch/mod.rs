//! Natural batching for the hot-path writes: callers hand in one item each
//! and wait for its answer, while a few statements at a time write what has
//! gathered meanwhile.
//!
//! The window adapts by itself: an item that finds a statement slot free is
//! written at once, alone, in its caller's task; only while every slot is busy
//! do items queue, and a batch leaves with whatever is queued as soon as a
//! slot frees. So a lone item is never held back waiting for company, and
//! items only gather while PostgreSQL is the bound. Each item's answer is its own:
//! a batch function returns one answer per item, in order, and is expected to
//! isolate a bad item (run the items one by one when the batch statement
//! fails) rather than fail the rest.
//!
//! The batch writes of the hot path, each answering every item exactly as
//! its one-at-a-time counterpart would:
//! - [`submits`]: runs submitted together (the api's group commit).
//! - [`claims`]: deliveries claimed together (the worker's fast-path claim).
//! - [`endings`]: attempts ending together (the worker's completer).
//! - [`token_checks`]: the api's token checks, one read for many requests.

pub mod claims;
pub mod endings;
pub mod submits;
pub mod token_checks;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// The batcher has stopped (its runtime is shutting down): do the work
/// without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

type Job<I, O> = (I, oneshot::Sender<O>);
type Write<I, O> = dyn Fn(Vec<I>) -> Pin<Box<dyn Future<Output = Vec<O>> + Send>> + Send + Sync;

/// Hands items to the batching task; cheap to clone.
pub struct Batcher<I, O> {
    tx: mpsc::UnboundedSender<Job<I, O>>,
    slots: Arc<Semaphore>,
    write: Arc<Write<I, O>>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            slots: self.slots.clone(),
            write: self.write.clone(),
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the batching task: at most `slots` batches in flight at once,
    /// each of at most `max_batch` items, written by `write`, which returns
    /// one answer per item in the order given. The task ends when every
    /// handle is dropped.
    pub fn start<F, Fut>(slots: usize, max_batch: usize, write: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<O>> + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let slots = Arc::new(Semaphore::new(slots.max(1)));
        let write: Arc<Write<I, O>> = Arc::new(move |items| Box::pin(write(items)));
        tokio::spawn(gather(rx, slots.clone(), max_batch.max(1), write.clone()));
        Self { tx, slots, write }
    }

    /// Writes `item` in the next batch and waits for its answer. With a slot
    /// free, the item is written at once in the caller's task (alone: nothing
    /// waits while a slot is free), so an idle system pays no hand-off.
    pub async fn call(&self, item: I) -> Result<O, Stopped> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            let out = (self.write)(vec![item]).await.pop();
            drop(slot);
            return out.ok_or(Stopped);
        }
        let (tx, rx) = oneshot::channel();
        self.tx.send((item, tx)).map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }
}

async fn gather<I, O>(
    mut rx: mpsc::UnboundedReceiver<Job<I, O>>,
    slots: Arc<Semaphore>,
    max_batch: usize,
    write: Arc<Write<I, O>>,
) where
    I: Send + 'static,
    O: Send + 'static,
{
    let mut jobs = Vec::with_capacity(max_batch);
    loop {
        if rx.recv_many(&mut jobs, max_batch).await == 0 {
            return;
        }
        // Items only queue while every slot is busy: wait for one, and take
        // what arrived meanwhile too.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (items, answers): (Vec<I>, Vec<oneshot::Sender<O>>) = jobs.drain(..).unzip();
        let written = write(items);
        tokio::spawn(async move {
            let outs = written.await;
            debug_assert_eq!(outs.len(), answers.len(), "one answer per item");
            for (out, answer) in outs.into_iter().zip(answers) {
                // The caller may have gone (its request was dropped).
                let _ = answer.send(out);
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[tokio::test]
    async fn a_lone_item_goes_at_once_and_busy_slots_gather_the_rest() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Batcher::start(1, 100, move |items: Vec<u32>| {
            seen.lock().expect("lock").push(items.len());
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                items.into_iter().map(|i| i * 2).collect()
            }
        });
        assert_eq!(batcher.call(1).await, Ok(2));
        let calls: Vec<_> = (0..10)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { b.call(i).await })
            })
            .collect();
        let mut outs = Vec::new();
        for call in calls {
            outs.push(call.await.expect("task").expect("answer"));
        }
        assert_eq!(outs, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        let sizes = sizes.lock().expect("lock").clone();
        assert_eq!(sizes[0], 1, "the lone item went alone");
        assert!(
            sizes.len() < 11,
            "items that waited for the slot went together: {sizes:?}"
        );
        assert_eq!(sizes.iter().sum::<usize>(), 11);
    }

    #[tokio::test]
    async fn a_batch_never_exceeds_its_size() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Batcher::start(1, 3, move |items: Vec<u32>| {
            seen.lock().expect("lock").push(items.len());
            async move { items }
        });
        let calls: Vec<_> = (0..10)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { b.call(i).await })
            })
            .collect();
        for call in calls {
            call.await.expect("task").expect("answer");
        }
        assert!(sizes.lock().expect("lock").iter().all(|&n| n <= 3));
    }
}
