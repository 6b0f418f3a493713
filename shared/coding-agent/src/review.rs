//! What a reviewer can do with a run that awaits approval: approve it (merge
//! its branch, or keep it as it is), reject it (discard the branch), or run
//! a command in its worktree. The worker calls these when the api asks.
//!
//! Merges happen in the bare mirror without a checkout (`git merge-tree
//! --write-tree`, git 2.38 or newer); the branch and the merge are then
//! pushed to the project's repository, with whatever credentials git finds
//! (in the URL, a credential helper, an SSH key). A push that fails fails
//! the approval and takes the merge back out of the mirror, so that the run
//! can be approved again. A project without a repository keeps both in the
//! mirror, which is then its only copy.
//!
//! Any worker can do these: a branch this worker's mirror lacks is put back
//! from the run's stored snapshot, and a missing worktree is made again.

use crate::sandbox::Sandbox;
use crate::tools::ExecOutput;
use crate::tools::command::{self, ExecEnd};
use crate::workspace::mirror::{
    git_timeout, lock_project, push, pushes_branches, resolve_commit, sync,
};
use crate::workspace::snapshot::ensure_branch;
use crate::workspace::{
    RunBranch, WorkspaceError, is_agent_branch, mirror_path, run_git, run_git_output, worktree,
    worktree_path,
};
use crate::workspace::{redact_url, repair};
use agent_runner_agent::ProjectSpec;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What approving does with the run's branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApproveTarget {
    /// Merge it into this branch (with a merge commit).
    Merge {
        /// The branch merged into, e.g. the project's default branch.
        into: String,
    },
    /// Leave it as it is.
    Keep {
        /// Push the branch to the project's repository (`false`: it stays
        /// in the workers' mirrors and the run's snapshot).
        push: bool,
    },
}

/// What approving did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApproveOutcome {
    /// The target branch's commit after the merge (`None` for `Keep`).
    pub merged_commit: Option<String>,
    /// Whether the project's repository received the branch (and the
    /// merge).
    pub pushed_to_origin: bool,
}

/// Why a review operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The command could not be started in its sandbox (fails closed).
    #[error("{0}")]
    Sandbox(String),
    /// The branch is not one of this agent's.
    #[error("`{0}` is not an agent branch")]
    NotAgentBranch(String),
    /// The branch does not exist in the mirror.
    #[error("branch `{0}` not found")]
    BranchNotFound(String),
    /// The branch does not merge cleanly into the target.
    #[error("branch `{branch}` does not merge cleanly into `{into}`")]
    MergeConflict {
        /// The run's branch.
        branch: String,
        /// The target.
        into: String,
    },
    /// The run's result names no branch.
    #[error("run {0} has no branch")]
    NoBranch(Uuid),
    /// The project's repository did not take the push; nothing changed
    /// there, and the mirror's target branch is as it was.
    #[error(
        "pushing to {remote} failed, so nothing was approved (approve again once it takes \
         pushes, or keep the branch without pushing): {reason}"
    )]
    PushFailed {
        /// The repository, credentials hidden.
        remote: String,
        /// What git said.
        reason: String,
    },
    /// The project's repository did not let the rejection delete the run's
    /// pushed branch; nothing changed, there or in the mirror.
    #[error(
        "deleting the branch from {remote} failed, so nothing was rejected (reject again once \
         it takes pushes): {reason}"
    )]
    DeleteFailed {
        /// The repository, credentials hidden.
        remote: String,
        /// What git said.
        reason: String,
    },
    /// The cancellation token fired during the command.
    #[error("cancelled")]
    Cancelled,
    /// Git or the file system failed.
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

