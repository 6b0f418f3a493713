//! `llm` runs through the api while other things happen: a cancel during a
//! long command, and two runs of one project at once.

use super::{ENDED, Setup};
use agent_runner_test_fixtures::fake_llm::{Scripted, calls, finish};
use agent_runner_test_fixtures::git_repo::git;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Whether process `pid` still runs (a zombie counts as gone).
fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next());
        state != Some("Z") && state != Some("X")
    })
}

/// Waits up to 20 s for a process whose command line is exactly `argv`
/// (found from the outside: inside its sandbox a command does not know its
/// pid on the machine, nor may it write outside its worktree).
async fn pid_of(argv: &[&str]) -> i32 {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = std::fs::read_dir("/proc").ok().and_then(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
                .find(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted)
                        && process_alive(*pid)
                })
        });
        if let Some(pid) = found {
            return pid;
        }
        assert!(Instant::now() < deadline, "{argv:?} never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_an_llm_run_during_a_long_command_ends_it_within_two_seconds_and_kills_the_command()
 {
    let cmd = "sleep 59.2718 & wait";
    let s = Setup::new(
        vec![calls(&[(
            "c1",
            "run_command",
            json!({"cmd": cmd, "timeout_s": 300}),
        )])],
        json!({}),
    )
    .await;
    let id = s.submit("Wait a long time").await;
    let shell = pid_of(&["sh", "-c", cmd]).await;
    let sleeper = pid_of(&["sleep", "59.2718"]).await;
    assert!(process_alive(shell) && process_alive(sleeper));

    let asked = Instant::now();
    let (status, body) = s
        .api
        .post(&format!("/v1/runs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 202, "{body}");
    let run = s.api.wait_for(&id, &ENDED, Duration::from_secs(5)).await;
    assert_eq!(run["status"], "CANCELLED", "{run}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "took {:?}",
        asked.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(1);
    while (process_alive(shell) || process_alive(sleeper)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!process_alive(shell), "the command's shell is gone");
    assert!(!process_alive(sleeper), "what it started is gone");
    let kinds = s.api.kinds(&id).await;
    assert_eq!(kinds.last().map(String::as_str), Some("RUN_CANCELLED"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_llm_runs_of_one_project_work_at_once_on_their_own_worktrees_and_branches() {
    // Neither run's first model call is answered before both were asked:
    // the runs can only complete if they were in flight together.
    let write = || {
        Scripted::AfterRequests(
            2,
            Box::new(calls(&[(
                "p1",
                "write_file",
                json!({"path": "NOTES.md", "content": "parallel\n"}),
            )])),
        )
    };
    let s = Setup::new(
        vec![
            write(),
            write(),
            finish("p2", "Wrote notes."),
            finish("p2", "Wrote notes."),
        ],
        json!({}),
    )
    .await;
    let first = s.submit("Write notes, first").await;
    let second = s.submit("Write notes, second").await;
    let mut runs = Vec::new();
    for id in [&first, &second] {
        let run = s.wait(id, &ENDED).await;
        assert_eq!(run["status"], "COMPLETED", "{run}");
        runs.push(run);
    }

    let ready = |events: &[Value]| {
        events
            .iter()
            .find(|e| e["kind"] == "WORKSPACE_READY")
            .map(|e| e["payload"].clone())
            .expect("WORKSPACE_READY")
    };
    let first_ready = ready(&s.api.events(&first).await);
    let second_ready = ready(&s.api.events(&second).await);
    assert_ne!(first_ready["path"], second_ready["path"], "own worktrees");
    let branches: Vec<&str> = runs
        .iter()
        .map(|r| r["result"]["branch"].as_str().expect("branch"))
        .collect();
    assert_ne!(branches[0], branches[1], "own branches");
    for branch in &branches {
        assert_eq!(
            git(&s.mirror(), &["show", &format!("{branch}:NOTES.md")]),
            "parallel"
        );
    }
    assert_eq!(s.llm.bodies().len(), 4);
    s.stop().await;
}
