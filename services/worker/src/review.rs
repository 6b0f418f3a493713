//! Review operations on the worktrees this worker keeps: approve, reject and
//! exec, carried out with the `llm` agent's `review` module and answered in
//! the run's `run_requests` row.
//!
//! A request reaches this worker through its own queue (see
//! [`run_requests`](crate::run_requests)): the api sends it to the worker that ran the
//! run, whose disk holds the worktree, or — when that worker is gone — to
//! another live worker, which puts the run's branch back from its snapshot
//! in Postgres. Nothing here changes a run except through
//! [`requests::close_review`], which is guarded by AWAITING_APPROVAL.

use crate::db_retry::with_db_retry;
use crate::execution::stored_branch;
use agent_runner_agent::ProjectSpec;
use agent_runner_coding_agent::sandbox::Sandbox;
use agent_runner_coding_agent::workspace::{check_origin, without_root};
use agent_runner_coding_agent::{
    ApproveTarget, CodingAgent, ExecCommand, RunBranch, approve, exec_in_worktree, reject,
};
use agent_runner_domain::RunStatus;
use agent_runner_store::run_requests::{self, RequestKind, RunRequest, Verdict};
use agent_runner_store::runs::Run;
use agent_runner_store::{Pool, StoreError, projects, runs};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where this worker keeps its workspaces and the limits of `exec`.
#[derive(Debug, Clone)]
pub struct ReviewSettings {
    /// `WORKSPACE_ROOT` of the `llm` agent.
    pub workspace_root: PathBuf,
    /// Longest an exec may run (a request asking for more gets this).
    pub exec_timeout_max: Duration,
    /// Bytes of output kept per stream.
    pub output_cap: usize,
    /// `AGENT_ALLOW_LOCAL_REPOS`: whether an approval or rejection may
    /// push to a repository on this machine.
    pub allow_local_repos: bool,
    /// The sandbox `exec` runs in: the `llm` agent's, shared.
    pub sandbox: Arc<Sandbox>,
}

impl From<&CodingAgent> for ReviewSettings {
    fn from(agent: &CodingAgent) -> Self {
        let config = agent.config();
        Self {
            workspace_root: config.workspace_root.clone(),
            exec_timeout_max: config.command_timeout_max,
            output_cap: config.output_cap,
            allow_local_repos: config.allow_local_repos,
            sandbox: agent.sandbox(),
        }
    }
}

/// Carries out requests on this worker's worktrees.
#[derive(Clone)]
pub struct Reviewer {
    /// Postgres pool.
    pub pool: Pool,
    /// Workspaces and limits; `None` when this worker has no `llm` agent.
    pub settings: Option<ReviewSettings>,
    /// This worker's id (named in answers).
    pub worker_id: String,
    /// Fires when the worker stops for good: a running exec is killed.
    pub hard_stop: CancellationToken,
}

impl Reviewer {
    /// Carries out `request` and closes it; a failure is recorded in the
    /// request (the api reports it), not returned.
    pub async fn carry_out(&self, request: &RunRequest) -> Result<(), StoreError> {
        let answer = match self.settings.as_ref() {
            None => Err(format!(
                "worker `{}` has no llm workspace configured",
                self.worker_id
            )),
            Some(settings) => match request.kind {
                RequestKind::Approve | RequestKind::Reject => {
                    self.review(settings, request).await?
                }
                RequestKind::Exec => self.exec(settings, request).await?,
            },
        };
        let closed = match answer {
            Ok(Some(result)) => {
                with_db_retry(|| run_requests::complete(&self.pool, request.id, &result)).await?
            }
            // A review closed itself with the run's transition.
            Ok(None) => true,
            Err(error) => {
                with_db_retry(|| run_requests::fail(&self.pool, request.id, &error)).await?
            }
        };
        if !closed {
            tracing::warn!(request.id = %request.id, "request was closed before this answer");
        }
        Ok(())
    }

