//! Where a run works: a bare mirror per project and a git worktree per run,
//! driven through the `git` CLI.
//!
//! ```text
//! <workspace_root>/mirrors/<project-id>.git   bare mirror (clone --mirror)
//! <workspace_root>/runs/<run-id>             the run's worktree
//! <workspace_root>/locks/<project-id>.lock   serialises mirror changes
//! ```
//!
//! - [`mirror`] — cloning/fetching the mirror, the project lock.
//! - [`worktree`] — adding, reusing and removing a run's worktree.
//! - [`diff`] — the harness's commit and the run's diff.
//! - [`snapshot`] — the run's branch as a bundle stored in Postgres, so that
//!   any worker can continue or review it.
//! - [`repair`] — the git metadata the agent could have changed, put back
//!   before the harness reads it.
//!
//! The agent's tools never run git; the harness does, before and after the
//! loop, always through [`git`], which runs no hook and no program the
//! repository's files name, with a cleared environment.

pub(crate) mod diff;
mod git;
pub(crate) mod mirror;
pub(crate) mod repair;
pub(crate) mod snapshot;
pub(crate) mod worktree;

pub(crate) use git::{WorktreeDirs, git as run_git, git_output as run_git_output, redact_url};
pub use mirror::{check_origin, mirror_path};
pub use snapshot::RunBranch;

use agent_runner_agent::ProjectSpec;
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// Why the workspace could not be prepared or changed.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// A git command failed.
    #[error("git {args} failed: {stderr}")]
    Git {
        /// The arguments (credentials hidden).
        args: String,
        /// What git said.
        stderr: String,
    },
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The request can not be carried out as asked.
    #[error("{0}")]
    Invalid(String),
    /// The run's stored branch snapshot could not be read (worth another
    /// try).
    #[error("could not read the run's stored branch snapshot: {0}")]
    Unavailable(String),
}

impl WorkspaceError {
    pub(crate) fn io(context: String, source: std::io::Error) -> Self {
        WorkspaceError::Io { context, source }
    }
}

/// `message` with the workspace root written as `$WORKSPACE_ROOT`: errors
/// reach the api's clients, the layout of the worker's disk stays the
/// operator's.
pub fn without_root(message: &str, root: &Path) -> String {
    let root = root.to_string_lossy();
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return message.to_owned();
    }
    message.replace(root, "$WORKSPACE_ROOT")
}

/// Where a run's worktree lives.
pub fn worktree_path(root: &Path, run_id: Uuid) -> PathBuf {
    root.join("runs").join(run_id.to_string())
}

/// The branch of a run: `agent/<first 8 chars of the run id>-<slug of the
/// goal, at most 30 chars>`.
pub fn branch_name(run_id: Uuid, goal: &str) -> String {
    let id = run_id.simple().to_string();
    format!("agent/{}-{}", &id[..8], slug(goal, 30))
}

/// Lower-case ASCII letters and digits of `text`, other runs of characters
/// turned into single dashes, at most `max` chars; `run` when nothing is left.
pub fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= max {
            break;
        }
    }
    out.truncate(max);
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        "run".to_owned()
    } else {
        out
    }
}

/// Whether `branch` is one this agent made (and so may reuse or delete).
pub fn is_agent_branch(branch: &str) -> bool {
    branch.strip_prefix("agent/").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// A worktree ready for the loop.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The worktree.
    pub(crate) path: PathBuf,
    /// How the harness's git addresses it.
    pub(crate) dirs: WorktreeDirs,
    /// Its branch.
    pub(crate) branch: String,
    /// The commit the run's diff starts from.
    pub(crate) start_commit: String,
    /// Why fetching the mirror failed, if it did (the old mirror was used).
    pub(crate) fetch_error: Option<String>,
    /// How the worktree came to be.
    pub(crate) attached: worktree::Attached,
    /// Where the branch came from.
    pub(crate) source: snapshot::BranchSource,
}

