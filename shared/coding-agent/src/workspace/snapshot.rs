//! A run's branch beyond one worker's disk: after a successful attempt the
//! harness bundles the commits `start..head` of the run's branch
//! ([`capture`]); the worker stores the bundle in Postgres with the
//! attempt's ending. Whichever worker continues the run (a follow-up) or
//! reviews it (approve, exec) puts the branch back in its own mirror from
//! that bundle ([`ensure_branch`]), reading it only when its mirror lacks
//! the recorded head.
//!
//! The stored head is authoritative: a mirror whose copy of the branch
//! differs (an older attempt ran here, or an attempt whose ending was never
//! recorded) is moved to it.

use super::WorkspaceError;
use super::git::git;
use super::mirror::resolve_commit;
use agent_runner_agent::StoredBranch;
use agent_runner_domain::BranchSnapshot;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// What an earlier attempt recorded about the run's branch.
#[derive(Debug, Clone, Default)]
pub struct RunBranch {
    /// The branch, e.g. `agent/0123abcd-fix-the-readme`.
    pub branch: Option<String>,
    /// The commit the run's diff starts from.
    pub start_commit: Option<String>,
    /// The branch's tip after the last successful attempt.
    pub head_commit: Option<String>,
    /// The stored bundle of `start..head`, read when needed.
    pub snapshot: StoredBranch,
    /// Whether the last attempt pushed the branch to the project's
    /// repository (`result.push.pushed`).
    pub pushed: bool,
}

impl RunBranch {
    /// Reads `branch`, `start_commit`, `head_commit` and `push.pushed` from a
    /// run's result (`runs.result`), with where the run's snapshot is stored.
    pub fn from_result(result: Option<&serde_json::Value>, snapshot: StoredBranch) -> Self {
        let text = |key: &str| {
            result
                .and_then(|r| r.get(key))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        Self {
            branch: text("branch"),
            start_commit: text("start_commit"),
            head_commit: text("head_commit"),
            snapshot,
            pushed: result
                .and_then(|r| r.pointer("/push/pushed"))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        }
    }
}

/// How the branch got into this mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BranchSource {
    /// A new run: the branch is made from the start commit.
    New,
    /// The mirror already had it at the recorded head.
    Local,
    /// Put back from the stored snapshot.
    Snapshot,
    /// The run had no commits of its own: made again at the start commit.
    Recreated,
}

impl BranchSource {
    /// `new`, `local`, `snapshot` or `recreated`, for the WORKSPACE_READY event.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BranchSource::New => "new",
            BranchSource::Local => "local",
            BranchSource::Snapshot => "snapshot",
            BranchSource::Recreated => "recreated",
        }
    }
}

/// What [`capture`] made of the branch.
#[derive(Debug)]
pub(crate) enum Captured {
    /// The bundle, within the cap.
    Stored(BranchSnapshot),
    /// The branch has no commits past the start: nothing to carry.
    Unchanged,
    /// The bundle is larger than the cap and is not stored.
    TooLarge {
        /// Its size.
        bytes: usize,
    },
}

/// Bundles `branch ^start` from the mirror; `cap` bounds the bundle's size.
/// Call with the project lock held or on a branch only this run writes.
pub(crate) async fn capture(
    root: &Path,
    mirror: &Path,
    branch: &str,
    start: &str,
    head: &str,
    cap: usize,
) -> Result<Captured, WorkspaceError> {
    if head == start {
        return Ok(Captured::Unchanged);
    }
    let file = TempFile::new(root)?;
    let target = file.path.to_string_lossy().into_owned();
    git(
        mirror,
        &[
            "bundle",
            "create",
            "--quiet",
            &target,
            &format!("refs/heads/{branch}"),
            &format!("^{start}"),
        ],
    )
    .await?;
    let bytes = std::fs::read(&file.path)
        .map_err(|e| WorkspaceError::io(format!("could not read {target}"), e))?;
    if bytes.len() > cap {
        return Ok(Captured::TooLarge { bytes: bytes.len() });
    }
    Ok(Captured::Stored(BranchSnapshot {
        branch: branch.to_owned(),
        start_commit: start.to_owned(),
        head_commit: head.to_owned(),
        bundle: bytes,
    }))
}

/// Makes `refs/heads/<branch>` of the mirror point at the run's recorded
/// head, from the snapshot when the mirror lacks it. A run that recorded no
/// head yet (a new branch) is left alone. Call with the project lock held.
pub(crate) async fn ensure_branch(
    root: &Path,
    mirror: &Path,
    branch: &str,
    recorded: &RunBranch,
) -> Result<BranchSource, WorkspaceError> {
    let branch_ref = format!("refs/heads/{branch}");
    let local = resolve_commit(mirror, &branch_ref).await?;
    let Some(head) = recorded.head_commit.as_deref() else {
        return Ok(if local.is_some() {
            BranchSource::Local
        } else {
            BranchSource::New
        });
    };
    if local.as_deref() == Some(head) {
        return Ok(BranchSource::Local);
    }
    let start = recorded.start_commit.as_deref();
    if start == Some(head) && resolve_commit(mirror, head).await?.is_some() {
        // No commits of its own: nothing was stored, nothing to read.
        git(mirror, &["update-ref", &branch_ref, head]).await?;
        return Ok(BranchSource::Recreated);
    }
    let snapshot = recorded
        .snapshot
        .load()
        .await
        .map_err(WorkspaceError::Unavailable)?
        .filter(|s| s.branch == branch && s.head_commit == head);
    if let Some(snapshot) = snapshot {
        if resolve_commit(mirror, head).await?.is_none() {
            let file = TempFile::new(root)?;
            std::fs::write(&file.path, &snapshot.bundle).map_err(|e| {
                WorkspaceError::io(format!("could not write {}", file.path.display()), e)
            })?;
            let source = file.path.to_string_lossy().into_owned();
            git(mirror, &["bundle", "unbundle", &source])
                .await
                .map_err(|e| {
                    WorkspaceError::Invalid(format!(
                        "the stored snapshot of `{branch}` does not apply to this mirror: {e}"
                    ))
                })?;
        }
        git(mirror, &["update-ref", &branch_ref, head]).await?;
        return Ok(BranchSource::Snapshot);
    }
    if local.is_some() {
        // Whatever this mirror has is the best there is.
        return Ok(BranchSource::Local);
    }
    Err(WorkspaceError::Invalid(format!(
        "the run's branch `{branch}` (at {head}) is on no disk of this worker and no snapshot \
         of it is stored; continue it on the worker that ran it"
    )))
}

/// A file under `<root>/tmp`, removed when dropped.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn new(root: &Path) -> Result<Self, WorkspaceError> {
        let dir = root.join("tmp");
        std::fs::create_dir_all(&dir)
            .map_err(|e| WorkspaceError::io(format!("could not create {}", dir.display()), e))?;
        Ok(Self {
            path: dir.join(format!("{}.bundle", Uuid::new_v4())),
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
