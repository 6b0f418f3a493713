//! Temporary git repositories for tests, and git helpers that panic with
//! git's own message when a command fails.

use std::path::Path;
use std::process::Command;
use tempfile::TempDir;

/// Runs git in `dir`, panicking on failure; returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Whether `git rev-parse --verify` finds `reference` in `repo`.
pub fn ref_exists(repo: &Path, reference: &str) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["rev-parse", "--verify", "--quiet", reference])
        .output()
        .expect("run git")
        .status
        .success()
}

/// A non-bare repository on `main` with README.md and src/lib.rs committed.
pub fn origin_repo() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path();
    git(path, &["init", "--quiet", "--initial-branch", "main"]);
    std::fs::write(path.join("README.md"), "# Demo\n\nhello world\n").expect("write");
    std::fs::create_dir_all(path.join("src")).expect("mkdir");
    std::fs::write(
        path.join("src/lib.rs"),
        "pub fn answer() -> u32 {\n    41\n}\n",
    )
    .expect("write");
    git(path, &["add", "-A"]);
    git(path, &["commit", "--quiet", "-m", "initial"]);
    dir
}

/// Repository URLs git would read as an option, or that use a transport
/// that runs a command, or hold control characters: each would create the
/// file `marker` if git ran what it says.
pub fn hostile_urls(marker: &str) -> Vec<String> {
    vec![
        format!("--upload-pack=touch {marker}"),
        format!("--receive-pack=touch {marker}"),
        format!("-u touch {marker}"),
        format!("-uTouch{marker}"),
        format!("--config=core.sshCommand=touch {marker}"),
        format!("-c core.sshCommand=touch {marker}"),
        format!("ext::sh -c touch% {marker}"),
        "fd::3".to_owned(),
        format!("ssh://-oProxyCommand=touch%20{marker}/x"),
        format!("-oProxyCommand=touch {marker}:x"),
        "https://host/r\u{7}.git".to_owned(),
        "https://host/r.git\nx".to_owned(),
    ]
}
