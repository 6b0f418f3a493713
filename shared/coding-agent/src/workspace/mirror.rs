//! The bare mirror of a project (`<root>/mirrors/<project-id>.git`) and the
//! per-project lock that serialises changes to it.
//!
//! The mirror is cloned with `git clone --mirror` the first time and fetched
//! on every run. The fetch updates upstream branches and tags but never
//! touches `agent/*` branches, which belong to the mirror. Its config is
//! written anew before every use ([`super::repair`]): it names no remote, so
//! fetches and pushes give the project's URL each time and no credential in
//! one stays on disk. A project without
//! a repository gets an empty one with a single empty commit (the same on
//! every worker), so that the agent can start from nothing.
//!
//! Clones, fetches and pushes end after the project's `settings.git_timeout_s`
//! (default 300 s), see [`git_timeout`]. Pushes go from the mirror to the
//! project's repository: a run's branch after each attempt when the project
//! asks for it ([`pushes_branches`]), and an approval's merge.

use super::WorkspaceError;
use super::git::{GitOutput, git, git_output, git_remote, git_with, redact_url};
use super::repair;
use agent_runner_agent::ProjectSpec;
use agent_runner_domain::llm_settings;
use agent_runner_domain::repo::{RepoPolicy, RepoUrl};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;

/// How often a waiting run retries the project lock.
const LOCK_POLL: Duration = Duration::from_millis(50);

/// How long a clone, fetch or push of a project may take: its
/// `settings.git_timeout_s` (1 to 86400), else 300 s.
pub(crate) fn git_timeout(settings: &serde_json::Value) -> Result<Duration, WorkspaceError> {
    llm_settings::git_timeout_s(settings)
        .map(Duration::from_secs)
        .map_err(WorkspaceError::Invalid)
}

/// Exclusive hold on a project's mirror, across threads and processes
/// sharing the workspace root (an `flock`, released when dropped or when the
/// process dies).
#[derive(Debug)]
pub(crate) struct ProjectLock {
    _lock: Flock<File>,
}

/// Takes the project's lock, waiting for it.
pub(crate) async fn lock_project(
    root: &Path,
    project_id: Uuid,
) -> Result<ProjectLock, WorkspaceError> {
    let dir = root.join("locks");
    std::fs::create_dir_all(&dir)
        .map_err(|e| WorkspaceError::io(format!("could not create {}", dir.display()), e))?;
    let path = dir.join(format!("{project_id}.lock"));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| WorkspaceError::io(format!("could not open {}", path.display()), e))?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(ProjectLock { _lock: lock }),
            Err((back, Errno::EWOULDBLOCK)) => {
                file = back;
                tokio::time::sleep(LOCK_POLL).await;
            }
            Err((_, errno)) => {
                return Err(WorkspaceError::io(
                    format!("could not lock {}", path.display()),
                    std::io::Error::from(errno),
                ));
            }
        }
    }
}

/// Where a project's mirror lives.
pub fn mirror_path(root: &Path, project_id: Uuid) -> PathBuf {
    root.join("mirrors").join(format!("{project_id}.git"))
}

/// The state of a mirror after [`sync`].
#[derive(Debug)]
pub(crate) struct Mirror {
    /// The bare repository.
    pub(crate) path: PathBuf,
    /// Why the fetch failed, when an existing mirror was used as it was.
    pub(crate) fetch_error: Option<String>,
}

/// Checks the project's repository URL against this worker's policy before
/// anything reaches git: the forms git could run or read as options are
/// never allowed (and [`git_remote`] refuses them again), repositories on
/// this machine only when `allow_local` (`AGENT_ALLOW_LOCAL_REPOS`). The api
/// checks the same rules; a row written around it meets them here.
pub fn check_origin(project: &ProjectSpec, allow_local: bool) -> Result<(), WorkspaceError> {
    let Some(url) = project.repo_url.as_deref() else {
        return Ok(());
    };
    RepoUrl::parse(url, RepoPolicy { allow_local })
        .map(drop)
        .map_err(|e| {
            WorkspaceError::Invalid(format!(
                "the project's repo_url `{}` is refused: {e}",
                redact_url(url)
            ))
        })
}

/// Creates or updates the project's mirror. Call with the project lock held.
pub(crate) async fn sync(root: &Path, project: &ProjectSpec) -> Result<Mirror, WorkspaceError> {
    let path = mirror_path(root, project.id);
    let timeout = git_timeout(&project.settings)?;
    if path.join("HEAD").is_file() {
        repair::mirror_config(&path)?;
        let mut fetch_error = None;
        if let Some(url) = &project.repo_url {
            let fetched = git_remote(
                &path,
                &["fetch", "--quiet", "--no-write-fetch-head"],
                url,
                &[
                    "+refs/heads/*:refs/heads/*",
                    "^refs/heads/agent/*",
                    "+refs/tags/*:refs/tags/*",
                ],
                timeout,
            )
            .await;
            let out = match fetched {
                Ok(out) => out,
                Err(WorkspaceError::Git { stderr, .. }) => GitOutput {
                    success: false,
                    stdout: String::new(),
                    stderr,
                },
                Err(e) => return Err(e),
            };
            if !out.success {
                let reason = redact_url(out.stderr.trim());
                tracing::warn!(project.id = %project.id, error = %reason, "mirror fetch failed; using the mirror as it is");
                fetch_error = Some(reason);
            }
        }
        return Ok(Mirror { path, fetch_error });
    }

    let parent = root.join("mirrors");
    std::fs::create_dir_all(&parent)
        .map_err(|e| WorkspaceError::io(format!("could not create {}", parent.display()), e))?;
    // Build into a temporary name and rename, so that a crash never leaves a
    // half-made mirror behind.
    let staging = parent.join(format!("{}.git.tmp-{}", project.id, Uuid::new_v4()));
    let staged = match &project.repo_url {
        Some(url) => clone(&parent, url, &staging, timeout).await,
        None => init_empty(&parent, &staging, &project.default_branch).await,
    };
    if let Err(e) = staged.and_then(|()| repair::mirror_config(&staging)) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    std::fs::rename(&staging, &path).map_err(|e| {
        WorkspaceError::io(
            format!("could not move the mirror to {}", path.display()),
            e,
        )
    })?;
    Ok(Mirror {
        path,
        fetch_error: None,
    })
}

