//! [`CodingAgent`]: the `llm` agent kind, tying the pieces together for one
//! attempt — settings, workspace, loop, commit, diff, cleanup.

use crate::agent_loop::{self, LoopInput, interrupted};
use crate::config::CodingAgentConfig;
use crate::conversation;
use crate::llm::{Message, OpenAiCompatibleClient};
use crate::metering::Meter;
use crate::params::{RunSettings, resolve};
use crate::sandbox::Sandbox;
use crate::tools::{CommandPlace, ToolBox, ToolLimits};
use crate::workspace::mirror;
use crate::workspace::snapshot::{self, Captured};
use crate::workspace::{self, Prepared, RunBranch, diff};
use agent_runner_agent::{Agent, AgentContext, AgentError, AgentOutcome, Allowance};
use agent_runner_domain::EventKind;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The `llm` agent: an OpenAI-compatible model with tools, in a git worktree.
#[derive(Debug, Clone)]
pub struct CodingAgent {
    config: CodingAgentConfig,
    sandbox: Arc<Sandbox>,
}

impl CodingAgent {
    /// An agent for all runs of a worker.
    pub fn new(config: CodingAgentConfig) -> Self {
        let sandbox = Arc::new(Sandbox::new(config.sandbox.clone()));
        Self { config, sandbox }
    }

    /// Its configuration.
    pub fn config(&self) -> &CodingAgentConfig {
        &self.config
    }

    /// The sandbox its commands run in (shared with the worker's `exec`).
    pub fn sandbox(&self) -> Arc<Sandbox> {
        Arc::clone(&self.sandbox)
    }

    /// The shared allowance a run's calls draw from: its endpoint and model,
    /// under this worker's limits.
    fn allowance(&self, settings: &RunSettings) -> Allowance {
        Allowance {
            key: format!(
                "{}/chat/completions {}",
                settings.llm.base_url.trim_end_matches('/'),
                settings.llm.model
            ),
            requests_per_minute: self.config.rate_limits.requests_per_minute,
            tokens_per_minute: self.config.rate_limits.tokens_per_minute,
        }
    }
}