/// Syncs the mirror and makes the run's worktree.
pub(crate) async fn prepare(
    root: &Path,
    project: &ProjectSpec,
    run_id: Uuid,
    goal: &str,
    continuation: &RunBranch,
) -> Result<Prepared, WorkspaceError> {
    let _lock = mirror::lock_project(root, project.id).await?;
    let mirror = mirror::sync(root, project).await?;
    let branch = match &continuation.branch {
        Some(branch) if is_agent_branch(branch) => branch.clone(),
        Some(branch) => {
            return Err(WorkspaceError::Invalid(format!(
                "`{branch}` is not an agent branch"
            )));
        }
        None => branch_name(run_id, goal),
    };
    let source = snapshot::ensure_branch(root, &mirror.path, &branch, continuation).await?;
    let default_ref = format!("refs/heads/{}", project.default_branch);
    let tip = mirror::resolve_commit(&mirror.path, &default_ref).await?;
    let existing = mirror::resolve_commit(&mirror.path, &format!("refs/heads/{branch}")).await?;
    let known_start = match &continuation.start_commit {
        Some(start) => mirror::resolve_commit(&mirror.path, start).await?,
        None => None,
    };
    let start_commit = match (known_start, existing, tip) {
        (Some(start), _, _) => start,
        (None, Some(existing), Some(tip)) => {
            run_git(&mirror.path, &["merge-base", &existing, &tip])
                .await?
                .trim()
                .to_owned()
        }
        (None, Some(existing), None) => existing,
        (None, None, Some(tip)) => tip,
        (None, None, None) => {
            return Err(WorkspaceError::Invalid(format!(
                "the project's default branch `{}` was not found in its repository",
                project.default_branch
            )));
        }
    };
    let path = worktree_path(root, run_id);
    let attached = worktree::attach(&mirror.path, &path, &branch, &start_commit).await?;
    Ok(Prepared {
        dirs: worktree::dirs(&mirror.path, &path),
        path,
        branch,
        start_commit,
        fetch_error: mirror.fetch_error,
        attached,
        source,
    })
}

/// Once the loop has ended and before the harness commits: puts back the
/// mirror's config and the worktree's links, and points the worktree at the
/// run's branch again (see [`repair`]).
pub(crate) async fn reclaim(prepared: &Prepared) -> Result<(), WorkspaceError> {
    repair::mirror_config(&prepared.dirs.common_dir)?;
    worktree::reclaim(&prepared.dirs, &prepared.branch).await
}

/// Removes the run's worktree; its branch stays in the mirror.
pub(crate) async fn release(
    root: &Path,
    project_id: Uuid,
    run_id: Uuid,
) -> Result<(), WorkspaceError> {
    let _lock = mirror::lock_project(root, project_id).await?;
    let mirror = mirror_path(root, project_id);
    if mirror.join("HEAD").is_file() {
        repair::mirror_config(&mirror)?;
    }
    worktree::remove(&mirror, &worktree_path(root, run_id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_carry_the_short_run_id_and_a_slug_of_the_goal() {
        let id = Uuid::parse_str("0123456789abcdef0123456789abcdef").expect("uuid");
        assert_eq!(
            branch_name(
                id,
                "Fix the README: typo in \"Install\" section & more words here"
            ),
            "agent/01234567-fix-the-readme-typo-in-install"
        );
        assert_eq!(branch_name(id, "¿¡!"), "agent/01234567-run");
        assert!(is_agent_branch(&branch_name(id, "x")));
    }

    #[test]
    fn slugs_are_bounded_and_never_end_in_a_dash() {
        assert_eq!(slug("a  b--c", 30), "a-b-c");
        assert_eq!(slug("abcde fgh", 6), "abcde");
        assert_eq!(slug("  Hello World ", 30), "hello-world");
    }

    #[test]
    fn only_agent_branches_are_accepted() {
        assert!(!is_agent_branch("main"));
        assert!(!is_agent_branch("agent/"));
        assert!(!is_agent_branch("agent/../main"));
    }
}
