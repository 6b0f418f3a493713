//! Test fixtures: temporary git repositories, an in-memory event sink, and a
//! harness that runs the agent against the fake LLM.

use crate::fake_llm::{FakeLlm, Scripted};
use agent_runner_agent::{
    Agent, AgentContext, AgentError, AgentOutcome, EmitError, EventSink, ProjectSpec, RunSpec,
    StoredBranch, Unmetered,
};
use agent_runner_coding_agent::{CodingAgent, CodingAgentConfig, RetryConfig};
use agent_runner_domain::EventKind;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use agent_runner_test_fixtures::git_repo::{git, origin_repo, ref_exists};

/// Collects events in memory; can be told to fence the attempt after some
/// events.
#[derive(Default)]
pub struct RecordingEvents {
    events: Mutex<Vec<(EventKind, Value)>>,
    fence_after: Option<usize>,
}

impl RecordingEvents {
    /// A sink that fails with Fenced once `n` events were written.
    pub fn fencing_after(n: usize) -> Self {
        Self {
            events: Mutex::new(Vec::new()),
            fence_after: Some(n),
        }
    }

    /// The events so far.
    pub fn events(&self) -> Vec<(EventKind, Value)> {
        self.events.lock().expect("lock").clone()
    }

    /// The kinds of the events so far.
    pub fn kinds(&self) -> Vec<EventKind> {
        self.events().into_iter().map(|(k, _)| k).collect()
    }
}

impl EventSink for RecordingEvents {
    fn emit(&self, kind: EventKind, payload: Value) -> BoxFuture<'_, Result<(), EmitError>> {
        Box::pin(async move {
            let mut events = self.events.lock().expect("lock");
            if self.fence_after.is_some_and(|n| events.len() >= n) {
                return Err(EmitError::Fenced);
            }
            events.push((kind, payload));
            Ok(())
        })
    }
}

/// One project (a local origin repository) and a workspace root, with the
/// agent pointed at a fake LLM.
pub struct Harness {
    pub llm: FakeLlm,
    pub origin: TempDir,
    pub workspace: TempDir,
    pub config: CodingAgentConfig,
    pub project: ProjectSpec,
}

impl Harness {
    /// A harness whose fake LLM serves `script`, then `then`.
    pub async fn new(script: Vec<Scripted>, then: Option<Scripted>) -> Self {
        let llm = FakeLlm::start(script, then).await;
        let origin = origin_repo();
        let workspace = tempfile::tempdir().expect("tempdir");
        let mut config = CodingAgentConfig::default();
        config.llm.base_url = llm.base_url.clone();
        config.llm.model = "test-model".to_owned();
        config.llm.request_timeout = Duration::from_secs(5);
        config.llm.retry = RetryConfig {
            max_retries: 3,
            connect_retries: 1,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
        };
        config.workspace_root = workspace.path().to_path_buf();
        config.command_timeout_default = Duration::from_secs(10);
        config.command_timeout_max = Duration::from_secs(60);
        // The origin is a directory of the test machine.
        config.allow_local_repos = true;
        config.sandbox.launcher = Some(env!("CARGO_BIN_EXE_agent-runner-sandbox").into());
        let project = ProjectSpec {
            id: Uuid::new_v4(),
            name: "demo".to_owned(),
            repo_url: Some(origin.path().to_string_lossy().into_owned()),
            default_branch: "main".to_owned(),
            settings: json!({}),
        };
        Self {
            llm,
            origin,
            workspace,
            config,
            project,
        }
    }

    /// A new run of the project.
    pub fn run(&self, goal: &str) -> RunSpec {
        RunSpec {
            id: Uuid::new_v4(),
            goal: goal.to_owned(),
            agent: "llm".to_owned(),
            params: json!({}),
            attempt: 1,
            max_attempts: 3,
            deadline: tokio::time::Instant::now() + Duration::from_secs(60),
            messages: Vec::new(),
            previous_result: None,
            branch: StoredBranch::none(),
        }
    }

    /// The project's mirror.
    pub fn mirror(&self) -> PathBuf {
        self.workspace
            .path()
            .join("mirrors")
            .join(format!("{}.git", self.project.id))
    }

    /// The run's worktree.
    pub fn worktree(&self, run: &RunSpec) -> PathBuf {
        self.workspace.path().join("runs").join(run.id.to_string())
    }

    /// Executes `run` to its end.
    pub async fn execute(
        &self,
        run: &RunSpec,
    ) -> (Result<AgentOutcome, AgentError>, RecordingEvents) {
        let events = RecordingEvents::default();
        let result = self
            .execute_with(run, &events, CancellationToken::new())
            .await;
        (result, events)
    }

    /// Executes `run` with this sink and cancellation token.
    pub async fn execute_with(
        &self,
        run: &RunSpec,
        events: &RecordingEvents,
        cancel: CancellationToken,
    ) -> Result<AgentOutcome, AgentError> {
        let agent = CodingAgent::new(self.config.clone());
        assert_eq!(agent.kind(), "llm");
        agent
            .execute(AgentContext {
                run,
                project: &self.project,
                events,
                gate: Arc::new(Unmetered),
                cancel,
            })
            .await
    }
}

/// Every tool call of every assistant message in `body` is answered by
/// exactly one tool message with its id, right after it.
pub fn assert_every_tool_call_answered_once(body: &Value) {
    let messages = body["messages"].as_array().expect("messages");
    for (index, message) in messages.iter().enumerate() {
        let Some(calls) = message["tool_calls"].as_array() else {
            continue;
        };
        let answers: Vec<&str> = messages[index + 1..]
            .iter()
            .take_while(|m| m["role"] == "tool")
            .filter_map(|m| m["tool_call_id"].as_str())
            .collect();
        let ids: Vec<&str> = calls.iter().filter_map(|c| c["id"].as_str()).collect();
        assert_eq!(
            answers, ids,
            "tool results must answer each call once, in order"
        );
    }
}

/// The tool messages of a request body: `(tool_call_id, content)`.
pub fn tool_results(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The fatal reason of a failed attempt.
pub fn fatal_reason(result: Result<AgentOutcome, AgentError>) -> String {
    match result {
        Err(AgentError::Fatal(reason)) => reason,
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

/// Whether process `pid` still runs (a zombie counts as gone).
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            state != Some("Z") && state != Some("X")
        }
        Err(_) => Command::new("kill")
            .args(["-0", &pid.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false),
    }
}

/// A process on this machine whose command line is exactly `argv`.
pub fn pid_running(argv: &[&str]) -> Option<i32> {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted)
                && process_alive(*pid)
        })
}
