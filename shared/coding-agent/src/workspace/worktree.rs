//! A run's git worktree (`<root>/runs/<run-id>`) on its own branch.
//!
//! A new run gets a new branch from the start commit. A retry or a follow-up
//! finds the branch (and maybe the worktree) already there and continues on
//! it: an existing worktree is reset to the branch's last commit, so a new
//! attempt never inherits half-done edits of a failed one.

use super::WorkspaceError;
use super::git::{git, git_output};
use super::mirror::resolve_commit;
use std::path::Path;

/// How the worktree came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attached {
    /// New branch, new worktree.
    Created,
    /// The branch existed; a new worktree was made for it.
    Reattached,
    /// The worktree existed on the branch and was reset.
    Reused,
}

impl Attached {
    /// `created`, `reattached` or `reused`, for the WORKSPACE_READY event.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Attached::Created => "created",
            Attached::Reattached => "reattached",
            Attached::Reused => "reused",
        }
    }
}

/// Makes `path` a worktree of `mirror` on `branch`, creating the branch at
/// `start` if it does not exist. Call with the project lock held.
pub(crate) async fn attach(
    mirror: &Path,
    path: &Path,
    branch: &str,
    start: &str,
) -> Result<Attached, WorkspaceError> {
    if path.exists() {
        if on_branch(path, branch).await? {
            git(path, &["reset", "--hard", "--quiet"]).await?;
            git(path, &["clean", "-fd", "--quiet"]).await?;
            return Ok(Attached::Reused);
        }
        remove(mirror, path).await?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| WorkspaceError::io(format!("could not create {}", parent.display()), e))?;
    }
    // A worktree whose directory vanished still holds its branch until pruned.
    git(mirror, &["worktree", "prune"]).await?;
    let target = path.to_string_lossy();
    if resolve_commit(mirror, &format!("refs/heads/{branch}"))
        .await?
        .is_some()
    {
        git(mirror, &["worktree", "add", "--quiet", &target, branch]).await?;
        Ok(Attached::Reattached)
    } else {
        git(
            mirror,
            &["worktree", "add", "--quiet", "-b", branch, &target, start],
        )
        .await?;
        Ok(Attached::Created)
    }
}

/// Whether `path` is a worktree with `branch` checked out.
async fn on_branch(path: &Path, branch: &str) -> Result<bool, WorkspaceError> {
    // Without its own `.git` file, `git -C` would find an enclosing repository.
    if !path.join(".git").is_file() {
        return Ok(false);
    }
    let out = git_output(path, &["symbolic-ref", "--quiet", "HEAD"]).await?;
    Ok(out.success && out.stdout.trim() == format!("refs/heads/{branch}"))
}

/// Removes the worktree at `path` (its branch stays in the mirror). Missing
/// worktrees are fine.
pub(crate) async fn remove(mirror: &Path, path: &Path) -> Result<(), WorkspaceError> {
    if path.exists() {
        let target = path.to_string_lossy();
        let removed = git_output(
            mirror,
            &["worktree", "remove", "--force", "--force", &target],
        )
        .await?;
        if !removed.success && path.exists() {
            std::fs::remove_dir_all(path).map_err(|e| {
                WorkspaceError::io(format!("could not remove {}", path.display()), e)
            })?;
        }
    }
    if mirror.exists() {
        git(mirror, &["worktree", "prune"]).await?;
    }
    Ok(())
}