impl Agent for CodingAgent {
    fn kind(&self) -> &'static str {
        "llm"
    }

    fn execute<'a>(
        &'a self,
        ctx: AgentContext<'a>,
    ) -> BoxFuture<'a, Result<AgentOutcome, AgentError>> {
        let span = tracing::info_span!(
            "llm_agent",
            run.id = %ctx.run.id,
            attempt = ctx.run.attempt,
            project.id = %ctx.project.id,
        );
        Box::pin(self.execute_attempt(ctx).instrument(span))
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl CodingAgent {
    async fn execute_attempt(&self, ctx: AgentContext<'_>) -> Result<AgentOutcome, AgentError> {
        let settings = resolve(&self.config, &ctx.project.settings, &ctx.run.params)
            .map_err(AgentError::Fatal)?;
        // A setting read only at the end is checked before the work starts.
        mirror::pushes_branches(&ctx.project.settings)
            .map_err(|e| AgentError::Fatal(e.to_string()))?;
        let network_open = agent_runner_domain::llm_settings::network_open(&ctx.project.settings)
            .map_err(AgentError::Fatal)?;
        // Fail closed: no run starts whose commands could not be sandboxed.
        self.sandbox
            .ready()
            .await
            .map_err(|e| AgentError::Fatal(e.to_string()))?;
        // One token for everything that must stop: a cancel or the deadline.
        let stop = ctx.cancel.child_token();
        let deadline = ctx.run.deadline;
        let _timer = AbortOnDrop(tokio::spawn({
            let stop = stop.clone();
            async move {
                tokio::time::sleep_until(deadline).await;
                stop.cancel();
            }
        }));

        let previous = Previous::read(ctx.run.previous_result.as_ref(), ctx.run.branch.clone());
        let root = &self.config.workspace_root;
        workspace::check_origin(ctx.project, self.config.allow_local_repos)
            .map_err(|e| AgentError::Fatal(format!("workspace: {e}")))?;
        let shown = |e: &workspace::WorkspaceError| workspace::without_root(&e.to_string(), root);
        let prepared = tokio::select! {
            biased;
            () = stop.cancelled() => return Err(interrupted(deadline)),
            prepared = workspace::prepare(root, ctx.project, ctx.run.id, &ctx.run.goal, &previous.continuation) => {
                prepared.map_err(|e| match e {
                    workspace::WorkspaceError::Unavailable(_) => AgentError::Transient(format!("workspace: {}", shown(&e))),
                    e => AgentError::Fatal(format!("workspace: {}", shown(&e))),
                })?
            }
        };
        let result = self
            .work(&ctx, &settings, &stop, &prepared, previous, network_open)
            .await;
        let keep = match &result {
            Ok(outcome) => outcome.awaiting_approval,
            // A newer attempt owns the run and may be using the worktree.
            Err(AgentError::Fenced) => true,
            Err(_) => false,
        };
        let released = if keep {
            Ok(())
        } else {
            workspace::release(root, ctx.project.id, ctx.run.id).await
        };
        if let Err(e) = released {
            tracing::warn!(run.id = %ctx.run.id, error = %e, "could not remove the run's worktree");
        }
        result
    }

    async fn work(
        &self,
        ctx: &AgentContext<'_>,
        settings: &RunSettings,
        stop: &CancellationToken,
        prepared: &Prepared,
        previous: Previous,
        network_open: bool,
    ) -> Result<AgentOutcome, AgentError> {
        let sandbox = self.sandbox.describe(network_open).await;
        tracing::info!(
            branch = %prepared.branch,
            start_commit = %prepared.start_commit,
            worktree = prepared.attached.as_str(),
            branch_source = prepared.source.as_str(),
            model = %settings.llm.model,
            "llm run workspace ready"
        );
        ctx.events
            .emit(
                EventKind::WorkspaceReady,
                json!({
                    "branch": prepared.branch,
                    "start_commit": prepared.start_commit,
                    "path": prepared.path.display().to_string(),
                    "worktree": prepared.attached.as_str(),
                    "branch_source": prepared.source.as_str(),
                    "fetch_error": prepared.fetch_error,
                    "sandbox": sandbox,
                }),
            )
            .await?;
        let limits = ToolLimits {
            command_timeout_default: self.config.command_timeout_default,
            command_timeout_max: self.config.command_timeout_max,
            output_cap: self.config.output_cap,
        };
        let place = CommandPlace {
            sandbox: self.sandbox(),
            git_dir: Some(workspace::mirror_path(
                &self.config.workspace_root,
                ctx.project.id,
            )),
            network_open,
        };
        let tools = ToolBox::new(&prepared.path, limits, place).map_err(|e| {
            AgentError::Fatal(format!("workspace: {}: {e}", prepared.path.display()))
        })?;
        let allowance = self.allowance(settings);
        let client = OpenAiCompatibleClient::new(&settings.llm)
            .map_err(|e| AgentError::Fatal(e.to_string()))?
            .reporting_to(Arc::clone(&ctx.gate), allowance.clone());
        let (messages, messages_handled) = conversation::initial(
            ctx.run,
            ctx.project,
            &prepared.branch,
            previous.conversation,
        );

        let end = agent_loop::run(
            LoopInput {
                model: &client,
                model_name: &settings.llm.model,
                tools: &tools,
                events: ctx.events,
                stop,
                deadline: ctx.run.deadline,
                max_iterations: settings.max_iterations,
                token_budget: settings.token_budget,
                meter: Meter {
                    gate: ctx.gate.as_ref(),
                    allowance: &allowance,
                    events: ctx.events,
                    project: &ctx.project.name,
                    stop,
                    deadline: ctx.run.deadline,
                },
            },
            messages,
        )
        .await?;

        let root = &self.config.workspace_root;
        let git_failed = |e: workspace::WorkspaceError| {
            AgentError::Fatal(format!(
                "workspace: {}",
                workspace::without_root(&e.to_string(), root)
            ))
        };
        workspace::reclaim(prepared).await.map_err(git_failed)?;
        diff::commit_all(
            &prepared.dirs,
            &commit_message(&end.summary, ctx.run.id, &ctx.run.goal),
        )
        .await
        .map_err(git_failed)?;
        let head = diff::head(&prepared.dirs).await.map_err(git_failed)?;
        let changes = diff::summarise(
            &prepared.dirs.common_dir,
            &prepared.start_commit,
            &head,
            self.config.diff_cap,
        )
        .await
        .map_err(git_failed)?;
        let captured = snapshot::capture(
            &self.config.workspace_root,
            &workspace::mirror_path(&self.config.workspace_root, ctx.project.id),
            &prepared.branch,
            &prepared.start_commit,
            &head,
            self.config.snapshot_cap,
        )
        .await
        .map_err(git_failed)?;
        let (branch_snapshot, snapshot_note) = match captured {
            Captured::Stored(s) => {
                let note = json!({"stored": true, "bytes": s.bundle.len()});
                (Some(s), note)
            }
            Captured::Unchanged => (None, json!({"stored": false, "reason": "no commits"})),
            Captured::TooLarge { bytes } => {
                tracing::warn!(branch = %prepared.branch, bytes, cap = self.config.snapshot_cap,
                    "branch snapshot too large to store; only this worker can continue the run");
                let reason = format!(
                    "bundle of {bytes} bytes exceeds AGENT_SNAPSHOT_MAX_BYTES ({})",
                    self.config.snapshot_cap
                );
                (
                    None,
                    json!({"stored": false, "bytes": bytes, "reason": reason}),
                )
            }
        };
        let pushed = match mirror::push_run_branch(
            &self.config.workspace_root,
            ctx.project,
            &prepared.branch,
        )
        .await
        {
            None => Value::Null,
            Some(Ok(())) => json!({"pushed": true}),
            Some(Err(reason)) => {
                tracing::warn!(branch = %prepared.branch, error = %reason,
                    "could not push the run's branch to the project's repository");
                json!({"pushed": false, "reason": reason})
            }
        };
        tracing::info!(
            branch = %prepared.branch,
            iterations = end.iterations,
            tokens.total = end.usage.total_tokens,
            files_changed = changes.files_changed,
            "llm run finished"
        );
        ctx.events
            .emit(
                EventKind::DiffReady,
                json!({
                    "files_changed": changes.files_changed,
                    "insertions": changes.insertions,
                    "deletions": changes.deletions,
                    "diffstat": changes.diffstat,
                    "push": pushed,
                }),
            )
            .await?;

        let result = json!({
            "summary": end.summary,
            "branch": prepared.branch,
            "start_commit": prepared.start_commit,
            "head_commit": head,
            "diff": changes.diff,
            "diff_truncated": changes.diff_truncated,
            "diffstat": changes.diffstat,
            "files_changed": changes.files_changed,
            "insertions": changes.insertions,
            "deletions": changes.deletions,
            "iterations": end.iterations,
            "cut_off_replies": end.cut_off,
            "usage": end.usage,
            "model": settings.llm.model,
            "conversation": end.messages,
            "messages_handled": messages_handled,
            "snapshot": snapshot_note,
            "push": pushed,
        });
        Ok(AgentOutcome {
            result,
            awaiting_approval: settings.require_approval,
            branch: branch_snapshot,
        })
    }
}

/// What the run's previous result lets this attempt continue from.
struct Previous {
    continuation: RunBranch,
    conversation: Option<(Vec<Message>, usize)>,
}

impl Previous {
    fn read(result: Option<&Value>, snapshot: agent_runner_agent::StoredBranch) -> Self {
        let conversation = result
            .and_then(|r| r.get("conversation"))
            .and_then(|c| serde_json::from_value::<Vec<Message>>(c.clone()).ok())
            .map(|messages| {
                let handled = result
                    .and_then(|r| r.get("messages_handled"))
                    .and_then(Value::as_u64)
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0);
                (messages, handled)
            });
        Previous {
            continuation: RunBranch::from_result(result, snapshot),
            conversation,
        }
    }
}

/// Subject from the summary's first line; the body names the run and goal.
fn commit_message(summary: &str, run_id: uuid::Uuid, goal: &str) -> String {
    let first = summary
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("agent-runner changes");
    let subject: String = first.trim().chars().take(72).collect();
    format!("{subject}\n\n{summary}\n\nRun: {run_id}\nGoal: {goal}\n")
}
