//! Paths of the workspace's binaries, built by `cargo test`/`nextest` next
//! to the test executables (for tests that need real processes and signals).

use std::path::PathBuf;

/// `target/<profile>/<name>`, found from the running test executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests through scripts/test",
        path.display()
    );
    path
}
