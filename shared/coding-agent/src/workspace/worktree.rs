//! A run's git worktree (`<root>/runs/<run-id>`) on its own branch.
//!
//! A new run gets a new branch from the start commit. A retry or a follow-up
//! finds the branch (and maybe the worktree) already there and continues on
//! it: an existing worktree is reset to the branch's last commit, so a new
//! attempt never inherits half-done edits of a failed one.
//!
//! The harness's git reaches a worktree through [`dirs`] — its directory,
//! its administrative directory in the mirror, the mirror — never through
//! the `.git` file the agent could rewrite.

use super::WorkspaceError;
use super::git::{WorktreeDirs, git, git_in, git_output, git_output_in};
use super::mirror::resolve_commit;
use super::repair;
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
    let dirs = dirs(mirror, path);
    if path.exists() {
        if on_branch(&dirs, branch).await? {
            git_in(&dirs, &["reset", "--hard", "--quiet"]).await?;
            git_in(&dirs, &["clean", "-fd", "--quiet"]).await?;
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
        named_as_expected(&dirs)?;
        Ok(Attached::Reattached)
    } else {
        git(
            mirror,
            &["worktree", "add", "--quiet", "-b", branch, &target, start],
        )
        .await?;
        named_as_expected(&dirs)?;
        Ok(Attached::Created)
    }
}

/// The directories of the worktree at `path` of `mirror`: git names the
/// administrative directory after the worktree's directory (the run id).
/// Absolute, since git reads them after `-C` changed its directory.
pub(crate) fn dirs(mirror: &Path, path: &Path) -> WorktreeDirs {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (mirror, path) = (absolute(mirror), absolute(path));
    let name = path.file_name().unwrap_or(path.as_os_str()).to_owned();
    WorktreeDirs {
        git_dir: mirror.join("worktrees").join(name),
        common_dir: mirror,
        work_tree: path,
    }
}

/// Checks that `git worktree add` used the administrative directory
/// [`dirs`] names (it picks another when that one is taken).
fn named_as_expected(dirs: &WorktreeDirs) -> Result<(), WorkspaceError> {
    let recorded = std::fs::read_to_string(dirs.git_dir.join("gitdir")).unwrap_or_default();
    // Compared as real paths: git may record them through or past a symlink.
    let real = |p: &Path| std::fs::canonicalize(p).ok();
    let expected = real(&dirs.work_tree.join(".git"));
    if expected.is_some() && real(Path::new(recorded.trim())) == expected {
        Ok(())
    } else {
        Err(WorkspaceError::Invalid(format!(
            "git did not register the worktree {} as {}",
            dirs.work_tree.display(),
            dirs.git_dir.display()
        )))
    }
}

/// Puts back the worktree's links to the mirror and points its `HEAD` at
/// `branch`: whatever the agent did to them, the harness's commit lands on
/// the run's branch in the mirror.
pub(crate) async fn reclaim(dirs: &WorktreeDirs, branch: &str) -> Result<(), WorkspaceError> {
    repair::worktree_links(dirs)?;
    git_in(
        dirs,
        &["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")],
    )
    .await?;
    Ok(())
}

/// Whether the worktree of `dirs` exists with `branch` checked out; its
/// links to the mirror are put back first.
async fn on_branch(dirs: &WorktreeDirs, branch: &str) -> Result<bool, WorkspaceError> {
    if !dirs.git_dir.join("HEAD").is_file() {
        return Ok(false);
    }
    repair::worktree_links(dirs)?;
    let out = git_output_in(dirs, &["symbolic-ref", "--quiet", "HEAD"]).await?;
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
