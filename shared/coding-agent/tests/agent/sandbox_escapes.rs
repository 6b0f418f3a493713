//! Every escape a command might try goes through `run_command` and is
//! refused by the sandbox — and seen refused from the outside — while
//! ordinary work (files in the worktree, python3, cc, git) still succeeds.

use crate::fake_llm::{FakeLlm, calls, finish};
use crate::helpers::{Harness, process_alive, tool_results};
use agent_runner_coding_agent::sandbox::Limits;
use serde_json::json;
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;

/// The tool results of a run's one batch of calls, by call id, under the
/// full sandbox.
async fn run_commands(h: &mut Harness, commands: &[(&str, String)]) -> HashMap<String, String> {
    run_commands_with(
        h,
        commands,
        &["namespaces", "landlock_fs", "seccomp", "rlimits"],
    )
    .await
}

/// The tool results of a run's one batch of calls, by call id, checking
/// that the run's WORKSPACE_READY names each of `layers`.
pub(crate) async fn run_commands_with(
    h: &mut Harness,
    commands: &[(&str, String)],
    layers: &[&str],
) -> HashMap<String, String> {
    let batch: Vec<(&str, &str, serde_json::Value)> = commands
        .iter()
        .map(|(id, cmd)| (*id, "run_command", json!({"cmd": cmd, "timeout_s": 20})))
        .collect();
    h.llm = FakeLlm::start(vec![calls(&batch), finish("done", "Tried.")], None).await;
    h.config.llm.base_url = h.llm.base_url.clone();
    let run = h.run("Try to escape");
    let (result, events) = h.execute(&run).await;
    result.expect("refusals do not end the run");
    let ready = &events.events()[0].1;
    assert_eq!(ready["sandbox"]["mode"], "sandboxed", "{ready}");
    let active = ready["sandbox"]["layers"].to_string();
    for layer in layers {
        assert!(active.contains(layer), "{layer} missing: {active}");
    }
    tool_results(&h.llm.bodies()[1]).into_iter().collect()
}

pub(crate) fn python(code: &str) -> String {
    format!("python3 -c '{code}'")
}

pub(crate) fn connect(port: u16) -> String {
    python(&format!(
        "import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=2); print(\"connected\")"
    ))
}

pub(crate) fn refused(results: &HashMap<String, String>, id: &str) -> String {
    let text = results
        .get(id)
        .unwrap_or_else(|| panic!("no result for {id}"));
    assert!(
        !text.starts_with("exit code: 0"),
        "{id} was not refused: {text}"
    );
    text.clone()
}

pub(crate) fn succeeded(results: &HashMap<String, String>, id: &str) -> String {
    let text = results
        .get(id)
        .unwrap_or_else(|| panic!("no result for {id}"));
    assert!(text.starts_with("exit code: 0"), "{id} failed: {text}");
    text.clone()
}

#[tokio::test]
async fn files_outside_the_worktree_can_not_be_read_or_written_but_the_worktree_can() {
    let mut h = Harness::new(Vec::new(), None).await;
    let home = std::env::var("HOME").expect("HOME");
    let home_secret = Path::new(&home).join(format!(".sandbox-test-{}", uuid::Uuid::new_v4()));
    std::fs::write(&home_secret, "CONFIDENTIAL\n").expect("write");
    let other_run = h
        .workspace
        .path()
        .join("runs")
        .join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&other_run).expect("mkdir");
    std::fs::write(other_run.join("secret.txt"), "CONFIDENTIAL\n").expect("write");
    let sibling = tempfile::tempdir().expect("tempdir");
    std::fs::write(sibling.path().join("secret.txt"), "CONFIDENTIAL\n").expect("write");
    let outside = tempfile::tempdir().expect("tempdir");
    let planted = outside.path().join("planted.txt");
    let mirror_config = h.mirror().join("config");
    let root_other = h.workspace.path().join("other");
    std::fs::create_dir_all(&root_other).expect("mkdir");
    std::fs::write(root_other.join("secret.txt"), "CONFIDENTIAL\n").expect("write");

    let results = run_commands(
        &mut h,
        &[
            ("home", format!("cat {}", home_secret.display())),
            ("other_run", format!("cat {}/secret.txt", other_run.display())),
            ("root_other", format!("cat {}/secret.txt", root_other.display())),
            ("sibling", format!("cat {}/secret.txt", sibling.path().display())),
            ("write", format!("echo x > {}", planted.display())),
            ("git_write", format!("echo '[alias]' >> {}", mirror_config.display())),
            ("shadow", "cat /etc/shadow".to_owned()),
            ("make", "echo made > made.txt && echo changed >> README.md && cat made.txt".to_owned()),
            ("tmp", "echo t > /tmp/t && cat /tmp/t && echo h > $HOME/h && ls -A $HOME".to_owned()),
            ("python", python("print(6 * 7)")),
            ("cc", "printf \"int main(void){return 0;}\" > /tmp/m.c && cc /tmp/m.c -o /tmp/m && /tmp/m && echo compiled".to_owned()),
            ("git", "git diff --stat && git log --oneline -1".to_owned()),
        ],
    )
    .await;
    std::fs::remove_file(&home_secret).expect("remove");

    for id in [
        "home",
        "other_run",
        "root_other",
        "sibling",
        "write",
        "git_write",
        "shadow",
    ] {
        let text = refused(&results, id);
        assert!(
            !text.contains("CONFIDENTIAL") && !text.contains("root:"),
            "{id} leaked: {text}"
        );
    }
    assert!(!planted.exists(), "a file was written outside the worktree");
    let config = std::fs::read_to_string(&mirror_config).expect("mirror config");
    assert!(!config.contains("[alias]"), "the git metadata was written");
    assert!(succeeded(&results, "make").contains("made"));
    assert!(succeeded(&results, "tmp").ends_with("t\nh\n"));
    assert!(succeeded(&results, "python").contains("42"));
    assert!(succeeded(&results, "cc").contains("compiled"));
    assert!(succeeded(&results, "git").contains("README.md"));
}

