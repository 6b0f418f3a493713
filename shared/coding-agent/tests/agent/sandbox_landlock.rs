//! The sandbox without namespaces (`AGENT_SANDBOX=landlock`, what a
//! platform that allows no user namespaces gets): Landlock keeps files
//! outside the worktree and TCP connections out and scopes signals, seccomp
//! refuses ptrace — seen refused from the outside too — while work in the
//! worktree still succeeds.

use crate::helpers::{Harness, process_alive};
use crate::sandbox_escapes::{connect, python, refused, run_commands_with, succeeded};
use agent_runner_coding_agent::sandbox::SandboxMode;
use std::net::TcpListener;
use std::path::Path;

#[tokio::test]
async fn landlock_alone_keeps_files_connections_and_other_processes_out() {
    let mut h = Harness::new(Vec::new(), None).await;
    h.config.sandbox.mode = SandboxMode::Landlock;
    let home = std::env::var("HOME").expect("HOME");
    let secret = Path::new(&home).join(format!(".sandbox-landlock-{}", uuid::Uuid::new_v4()));
    std::fs::write(&secret, "CONFIDENTIAL\n").expect("write");
    let outside = tempfile::tempdir().expect("tempdir");
    let planted = outside.path().join("planted.txt");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let mut bystander = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    let pid = i32::try_from(bystander.id()).expect("pid");
    let ptrace = python(&format!(
        "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); r = libc.ptrace(16, {pid}, 0, 0); exit(0 if r == 0 else 1)"
    ));

    let results = run_commands_with(
        &mut h,
        &[
            ("read_home", format!("cat {}", secret.display())),
            ("write_outside", format!("echo x > {}", planted.display())),
            ("postgres", connect(5432)),
            ("listener", connect(port)),
            ("kill", format!("kill -KILL {pid}")),
            ("ptrace", ptrace),
            (
                "work",
                "echo hi > note.txt && cat note.txt && git diff --stat".to_owned(),
            ),
        ],
        &[
            "landlock_fs",
            "landlock_tcp",
            "landlock_scope",
            "seccomp",
            "rlimits",
        ],
    )
    .await;

    assert!(!refused(&results, "read_home").contains("CONFIDENTIAL"));
    refused(&results, "write_outside");
    assert!(!planted.exists(), "a file was written outside the worktree");
    for id in ["postgres", "listener"] {
        assert!(!refused(&results, id).contains("connected"), "{id}");
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection reached the listener"
    );
    refused(&results, "kill");
    refused(&results, "ptrace");
    assert!(process_alive(pid), "the bystander was killed");
    assert!(succeeded(&results, "work").contains("hi"));
    let _ = bystander.kill();
    let _ = bystander.wait();
    let _ = std::fs::remove_file(&secret);
}
