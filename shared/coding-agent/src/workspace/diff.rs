//! What a run changed: the harness's commit of the worktree, and the diff and
//! diffstat from the start commit to the branch's head. Diffs never run a
//! program the repository names (`--no-ext-diff --no-textconv`).

use super::WorkspaceError;
use super::git::{WorktreeDirs, git, git_in, git_output_in};
use crate::output::cap_text;
use std::path::Path;

/// The changes of a run, `start..head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiffSummary {
    /// Unified diff (capped).
    pub(crate) diff: String,
    /// Whether the diff was cut.
    pub(crate) diff_truncated: bool,
    /// `git diff --stat` output.
    pub(crate) diffstat: String,
    /// Files changed.
    pub(crate) files_changed: u64,
    /// Lines added (binary files count 0).
    pub(crate) insertions: u64,
    /// Lines removed.
    pub(crate) deletions: u64,
}

/// Stages everything and commits it as agent-runner. Returns whether there
/// was anything to commit.
pub(crate) async fn commit_all(
    worktree: &WorktreeDirs,
    message: &str,
) -> Result<bool, WorkspaceError> {
    git_in(worktree, &["add", "-A"]).await?;
    let staged = git_output_in(
        worktree,
        &[
            "diff",
            "--cached",
            "--quiet",
            "--no-ext-diff",
            "--no-textconv",
        ],
    )
    .await?;
    if staged.success {
        return Ok(false);
    }
    git_in(
        worktree,
        &["commit", "--quiet", "--no-verify", "-m", message],
    )
    .await?;
    Ok(true)
}

/// The commit `HEAD` of the worktree points at.
pub(crate) async fn head(worktree: &WorktreeDirs) -> Result<String, WorkspaceError> {
    Ok(git_in(worktree, &["rev-parse", "HEAD"])
        .await?
        .trim()
        .to_owned())
}

/// Diff, diffstat and totals of `start..head`.
pub(crate) async fn summarise(
    repo: &Path,
    start: &str,
    head: &str,
    diff_cap: usize,
) -> Result<DiffSummary, WorkspaceError> {
    let range = format!("{start}..{head}");
    let diff_args = |extra: &'static str| {
        [
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            extra,
            range.as_str(),
        ]
    };
    let full = git(repo, &diff_args("--patch")).await?;
    let (diff, diff_truncated) = cap_text(&full, diff_cap);
    let diffstat = git(repo, &diff_args("--stat=120")).await?;
    let numstat = git(repo, &diff_args("--numstat")).await?;
    let (mut files_changed, mut insertions, mut deletions) = (0, 0, 0);
    for line in numstat.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split('\t');
        files_changed += 1;
        insertions += fields
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        deletions += fields
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Ok(DiffSummary {
        diff,
        diff_truncated,
        diffstat: diffstat.trim_end().to_owned(),
        files_changed,
        insertions,
        deletions,
    })
}