/// Approves a run: merges its branch into the target (or keeps it), pushes
/// to the project's repository, and removes the run's worktree (the branch
/// stays). Approving twice is harmless: an already merged branch is not
/// merged again.
pub async fn approve(
    workspace_root: &Path,
    project: &ProjectSpec,
    run_id: Uuid,
    recorded: &RunBranch,
    target: ApproveTarget,
) -> Result<ApproveOutcome, ReviewError> {
    let branch = agent_branch(run_id, recorded)?;
    let _lock = lock_project(workspace_root, project.id).await?;
    // Merge onto the newest target, so that the push is a fast-forward.
    let mirror = sync(workspace_root, project).await?.path;
    ensure_branch(workspace_root, &mirror, branch, recorded).await?;
    let Some(branch_tip) = resolve_commit(&mirror, &format!("refs/heads/{branch}")).await? else {
        return Err(ReviewError::BranchNotFound(branch.to_owned()));
    };
    let mut outcome = ApproveOutcome::default();
    let mut refspecs = vec![format!("refs/heads/{branch}:refs/heads/{branch}")];
    let mut merged = None;
    let wanted = match &target {
        ApproveTarget::Merge { into } => {
            let merge = merge(&mirror, branch, &branch_tip, into, run_id).await?;
            outcome.merged_commit = Some(merge.commit.clone());
            refspecs.push(format!("refs/heads/{into}:refs/heads/{into}"));
            merged = Some((into.as_str(), merge));
            true
        }
        ApproveTarget::Keep { push } => *push,
    };
    if let Some(url) = project.repo_url.as_deref().filter(|_| wanted) {
        if let Err(reason) = push(&mirror, url, &refspecs, git_timeout(&project.settings)?).await {
            if let Some((into, merge)) = merged {
                undo_merge(&mirror, into, &merge).await;
            }
            return Err(ReviewError::PushFailed {
                remote: redact_url(url),
                reason,
            });
        }
        outcome.pushed_to_origin = true;
    }
    worktree::remove(&mirror, &worktree_path(workspace_root, run_id)).await?;
    Ok(outcome)
}

/// Puts the target branch back where it was before a merge whose push failed.
async fn undo_merge(mirror: &Path, into: &str, merge: &Merged) {
    let Some(previous) = &merge.previous else {
        return;
    };
    let target_ref = format!("refs/heads/{into}");
    // Guarded by the merge commit: a ref that moved since is left alone.
    if let Err(e) = run_git(
        mirror,
        &["update-ref", &target_ref, previous, &merge.commit],
    )
    .await
    {
        tracing::warn!(error = %e, branch = into, "could not take an unpushed merge back out of the mirror");
    }
}

/// The run's branch, if it is one of the agent's.
fn agent_branch(run_id: Uuid, recorded: &RunBranch) -> Result<&str, ReviewError> {
    let branch = recorded
        .branch
        .as_deref()
        .ok_or(ReviewError::NoBranch(run_id))?;
    if is_agent_branch(branch) {
        Ok(branch)
    } else {
        Err(ReviewError::NotAgentBranch(branch.to_owned()))
    }
}

/// A merge into the target branch.
struct Merged {
    /// The target's commit after it.
    commit: String,
    /// The target's commit before it; `None` when the branch was already merged.
    previous: Option<String>,
}

async fn merge(
    mirror: &Path,
    branch: &str,
    branch_tip: &str,
    into: &str,
    run_id: Uuid,
) -> Result<Merged, ReviewError> {
    let target_ref = format!("refs/heads/{into}");
    let Some(target_tip) = resolve_commit(mirror, &target_ref).await? else {
        return Err(ReviewError::BranchNotFound(into.to_owned()));
    };
    let already = run_git_output(
        mirror,
        &["merge-base", "--is-ancestor", branch_tip, &target_tip],
    )
    .await?;
    if already.success {
        return Ok(Merged {
            commit: target_tip,
            previous: None,
        });
    }
    let tree = run_git_output(
        mirror,
        &["merge-tree", "--write-tree", &target_tip, branch_tip],
    )
    .await?;
    if !tree.success {
        return Err(ReviewError::MergeConflict {
            branch: branch.to_owned(),
            into: into.to_owned(),
        });
    }
    let tree = tree
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let message = format!("Merge branch '{branch}' into {into}\n\nRun: {run_id}\n");
    let commit = run_git(
        mirror,
        &[
            "commit-tree",
            &tree,
            "-p",
            &target_tip,
            "-p",
            branch_tip,
            "-m",
            &message,
        ],
    )
    .await?;
    let commit = commit.trim().to_owned();
    // Guarded by the old value: a concurrent change makes this fail, not lose work.
    run_git(mirror, &["update-ref", &target_ref, &commit, &target_tip]).await?;
    Ok(Merged {
        commit,
        previous: Some(target_tip),
    })
}

