//! The api as a real process (`agent-runner-api serve`), for tests of what
//! only a process has: signals, the exit status, the listening socket going
//! away. It listens on port 0; the address is read from its `api listening`
//! log line, and every log line is kept for assertions.

use crate::binaries::binary;
use crate::env::TestEnv;
use crate::spawn::base_vars;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// A running `agent-runner-api serve` process, killed when dropped.
pub struct ApiProcess {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// `http://<addr>`.
    pub base_url: String,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl ApiProcess {
    /// Starts the api binary on port 0 with `overrides` on top of the test
    /// settings (and nothing else from the test's environment), and waits
    /// until `/readyz` answers 200.
    pub async fn spawn(env: &TestEnv, overrides: &[(&str, &str)]) -> Self {
        let mut vars = base_vars(env);
        vars.extend(
            [
                ("API_ADDR", "127.0.0.1:0"),
                ("RELAY_INTERVAL_MS", "200"),
                ("LOG_FORMAT", "json"),
                ("RUST_LOG", "info"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        for (key, value) in overrides {
            vars.retain(|(k, _)| k != key);
            vars.push(((*key).to_owned(), (*value).to_owned()));
        }
        let mut child = Command::new(binary("agent-runner-api"))
            .arg("serve")
            .env_clear()
            .envs(vars)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the api process starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (listening_tx, listening_rx) = oneshot::channel();
        tokio::spawn(keep_logs(stderr, logs.clone(), listening_tx));
        let addr = match tokio::time::timeout(Duration::from_secs(20), listening_rx).await {
            Ok(Ok(addr)) => addr,
            _ => panic!(
                "the api process did not log `api listening`:\n{}",
                logs.lock().expect("logs").join("\n")
            ),
        };
        let process = Self {
            addr,
            base_url: format!("http://{addr}"),
            child,
            logs,
        };
        process.wait_ready().await;
        process
    }

    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        for _ in 0..100 {
            let ready = http.get(format!("{}/readyz", self.base_url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the api process did not become ready:\n{}", self.logs());
    }

    /// Sends SIGTERM, as Docker and the kubelet do.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the api process is running");
        let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits i32"));
        kill(pid, Signal::SIGTERM).expect("SIGTERM sent");
    }

    /// Waits at most `timeout` for the process to exit; `None` if it is
    /// still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()
            .map(|status| status.expect("wait for the api process"))
    }

    /// Every log line so far, one JSON object per line.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("logs").join("\n")
    }

    /// True when a log line carries `message`.
    pub fn logged(&self, message: &str) -> bool {
        self.logs
            .lock()
            .expect("logs")
            .iter()
            .any(|line| log_message(line).is_some_and(|m| m == message))
    }
}

/// Reads stderr to its end (so the process never blocks on a full pipe),
/// keeping every line and reporting the address of `api listening`.
async fn keep_logs(
    stderr: tokio::process::ChildStderr,
    logs: Arc<Mutex<Vec<String>>>,
    listening: oneshot::Sender<SocketAddr>,
) {
    let mut listening = Some(listening);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if log_message(&line).as_deref() == Some("api listening")
            && let Some(addr) = listening_addr(&line)
            && let Some(tx) = listening.take()
        {
            let _sent = tx.send(addr);
        }
        logs.lock().expect("logs").push(line);
    }
}

fn fields(line: &str) -> Option<Value> {
    let value: Value = serde_json::from_str(line).ok()?;
    value.get("fields").cloned()
}

fn log_message(line: &str) -> Option<String> {
    fields(line)?.get("message")?.as_str().map(str::to_owned)
}

fn listening_addr(line: &str) -> Option<SocketAddr> {
    fields(line)?.get("api.addr")?.as_str()?.parse().ok()
}
