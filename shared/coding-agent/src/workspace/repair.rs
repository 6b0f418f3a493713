//! Putting back the git metadata the agent can reach, before the harness's
//! git reads it.
//!
//! The agent's `run_command` runs as the worker's user, so it can rewrite
//! anything under the workspace root: the mirror's `config` (filter, diff
//! and merge drivers, `include.path`, `uploadpack`, `url.*.insteadOf`…),
//! its hooks, the worktree's `.git` file and the files of its
//! administrative directory. The harness never trusts them:
//!
//! - Hooks and `core.fsmonitor` are switched off on every command
//!   ([`super::git`]), wherever they were installed.
//! - The mirror's `config` is not restored from a copy but written anew from
//!   a fixed template ([`mirror_config`]) — stateless, so a restarted worker
//!   or another worker sharing the root needs no record of it. Nothing the
//!   harness does needs more: fetches and pushes name the project's URL
//!   themselves (so no URL, and no credential in one, is kept on disk), and
//!   the identity and options come from the command line. Only the object
//!   format and ref storage of the repository are kept.
//! - A worktree is addressed with explicit directories
//!   ([`super::git::WorktreeDirs`]); its `.git` file and the `commondir`
//!   and `gitdir` files are written back anyway ([`worktree_links`]), so
//!   that the worktree is sound for whatever uses it next.
//!
//! The mirror's config is written before every locked piece of harness work
//! and again when a run's loop has ended, before its commit. Another run's
//! agent working at the same moment on the same project could still change
//! it between that write and the harness's read; the code git would then
//! run gets the harness's cleared environment — no more than that agent's
//! own `run_command` has. Keeping agents of different trust apart takes
//! separate workers (see docs/llm-agent.md, "Commands").

use super::WorkspaceError;
use super::git::WorktreeDirs;
use std::path::Path;
use uuid::Uuid;

/// Writes the mirror's `config` anew: a bare repository, nothing else (the
/// object format and ref storage it was made with are kept).
pub(crate) fn mirror_config(mirror: &Path) -> Result<(), WorkspaceError> {
    let path = mirror.join("config");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    replace_file(&path, &config_text(&old))
}

/// The template, keeping `extensions.objectformat = sha256` and
/// `extensions.refstorage = reftable` when `old` has them.
fn config_text(old: &str) -> String {
    let settings: Vec<String> = old
        .lines()
        .map(|line| {
            line.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_lowercase()
        })
        .collect();
    let mut extensions = String::new();
    if settings.iter().any(|s| s == "objectformat=sha256") {
        extensions.push_str("\tobjectformat = sha256\n");
    }
    if settings.iter().any(|s| s == "refstorage=reftable") {
        extensions.push_str("\trefstorage = reftable\n");
    }
    let version = if extensions.is_empty() { 0 } else { 1 };
    let mut text = format!(
        "[core]\n\trepositoryformatversion = {version}\n\tfilemode = true\n\tbare = true\n"
    );
    if !extensions.is_empty() {
        text.push_str("[extensions]\n");
        text.push_str(&extensions);
    }
    text
}

/// Writes back the links between a worktree and its mirror: the worktree's
/// `.git` file and the `commondir` and `gitdir` files of its administrative
/// directory; removes a `config.worktree` there.
pub(crate) fn worktree_links(dirs: &WorktreeDirs) -> Result<(), WorkspaceError> {
    let dot_git = dirs.work_tree.join(".git");
    if std::fs::symlink_metadata(&dot_git).is_ok_and(|m| m.is_dir()) {
        std::fs::remove_dir_all(&dot_git).map_err(|e| {
            WorkspaceError::io(format!("could not remove {}", dot_git.display()), e)
        })?;
    }
    replace_file(
        &dot_git,
        &format!("gitdir: {}\n", dirs.git_dir.to_string_lossy()),
    )?;
    replace_file(&dirs.git_dir.join("commondir"), "../..\n")?;
    replace_file(
        &dirs.git_dir.join("gitdir"),
        &format!("{}\n", dot_git.to_string_lossy()),
    )?;
    let worktree_config = dirs.git_dir.join("config.worktree");
    match std::fs::remove_file(&worktree_config) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(WorkspaceError::io(
            format!("could not remove {}", worktree_config.display()),
            e,
        )),
        _ => Ok(()),
    }
}

/// Replaces `path` (a file, or a symlink, which is replaced, not followed)
/// with `text` at once: readers see the old file or the new one.
fn replace_file(path: &Path, text: &str) -> Result<(), WorkspaceError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = path.with_file_name(format!(".{name}.harness-{}", Uuid::new_v4()));
    std::fs::write(&staging, text)
        .and_then(|()| std::fs::rename(&staging, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&staging);
            WorkspaceError::io(format!("could not write {}", path.display()), e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_the_template_whatever_was_added() {
        let old = "[core]\n\tbare = true\n\thooksPath = /tmp/x\n[filter \"x\"]\n\tclean = sh\n\
                   [remote \"origin\"]\n\turl = https://u:secret@host/r.git\n";
        assert_eq!(
            config_text(old),
            "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
        );
    }

    #[test]
    fn the_object_format_and_ref_storage_are_kept() {
        let old = "[extensions]\n\tobjectFormat = sha256\n\trefStorage = reftable\n";
        let text = config_text(old);
        assert!(text.contains("repositoryformatversion = 1"), "{text}");
        assert!(
            text.ends_with("[extensions]\n\tobjectformat = sha256\n\trefstorage = reftable\n"),
            "{text}"
        );
    }

    #[test]
    fn a_symlink_is_replaced_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").expect("write");
        let link = dir.path().join("config");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        replace_file(&link, "new").expect("replace");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep");
        assert_eq!(std::fs::read_to_string(&link).expect("read"), "new");
        assert!(!std::fs::symlink_metadata(&link).expect("meta").is_symlink());
    }
}