/// Rejects a run: deletes its branch from the project's repository when it
/// was pushed there (`settings.push_branches`), then removes its worktree
/// and deletes its branch from the mirror. A repository that refuses the
/// deletion fails the rejection and nothing changes (reject again once it
/// takes pushes). Rejecting twice is harmless.
pub async fn reject(
    workspace_root: &Path,
    project: &ProjectSpec,
    run_id: Uuid,
    recorded: &RunBranch,
) -> Result<RejectOutcome, ReviewError> {
    let branch = agent_branch(run_id, recorded)?;
    let _lock = lock_project(workspace_root, project.id).await?;
    let mirror = mirror_path(workspace_root, project.id);
    if mirror.join("HEAD").is_file() {
        repair::mirror_config(&mirror)?;
    }
    let mut outcome = RejectOutcome::default();
    let pushed = recorded.pushed || pushes_branches(&project.settings).unwrap_or(false);
    if let Some(url) = project.repo_url.as_deref().filter(|_| pushed) {
        // A push needs a repository to push from: a worker that never ran
        // the project clones it first.
        let from = if mirror.join("HEAD").is_file() {
            mirror.clone()
        } else {
            sync(workspace_root, project).await?.path
        };
        let timeout = git_timeout(&project.settings)?;
        outcome.deleted_from_origin =
            match push(&from, url, &[format!(":refs/heads/{branch}")], timeout).await {
                Ok(()) => true,
                Err(said) if said.contains("remote ref does not exist") => false,
                Err(reason) => {
                    return Err(ReviewError::DeleteFailed {
                        remote: redact_url(url),
                        reason,
                    });
                }
            };
    }
    worktree::remove(&mirror, &worktree_path(workspace_root, run_id)).await?;
    let branch_ref = format!("refs/heads/{branch}");
    if resolve_commit(&mirror, &branch_ref).await?.is_some() {
        run_git(&mirror, &["update-ref", "-d", &branch_ref]).await?;
    }
    Ok(outcome)
}

/// What rejecting did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RejectOutcome {
    /// Whether the project's repository took the deletion of the branch
    /// (`false`: the branch was never pushed there).
    pub deleted_from_origin: bool,
}

/// A command for [`exec_in_worktree`].
#[derive(Debug, Clone, Copy)]
pub struct ExecCommand<'a> {
    /// The sandbox it runs in (the worker's, as for `run_command`).
    pub sandbox: &'a Sandbox,
    /// Run by `sh -c`.
    pub cmd: &'a str,
    /// Killed (with its process group) after this long.
    pub timeout: Duration,
    /// Bytes kept per stream.
    pub output_cap: usize,
}

/// Runs a command in the run's worktree with the limits of `run_command`:
/// `sh -c` in the sandbox, scrubbed environment, own process group killed
/// on timeout or cancel, output capped. A worktree this worker lacks is made again from
/// the run's branch (put back from its snapshot when needed).
pub async fn exec_in_worktree(
    workspace_root: &Path,
    project: &ProjectSpec,
    run_id: Uuid,
    recorded: &RunBranch,
    request: ExecCommand<'_>,
    cancel: &CancellationToken,
) -> Result<ExecOutput, ReviewError> {
    let ExecCommand {
        sandbox,
        cmd,
        timeout,
        output_cap,
    } = request;
    let network_open = agent_runner_domain::llm_settings::network_open(&project.settings)
        .map_err(ReviewError::Sandbox)?;
    sandbox
        .ready()
        .await
        .map_err(|e| ReviewError::Sandbox(e.to_string()))?;
    let path = ensure_worktree(workspace_root, project, run_id, recorded).await?;
    let git_dir = mirror_path(workspace_root, project.id);
    let place = command::Place {
        sandbox,
        dir: &path,
        git_dir: Some(&git_dir),
        network_open,
    };
    match command::exec(place, cmd, timeout, output_cap, cancel).await {
        Ok(ExecEnd::Finished(out)) => Ok(out),
        Ok(ExecEnd::Cancelled) => Err(ReviewError::Cancelled),
        Err(command::StartError::Sandbox(e)) => Err(ReviewError::Sandbox(e.to_string())),
        Err(command::StartError::Spawn(e)) => {
            Err(WorkspaceError::io("could not start `sh`".to_owned(), e).into())
        }
    }
}

/// The run's worktree, made again on its branch when missing.
async fn ensure_worktree(
    workspace_root: &Path,
    project: &ProjectSpec,
    run_id: Uuid,
    recorded: &RunBranch,
) -> Result<PathBuf, ReviewError> {
    let path = worktree_path(workspace_root, run_id);
    if path.join(".git").is_file() {
        return Ok(path);
    }
    let branch = agent_branch(run_id, recorded)?;
    let _lock = lock_project(workspace_root, project.id).await?;
    let mirror = sync(workspace_root, project).await?.path;
    ensure_branch(workspace_root, &mirror, branch, recorded).await?;
    let start = recorded
        .head_commit
        .as_deref()
        .ok_or(ReviewError::NoBranch(run_id))?;
    worktree::attach(&mirror, &path, branch, start).await?;
    tracing::info!(run.id = %run_id, branch, "worktree made again for a command");
    Ok(path)
}