    /// Approves or rejects; `Ok(Ok(None))` once the run moved on.
    async fn review(
        &self,
        settings: &ReviewSettings,
        request: &RunRequest,
    ) -> Result<Result<Option<Value>, String>, StoreError> {
        let Some(run) = with_db_retry(|| runs::get(&self.pool, request.run_id)).await? else {
            return Ok(Err("the run no longer exists".to_owned()));
        };
        if run.status != RunStatus::AwaitingApproval {
            return Ok(Err(format!(
                "the run is {}, not AWAITING_APPROVAL",
                run.status
            )));
        }
        let (project, recorded) = match self.workspace_of(&run).await? {
            Ok(found) => found,
            Err(why) => return Ok(Err(why)),
        };
        if let Err(err) = check_origin(&project, settings.allow_local_repos) {
            return Ok(Err(self.failed(&err)));
        }
        let branch = recorded.branch.clone().unwrap_or_default();
        let root = &settings.workspace_root;
        let (verdict, review) = if request.kind == RequestKind::Approve {
            let target = match request.params["target"]["merge_into"].as_str() {
                Some(into) => ApproveTarget::Merge {
                    into: into.to_owned(),
                },
                None => ApproveTarget::Keep {
                    push: request.params["target"]["push"].as_bool().unwrap_or(true),
                },
            };
            let merged_into = match &target {
                ApproveTarget::Merge { into } => Some(into.clone()),
                ApproveTarget::Keep { .. } => None,
            };
            match approve(root, &project, run.id, &recorded, target).await {
                Ok(outcome) => (
                    Verdict::Approved,
                    json!({
                        "decision": "approved",
                        "branch": branch,
                        "merged_into": merged_into,
                        "merged_commit": outcome.merged_commit,
                        "pushed_to_origin": outcome.pushed_to_origin,
                        "worker_id": self.worker_id,
                    }),
                ),
                Err(err) => return Ok(Err(self.failed(&err))),
            }
        } else {
            match reject(root, &project, run.id, &recorded).await {
                Ok(outcome) => (
                    Verdict::Rejected,
                    json!({
                        "decision": "rejected",
                        "branch": branch,
                        "branch_deleted": true,
                        "deleted_from_origin": outcome.deleted_from_origin,
                        "worker_id": self.worker_id,
                    }),
                ),
                Err(err) => return Ok(Err(self.failed(&err))),
            }
        };
        let moved = with_db_retry(|| {
            run_requests::close_review(&self.pool, request.id, run.id, verdict, &review)
        })
        .await?;
        if moved {
            tracing::info!(run.id = %run.id, decision = %review["decision"], "run reviewed");
        }
        Ok(Ok(None))
    }

    /// Runs the command; `Ok(Err(_))` is the failure to record.
    async fn exec(
        &self,
        settings: &ReviewSettings,
        request: &RunRequest,
    ) -> Result<Result<Option<Value>, String>, StoreError> {
        let Some(cmd) = request.params["cmd"].as_str() else {
            return Ok(Err("the request has no command".to_owned()));
        };
        let Some(run) = with_db_retry(|| runs::get(&self.pool, request.run_id)).await? else {
            return Ok(Err("the run no longer exists".to_owned()));
        };
        let (project, recorded) = match self.workspace_of(&run).await? {
            Ok(found) => found,
            Err(why) => return Ok(Err(why)),
        };
        let asked = request.params["timeout_s"].as_u64().unwrap_or(60);
        let timeout = Duration::from_secs(asked).min(settings.exec_timeout_max);
        let command = ExecCommand {
            sandbox: &settings.sandbox,
            cmd,
            timeout,
            output_cap: settings.output_cap,
        };
        let out = match exec_in_worktree(
            &settings.workspace_root,
            &project,
            run.id,
            &recorded,
            command,
            &self.hard_stop,
        )
        .await
        {
            Ok(out) => out,
            Err(err) => return Ok(Err(self.failed(&err))),
        };
        tracing::info!(run.id = %request.run_id, exit_code = ?out.exit_code, "exec in worktree done");
        Ok(Ok(Some(json!({
            "exit_code": out.exit_code,
            "stdout": out.stdout,
            "stderr": out.stderr,
            "truncated": out.truncated,
            "timed_out": out.timed_out,
            "limit": out.limit,
            "timeout_s": timeout.as_secs(),
            "worker_id": self.worker_id,
        }))))
    }

    /// The run's project and what its result (and its stored snapshot, read
    /// only when this worker's mirror lacks the branch's head) say about its
    /// branch; `Ok(Err(_))` names what is missing.
    async fn workspace_of(
        &self,
        run: &Run,
    ) -> Result<Result<(ProjectSpec, RunBranch), String>, StoreError> {
        let Some(project) = with_db_retry(|| projects::get(&self.pool, run.project_id)).await?
        else {
            return Ok(Err("the run's project no longer exists".to_owned()));
        };
        let snapshot = stored_branch(&self.pool, run.id);
        let recorded = RunBranch::from_result(run.result.as_ref(), snapshot);
        if recorded.branch.is_none() {
            return Ok(Err("the run's result names no branch".to_owned()));
        }
        let project = ProjectSpec {
            id: project.id,
            name: project.name,
            repo_url: project.repo_url,
            default_branch: project.default_branch,
            settings: project.settings,
        };
        Ok(Ok((project, recorded)))
    }

    /// A review error, naming this worker.
    fn failed(&self, err: &dyn std::fmt::Display) -> String {
        let said = match &self.settings {
            Some(settings) => without_root(&err.to_string(), &settings.workspace_root),
            None => err.to_string(),
        };
        format!("{said} (on worker `{}`)", self.worker_id)
    }
}
