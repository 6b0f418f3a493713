//! A `git daemon` on 127.0.0.1 serving one bare repository over `git://`:
//! a project repository that is a remote, not a directory on the worker's
//! machine, that accepts pushes or refuses them. And [`SilentRemote`]: a
//! `git://` remote that takes connections and never answers.

use crate::git_repo::git;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long the daemon may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `git daemon`, killed (and reaped) when dropped.
pub struct GitDaemon {
    child: Child,
    base: TempDir,
    port: u16,
}

impl GitDaemon {
    /// Serves a bare clone of `source` as `repo.git`; pushes are accepted
    /// only when `accept_pushes`.
    pub async fn serve(source: &Path, accept_pushes: bool) -> Self {
        let base = tempfile::tempdir().expect("tempdir");
        let source = source.to_string_lossy();
        git(
            base.path(),
            &["clone", "--bare", "--quiet", &source, "repo.git"],
        );
        // git daemon can not be told to take port 0 and report it: take a
        // free port, release it, and try again should another process win it.
        for _ in 0..5 {
            let port = free_port();
            let mut command = Command::new(daemon_program());
            command
                .arg("--reuseaddr")
                .arg("--export-all")
                .arg("--listen=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", base.path().display()));
            if accept_pushes {
                command.arg("--enable=receive-pack");
            }
            // No pipes: the daemon's connection processes hold nothing of
            // the test's.
            let mut child = command
                .arg(base.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start git daemon");
            if listening(&mut child, port).await {
                return Self { child, base, port };
            }
            stop(&mut child);
        }
        panic!("git daemon did not start");
    }

    /// `git://127.0.0.1:<port>/repo.git`.
    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/repo.git", self.port)
    }

    /// The served bare repository, to look into.
    pub fn repo(&self) -> PathBuf {
        self.base.path().join("repo.git")
    }

    /// Makes the repository refuse every push to `branch` (an `update` hook,
    /// which judges each ref on its own), saying `<branch> is protected`.
    pub fn protect_branch(&self, branch: &str) {
        use std::os::unix::fs::PermissionsExt;
        let hook = self.repo().join("hooks").join("update");
        std::fs::create_dir_all(hook.parent().expect("hooks dir")).expect("mkdir hooks");
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = \"refs/heads/{branch}\" ]; then\n  echo \"{branch} is protected\" >&2\n  exit 1\nfi\nexit 0\n"
        );
        std::fs::write(&hook, script).expect("write hook");
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
            .expect("chmod hook");
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The `git-daemon` program itself. `git daemon` would run it as a child
/// of its own, which killing `git` leaves behind, listening.
fn daemon_program() -> PathBuf {
    let output = Command::new("git")
        .arg("--exec-path")
        .output()
        .expect("git --exec-path");
    assert!(output.status.success(), "git --exec-path failed");
    let exec_path = String::from_utf8(output.stdout).expect("exec path is UTF-8");
    Path::new(exec_path.trim()).join("git-daemon")
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Whether the daemon accepts connections before it exits or times out.
async fn listening(child: &mut Child, port: u16) -> bool {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        if child.try_wait().expect("git daemon status").is_some() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A `git://` address whose server accepts connections and never says a
/// word; stops when dropped.
pub struct SilentRemote {
    port: u16,
    task: JoinHandle<()>,
}

impl SilentRemote {
    /// Listens on 127.0.0.1:0.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Self { port, task }
    }

    /// `git://127.0.0.1:<port>/repo.git`.
    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/repo.git", self.port)
    }
}

impl Drop for SilentRemote {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git_repo::origin_repo;

    #[tokio::test]
    async fn a_dropped_daemon_leaves_nothing_listening() {
        let origin = origin_repo();
        let daemon = GitDaemon::serve(origin.path(), false).await;
        let port = daemon.port;
        git(
            origin.path(),
            &["ls-remote", "--exit-code", &daemon.url(), "HEAD"],
        );
        drop(daemon);
        assert!(
            TcpStream::connect(("127.0.0.1", port)).await.is_err(),
            "a daemon process outlived its GitDaemon and still listens"
        );
    }
}