#[tokio::test]
async fn no_loopback_service_is_reachable_and_no_secret_is_in_the_environment() {
    let mut h = Harness::new(Vec::new(), None).await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let llm_port = h
        .llm
        .base_url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .unwrap_or("0")
        .to_owned();

    let results = run_commands(
        &mut h,
        &[
            ("postgres", connect(5432)),
            ("rabbitmq", connect(5672)),
            ("api", connect(port)),
            ("llm", connect(llm_port.parse().expect("port"))),
            ("env", "env".to_owned()),
        ],
    )
    .await;

    for id in ["postgres", "rabbitmq", "api", "llm"] {
        assert!(!refused(&results, id).contains("connected"), "{id}");
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection reached the listener"
    );
    let env = succeeded(&results, "env");
    let allowed = [
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "AGENT_RUNNER_COMMAND",
        "PWD",
        "SHLVL",
        "OLDPWD",
        "_",
    ];
    for line in env.lines().skip(2).filter(|l| l.contains('=')) {
        let key = line.split('=').next().unwrap_or_default();
        assert!(allowed.contains(&key), "{key} reached the command: {env}");
    }
}

#[tokio::test]
async fn other_processes_can_not_be_signalled_or_traced() {
    let mut h = Harness::new(Vec::new(), None).await;
    let mut bystander = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    let pid = i32::try_from(bystander.id()).expect("pid");
    let me = std::process::id();
    let ptrace = python(&format!(
        "import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); r = libc.ptrace(16, {pid}, 0, 0); print(r, os.strerror(ctypes.get_errno())); exit(0 if r == 0 else 1)"
    ));

    let results = run_commands(
        &mut h,
        &[
            ("kill", format!("kill -KILL {pid}")),
            ("kill_worker", format!("kill -TERM {me}")),
            ("ptrace", ptrace),
            ("unshare", "unshare --user --map-root-user true".to_owned()),
        ],
    )
    .await;

    for id in ["kill", "kill_worker", "ptrace", "unshare"] {
        refused(&results, id);
    }
    assert!(process_alive(pid), "the bystander was killed");
    let _ = bystander.kill();
    let _ = bystander.wait();
}

#[tokio::test]
async fn limits_stop_fork_bombs_big_allocations_and_big_files_and_say_so() {
    let mut h = Harness::new(Vec::new(), None).await;
    h.config.sandbox.limits = Limits {
        memory_mib: 384,
        processes: 64,
        cpu_s: 60,
        file_mib: 8,
    };
    let results = run_commands(
        &mut h,
        &[
            (
                "forks",
                "for i in $(seq 200); do sleep 5 & done; wait".to_owned(),
            ),
            ("memory", python("x = bytearray(1 << 30)")),
            ("disk", "head -c 20000000 /dev/zero > big.bin".to_owned()),
            ("after", "echo still fine".to_owned()),
        ],
    )
    .await;

    assert!(refused(&results, "forks").contains("killed: process limit (64)"));
    assert!(refused(&results, "memory").contains("killed: memory limit (384 MiB)"));
    assert!(refused(&results, "disk").contains("killed: file size limit (8 MiB)"));
    assert!(succeeded(&results, "after").contains("still fine"));
}
