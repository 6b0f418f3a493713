//! A private RabbitMQ node: its own node name, ports, database and logs,
//! without plugins, started in the foreground as a child process and stopped
//! with `rabbitmqctl stop`. Restarting it disturbs no other broker.

use crate::private_pg::run;
use agent_runner_fleet::free_local_addr;
use agent_runner_queue::connect;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long the node gets to boot or stop.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// A private RabbitMQ node.
#[derive(Debug)]
pub struct PrivateRabbit {
    bin: PathBuf,
    dir: PathBuf,
    node: String,
    /// The AMQP port (127.0.0.1).
    pub port: u16,
    dist_port: u16,
    child: Option<Child>,
}

impl PrivateRabbit {
    /// Prepares a node under `dir` and starts it.
    pub async fn create(dir: &Path) -> anyhow::Result<Self> {
        let bin = [
            "/usr/lib/rabbitmq/bin",
            "/usr/lib/rabbitmq/sbin",
            "/usr/sbin",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|d| d.join("rabbitmq-server").is_file())
        .context("rabbitmq-server not found (is the rabbitmq-server package installed?)")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let port = free_local_addr()?.port();
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        // The same consumer_timeout as the shipped configuration.
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.default = {port}\nconsumer_timeout = 7200000\n"),
        )?;
        let mut mq = Self {
            bin,
            dir: dir.to_owned(),
            node: format!("chaos{port}@localhost"),
            port,
            dist_port: free_local_addr()?.port(),
            child: None,
        };
        mq.start().await?;
        Ok(mq)
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        let dir = &self.dir;
        command
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            .stdin(Stdio::null());
        command
    }

    /// Starts the node and waits until it accepts AMQP connections.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("server.out"))?;
        let child = self
            .command("rabbitmq-server")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("cannot start rabbitmq-server")?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + BOOT_TIMEOUT;
        loop {
            // Bounded: a node still booting may take the connection and not answer.
            let attempt = connect::connect_within(
                &self.amqp_url(),
                "chaos-boot-probe",
                Duration::from_secs(2),
            )
            .await;
            if let Ok(connection) = attempt {
                let _closed = connection.close(200, "ready".into()).await;
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "rabbitmq-server exited ({status}); see {}",
                    self.dir.join("server.out").display()
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "RabbitMQ node {} did not boot in {BOOT_TIMEOUT:?}",
                    self.node
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Whether the node's process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops the node (`rabbitmqctl stop`) and waits for the process to exit.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let mut ctl = self.command("rabbitmqctl");
        ctl.args(["-n", &self.node, "stop"]);
        let stopped = run(&mut ctl, "rabbitmqctl stop").await;
        if let Some(mut child) = self.child.take()
            && tokio::time::timeout(BOOT_TIMEOUT, child.wait())
                .await
                .is_err()
        {
            child.start_kill().ok();
            let _reaped = child.wait().await;
        }
        stopped
    }

    /// Stops the node and removes its directory.
    pub async fn destroy(mut self) {
        if let Err(err) = self.stop().await {
            eprintln!("chaos: {err:#}");
        }
        let _removed = std::fs::remove_dir_all(&self.dir);
    }
}
