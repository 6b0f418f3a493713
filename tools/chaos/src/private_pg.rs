//! A private PostgreSQL instance: its own data directory and port, started
//! with `pg_ctl` (as the `postgres` user when the suite runs as root, since
//! PostgreSQL refuses root), stopped with `-m immediate` to simulate a crash.
//! Restarting it disturbs no other PostgreSQL on the machine.

use agent_runner_fleet::free_local_addr;
use anyhow::{Context, bail};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// A private PostgreSQL server.
#[derive(Debug)]
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    /// The TCP port it listens on (127.0.0.1).
    pub port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Creates a cluster under `dir` (which must not exist) and starts it.
    pub async fn create(dir: &Path) -> anyhow::Result<Self> {
        let bin = server_bin_dir()?;
        let as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        if as_postgres {
            run(Command::new("chown").arg("postgres").arg(dir), "chown").await?;
        }
        let pg = Self {
            bin,
            dir: dir.to_owned(),
            port: free_local_addr()?.port(),
            as_postgres,
        };
        let data = pg.data_dir();
        let mut initdb = pg.command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(&mut initdb, "initdb").await?;
        pg.start().await?;
        Ok(pg)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// The admin URL (database `postgres`).
    pub fn admin_url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of database `name`.
    pub fn url_for(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=on",
            self.port,
            self.dir.display()
        );
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        run(&mut pg_ctl, "pg_ctl start").await
    }

    /// Stops the server: `immediate` is a crash (recovery from the WAL on
    /// the next start), `fast` a clean stop.
    pub async fn stop(&self, mode: &str) -> anyhow::Result<()> {
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", mode, "-w", "-t", "60", "stop"]);
        run(&mut pg_ctl, "pg_ctl stop").await
    }

    /// Stops the server and removes its directory.
    pub async fn destroy(self) {
        if let Err(err) = self.stop("fast").await {
            eprintln!("chaos: {err:#}");
        }
        let _removed = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` (Debian's layout).
fn server_bin_dir() -> anyhow::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL server binaries not found under /usr/lib/postgresql")?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!("no pg_ctl under /usr/lib/postgresql/*/bin"),
    }
}

/// Runs a command to completion; an error carries its output.
pub async fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .output()
        .await
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
