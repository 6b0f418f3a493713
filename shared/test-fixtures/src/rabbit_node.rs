//! A private RabbitMQ node: its own node name, ports, database and logs,
//! without plugins, started in the foreground as a child process and stopped
//! with `rabbitmqctl stop`. Restarting it disturbs no other broker. Its one
//! listener is plain AMQP, or TLS with the certificates a test made
//! ([`TlsListener`]).

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long the node gets to boot or stop.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// What the node prints on standard output once it accepts connections.
const BOOTED: &str = "Starting broker... completed";

/// A TLS listener's files (PEM) and whether it asks clients for a certificate
/// signed by the CA.
#[derive(Debug, Clone)]
pub struct TlsListener {
    /// CA certificates the node trusts for client certificates.
    pub ca_file: PathBuf,
    /// The node's certificate.
    pub cert_file: PathBuf,
    /// The node's private key.
    pub key_file: PathBuf,
    /// Refuse clients without a certificate the CA signed.
    pub require_client_certificate: bool,
}

/// A private RabbitMQ node.
#[derive(Debug)]
pub struct RabbitNode {
    bin: PathBuf,
    dir: PathBuf,
    node: String,
    /// The AMQP (or AMQPS) port on 127.0.0.1.
    pub port: u16,
    dist_port: u16,
    tls: bool,
    child: Option<Child>,
}

impl RabbitNode {
    /// Prepares a node under `dir`, listening with `tls` when given, and starts it.
    pub async fn create(dir: &Path, tls: Option<TlsListener>) -> io::Result<Self> {
        let bin = [
            "/usr/lib/rabbitmq/bin",
            "/usr/lib/rabbitmq/sbin",
            "/usr/sbin",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|d| d.join("rabbitmq-server").is_file())
        .ok_or_else(|| {
            io::Error::other(
                "rabbitmq-server not found (is the rabbitmq-server package installed?)",
            )
        })?;
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        // Nothing from the machine's /etc/rabbitmq/rabbitmq-env.conf.
        std::fs::write(dir.join("rabbitmq-env.conf"), "")?;
        // The same consumer_timeout as the shipped configuration.
        let mut conf = String::from("consumer_timeout = 7200000\n");
        match &tls {
            None => conf.push_str(&format!("listeners.tcp.default = 127.0.0.1:{port}\n")),
            Some(tls) => conf.push_str(&format!(
                "listeners.tcp = none\n\
                 listeners.ssl.default = 127.0.0.1:{port}\n\
                 ssl_options.cacertfile = {}\n\
                 ssl_options.certfile = {}\n\
                 ssl_options.keyfile = {}\n\
                 ssl_options.verify = {}\n\
                 ssl_options.fail_if_no_peer_cert = {}\n",
                tls.ca_file.display(),
                tls.cert_file.display(),
                tls.key_file.display(),
                if tls.require_client_certificate {
                    "verify_peer"
                } else {
                    "verify_none"
                },
                tls.require_client_certificate,
            )),
        }
        std::fs::write(dir.join("rabbitmq.conf"), conf)?;
        let mut node = Self {
            bin,
            dir: dir.to_owned(),
            node: format!("private{port}@localhost"),
            port,
            dist_port: free_port()?,
            tls: tls.is_some(),
            child: None,
        };
        node.start().await?;
        Ok(node)
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`, `amqps://` with TLS.
    pub fn amqp_url(&self) -> String {
        let scheme = if self.tls { "amqps" } else { "amqp" };
        format!("{scheme}://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        let dir = &self.dir;
        command
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            // Erlang writes crash dumps (MnesiaCore.*, erl_crash.dump) to its
            // working directory: keep them in the node's own.
            .current_dir(dir)
            .stdin(Stdio::null());
        command
    }

    /// Starts the node and waits until it has booted (it prints so once its
    /// listener accepts connections).
    pub async fn start(&mut self) -> io::Result<()> {
        let out = self.dir.join("server.out");
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&out)?;
        let before = log.metadata()?.len();
        let child = self
            .command("rabbitmq-server")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + BOOT_TIMEOUT;
        loop {
            let printed = std::fs::read(&out)?;
            let this_boot = printed.get(before as usize..).unwrap_or_default();
            if String::from_utf8_lossy(this_boot).contains(BOOTED) {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(io::Error::other(format!(
                    "rabbitmq-server exited ({status}); see {}",
                    out.display()
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "RabbitMQ node {} did not boot in {BOOT_TIMEOUT:?}; see {}",
                    self.node,
                    out.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the node's process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops the node (`rabbitmqctl stop`) and waits for the process to exit.
    pub async fn stop(&mut self) -> io::Result<()> {
        let output = self
            .command("rabbitmqctl")
            .args(["-n", &self.node, "stop"])
            .output()
            .await;
        if let Some(mut child) = self.child.take()
            && tokio::time::timeout(BOOT_TIMEOUT, child.wait())
                .await
                .is_err()
        {
            child.start_kill().ok();
            let _reaped = child.wait().await;
        }
        let output = output?;
        if output.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "rabbitmqctl stop failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }

    /// Stops the node and removes its directory.
    pub async fn destroy(mut self) {
        if let Err(err) = self.stop().await {
            eprintln!("rabbitmq node {}: {err}", self.node);
        }
        let _removed = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port on 127.0.0.1 that was free a moment ago (the node binds it itself).
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
