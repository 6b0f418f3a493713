//! The run's stored branch snapshot, read only when an agent needs it: a
//! worker whose own disk already holds the branch at the recorded head
//! never fetches the bundle.

use agent_runner_domain::BranchSnapshot;
use futures_util::future::BoxFuture;
use std::fmt;
use std::sync::Arc;

/// What reading the snapshot gives: the snapshot, if one is stored, or why
/// it could not be read.
pub type SnapshotLoad = BoxFuture<'static, Result<Option<BranchSnapshot>, String>>;

type Loader = Arc<dyn Fn() -> SnapshotLoad + Send + Sync>;

/// Where the run's branch snapshot can be read from, if anywhere.
#[derive(Clone, Default)]
pub struct StoredBranch {
    load: Option<Loader>,
}

impl StoredBranch {
    /// No snapshot (a new run, or one whose attempts stored none).
    pub fn none() -> Self {
        Self::default()
    }

    /// A snapshot already in memory.
    pub fn known(snapshot: Option<BranchSnapshot>) -> Self {
        Self::lazy(move || {
            let snapshot = snapshot.clone();
            Box::pin(async move { Ok(snapshot) })
        })
    }

    /// A snapshot read by `load` when [`StoredBranch::load`] is called.
    pub fn lazy(load: impl Fn() -> SnapshotLoad + Send + Sync + 'static) -> Self {
        Self {
            load: Some(Arc::new(load)),
        }
    }

    /// Reads the snapshot (each call reads again).
    pub async fn load(&self) -> Result<Option<BranchSnapshot>, String> {
        match &self.load {
            Some(load) => load().await,
            None => Ok(None),
        }
    }
}

impl fmt::Debug for StoredBranch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = if self.load.is_some() {
            "stored"
        } else {
            "none"
        };
        f.debug_tuple("StoredBranch").field(&source).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_is_read_before_load_and_each_load_reads() {
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&reads);
        let stored = StoredBranch::lazy(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async { Err("store down".to_owned()) })
        });
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(stored.load().await, Err("store down".to_owned()));
        assert_eq!(stored.clone().load().await, Err("store down".to_owned()));
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(StoredBranch::none().load().await, Ok(None));
    }
}