async fn clone(
    parent: &Path,
    url: &str,
    staging: &Path,
    timeout: Duration,
) -> Result<(), WorkspaceError> {
    let target = staging.to_string_lossy();
    let why = match git_remote(
        parent,
        &["clone", "--mirror", "--quiet"],
        url,
        &[&target],
        timeout,
    )
    .await
    {
        Ok(out) if out.success => return Ok(()),
        Ok(out) => out.stderr.trim().to_owned(),
        Err(e) => e.to_string(),
    };
    Err(WorkspaceError::Invalid(format!(
        "could not clone {}: {}",
        redact_url(url),
        redact_url(&why)
    )))
}

async fn init_empty(parent: &Path, staging: &Path, branch: &str) -> Result<(), WorkspaceError> {
    let target = staging.to_string_lossy();
    git(
        parent,
        &[
            "init",
            "--bare",
            "--quiet",
            "--initial-branch",
            branch,
            &target,
        ],
    )
    .await?;
    let tree = git(staging, &["hash-object", "-t", "tree", "-w", "--stdin"]).await?;
    // Fixed dates make the commit the same on every worker, so that a
    // branch snapshot made on one applies on another.
    let epoch = "1970-01-01T00:00:00Z";
    let commit = git_with(
        staging,
        &["commit-tree", tree.trim(), "-m", "empty project"],
        &[("GIT_AUTHOR_DATE", epoch), ("GIT_COMMITTER_DATE", epoch)],
    )
    .await?;
    git(
        staging,
        &["update-ref", &format!("refs/heads/{branch}"), commit.trim()],
    )
    .await?;
    Ok(())
}

/// The commit a ref points at, if it exists.
pub(crate) async fn resolve_commit(
    repo: &Path,
    reference: &str,
) -> Result<Option<String>, WorkspaceError> {
    let out = git_output(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{reference}^{{commit}}"),
        ],
    )
    .await?;
    Ok(out.success.then(|| out.stdout.trim().to_owned()))
}

/// Pushes `refspecs` from the mirror to the repository at `url`, for at most
/// `timeout`; `Err` is what git said (credentials hidden). Several refs go
/// all or none (`--atomic`) where the server can do that, else as the
/// server takes them.
pub(crate) async fn push(
    mirror: &Path,
    url: &str,
    refspecs: &[String],
    timeout: Duration,
) -> Result<(), String> {
    if refspecs.len() > 1 {
        match push_once(mirror, url, refspecs, timeout, true).await {
            Err(said) if said.contains("does not support --atomic") => {}
            done => return done,
        }
    }
    push_once(mirror, url, refspecs, timeout, false).await
}

async fn push_once(
    mirror: &Path,
    url: &str,
    refspecs: &[String],
    timeout: Duration,
    atomic: bool,
) -> Result<(), String> {
    let local = local_repo(url).map(|path| path.to_string_lossy().into_owned());
    let mut args = vec!["push", "--quiet", "--porcelain"];
    if atomic {
        args.push("--atomic");
    }
    if local.is_some() {
        // A checked-out target branch of a non-bare repository on this
        // machine is updated together with its (clean) working tree.
        args.push("--receive-pack=git -c receive.denyCurrentBranch=updateInstead receive-pack");
    }
    let refspecs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
    let out = git_remote(
        mirror,
        &args,
        local.as_deref().unwrap_or(url),
        &refspecs,
        timeout,
    )
    .await
    .map_err(|e| redact_url(&e.to_string()))?;
    if out.success {
        return Ok(());
    }
    // `--porcelain` lists each refused ref with its reason on stdout.
    let refused: Vec<&str> = out
        .stdout
        .lines()
        .filter(|line| line.starts_with('!'))
        .collect();
    let said = [out.stderr.trim(), &refused.join("; ")]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Err(redact_url(&said))
}

/// Pushes (forced: the branch is the run's) `branch` of the project's mirror
/// to its repository when the project asks for it; `None` when it does not,
/// or has no repository.
pub(crate) async fn push_run_branch(
    root: &Path,
    project: &ProjectSpec,
    branch: &str,
) -> Option<Result<(), String>> {
    let url = project.repo_url.as_deref()?;
    match pushes_branches(&project.settings) {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => return Some(Err(e.to_string())),
    }
    let timeout = match git_timeout(&project.settings) {
        Ok(timeout) => timeout,
        Err(e) => return Some(Err(e.to_string())),
    };
    let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
    Some(push(&mirror_path(root, project.id), url, &[refspec], timeout).await)
}

/// Whether the project asks for each run's branch to be pushed to its
/// repository after every successful attempt (`settings.push_branches`).
pub(crate) fn pushes_branches(settings: &serde_json::Value) -> Result<bool, WorkspaceError> {
    llm_settings::pushes_branches(settings).map_err(WorkspaceError::Invalid)
}

/// Whether `repo_url` names a repository on this machine (and so can take
/// pushes without credentials).
pub(crate) fn local_repo(repo_url: &str) -> Option<PathBuf> {
    let path = repo_url.strip_prefix("file://").unwrap_or(repo_url);
    if path.contains("://") {
        return None;
    }
    let path = Path::new(path);
    path.is_dir().then(|| path.to_path_buf())
}
