//! The harness's own git runs nothing the agent planted: `run_command`
//! installs hooks, an fsmonitor, filter and diff drivers, an include, or
//! points the worktree's `.git` file elsewhere; the harness still commits
//! the run's work on its branch, and no planted program ever runs.
//!
//! The sandbox keeps a command from writing the git metadata at all, so
//! these run with `AGENT_SANDBOX=off`: the harness's git must hold even
//! then.

use crate::fake_llm::{calls, finish};
use crate::helpers::{Harness, git};
use agent_runner_coding_agent::sandbox::SandboxMode;
use serde_json::json;
use std::path::Path;
use tempfile::TempDir;

/// Runs `script` (with `$M`, where planted programs leave their mark, and
/// `$H`, a directory for the planted programs) through `run_command`, then
/// finishes; checks the run committed `notes.txt` and nothing left a mark.
async fn planted_programs_never_run(script: &str) {
    let marks = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let cmd = format!(
        "set -e\nM={}\nH={}\n{script}\necho changed > notes.txt\n",
        marks.path().display(),
        home.path().display()
    );
    let mut h = Harness::new(
        vec![
            calls(&[("c1", "run_command", json!({"cmd": cmd, "timeout_s": 30}))]),
            finish("c2", "Planted things."),
        ],
        None,
    )
    .await;
    h.config.sandbox.mode = SandboxMode::Off;
    let (result, _) = h.execute(&h.run("Plant things")).await;
    let bodies = h.llm.bodies();
    let outcome = result.unwrap_or_else(|e| panic!("{e:?}; model saw {bodies:?}"));
    let tool_output = bodies[1].to_string();
    assert!(tool_output.contains("exit code: 0"), "{tool_output}");

    assert_eq!(marks_left(&marks), Vec::<String>::new(), "planted code ran");
    let r = &outcome.result;
    assert!(
        r["diff"].as_str().is_some_and(|d| d.contains("+changed")),
        "{r}"
    );
    let branch = r["branch"].as_str().expect("branch");
    assert_eq!(
        git(&h.mirror(), &["show", &format!("{branch}:notes.txt")]),
        "changed"
    );
    assert_eq!(
        git(&h.mirror(), &["rev-parse", &format!("refs/heads/{branch}")]),
        r["head_commit"].as_str().expect("head")
    );
    let config = std::fs::read_to_string(h.mirror().join("config")).expect("config");
    assert!(
        !config.contains(&home.path().display().to_string()),
        "{config}"
    );
    drop(home);
}

fn marks_left(marks: &TempDir) -> Vec<String> {
    let mut left: Vec<String> = std::fs::read_dir(marks.path())
        .expect("read marks")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    left
}

/// A shell line making `$H/<name>` a program that leaves `$M/<name>`.
fn program(name: &str) -> String {
    format!(
        "printf '#!/bin/sh\\ntouch %s/{name}\\ncat\\n' \"$M\" > \"$H/{name}\"; chmod +x \"$H/{name}\""
    )
}

#[tokio::test]
async fn hooks_and_an_fsmonitor_planted_by_the_agent_never_run_in_the_harness() {
    let mut script = String::from(
        "common=$(git rev-parse --git-common-dir)\nmkdir -p \"$common/hooks\" \"$H/hooks\"\n",
    );
    for hook in [
        "pre-commit",
        "commit-msg",
        "post-commit",
        "post-checkout",
        "reference-transaction",
        "post-index-change",
        "pre-auto-gc",
    ] {
        script.push_str(&program(hook));
        script.push('\n');
        script.push_str(&format!(
            "cp \"$H/{hook}\" \"$common/hooks/{hook}\"; cp \"$H/{hook}\" \"$H/hooks/{hook}\"\n"
        ));
    }
    script.push_str(&program("fsmonitor"));
    script.push_str("\ngit config core.fsmonitor \"$H/fsmonitor\"\n");
    script.push_str("git config core.hooksPath \"$H/hooks\"\n");
    planted_programs_never_run(&script).await;
}

#[tokio::test]
async fn filters_diff_drivers_and_includes_planted_in_the_mirror_config_never_run() {
    let script = [
        program("clean"),
        program("smudge"),
        program("textconv"),
        program("external"),
        program("included"),
        "git config filter.evil.clean \"$H/clean\"".to_owned(),
        "git config filter.evil.smudge \"$H/smudge\"".to_owned(),
        "git config diff.evil.textconv \"$H/textconv\"".to_owned(),
        "git config diff.external \"$H/external\"".to_owned(),
        "printf '[filter \"inc\"]\\n\\tclean = %s/included\\n' \"$H\" > \"$H/extra.cfg\""
            .to_owned(),
        "git config include.path \"$H/extra.cfg\"".to_owned(),
        "printf '* filter=evil diff=evil\\n*.md filter=inc\\n' > .gitattributes".to_owned(),
        "echo note > notes.md".to_owned(),
    ]
    .join("\n");
    planted_programs_never_run(&script).await;
}

#[tokio::test]
async fn a_worktree_pointed_at_another_repository_is_still_committed_to_the_mirror() {
    let script = [
        program("clean"),
        program("post-commit"),
        program("fsmonitor"),
        "git init --quiet \"$H/evil\"".to_owned(),
        "git -C \"$H/evil\" config filter.evil.clean \"$H/clean\"".to_owned(),
        "git -C \"$H/evil\" config core.fsmonitor \"$H/fsmonitor\"".to_owned(),
        "cp \"$H/post-commit\" \"$H/evil/.git/hooks/post-commit\"".to_owned(),
        "printf '* filter=evil\\n' > .gitattributes".to_owned(),
        "echo \"$H/evil/.git\" > \"$(git rev-parse --git-dir)/commondir\"".to_owned(),
        "printf 'gitdir: %s/evil/.git\\n' \"$H\" > .git".to_owned(),
    ]
    .join("\n");
    planted_programs_never_run(&script).await;
}

/// The planted programs exist and leave their mark when run (the tests
/// above would pass vacuously otherwise).
#[test]
fn a_planted_program_leaves_its_mark() {
    let marks = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("tempdir");
    let script = format!(
        "M={}\nH={}\n{}\necho x | \"$H/probe\"",
        marks.path().display(),
        home.path().display(),
        program("probe")
    );
    let status = std::process::Command::new("sh")
        .args(["-c", &script])
        .status()
        .expect("sh");
    assert!(status.success());
    assert!(Path::new(&marks.path().join("probe")).exists());
}
