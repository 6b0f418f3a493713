//! [`BranchSnapshot`]: the commits a run added on its branch, as a git
//! bundle, so that any worker can continue or review the run — not only the
//! one whose disk holds the branch.

use std::fmt;

/// A run's branch as its last successful attempt left it: the bundle holds
/// the commits `start_commit..head_commit` of `branch` (the start commit is
/// the bundle's prerequisite, found in the project's repository).
#[derive(Clone, PartialEq, Eq)]
pub struct BranchSnapshot {
    /// The run's branch, e.g. `agent/0123abcd-fix-the-readme`.
    pub branch: String,
    /// The commit the run's diff starts from.
    pub start_commit: String,
    /// The branch's tip after the attempt.
    pub head_commit: String,
    /// `git bundle` of `branch ^start_commit`.
    pub bundle: Vec<u8>,
}

impl fmt::Debug for BranchSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BranchSnapshot")
            .field("branch", &self.branch)
            .field("start_commit", &self.start_commit)
            .field("head_commit", &self.head_commit)
            .field("bundle_bytes", &self.bundle.len())
            .finish()
    }
}
