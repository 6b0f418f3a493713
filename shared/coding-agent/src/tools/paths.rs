//! Confinement of tool paths to the worktree.
//!
//! A path given by the model must be relative, must not contain `..`, must
//! not name `.git` (the worktree's `.git` is a file pointing into the mirror)
//! and must not leave the worktree through a symlink: the deepest existing
//! ancestor is canonicalised and checked against the canonical root, and a
//! dangling symlink is refused outright.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Absolute paths are refused.
    #[error("`{0}` is absolute; give a path relative to the worktree root")]
    Absolute(String),
    /// `..` components are refused.
    #[error("`{0}` contains `..`; paths must stay inside the worktree")]
    ParentDir(String),
    /// Anything inside `.git` is refused.
    #[error("`{0}` is inside .git, which the tools may not touch")]
    GitDir(String),
    /// The path leaves the worktree through a symlink.
    #[error("`{0}` resolves outside the worktree (symlink)")]
    Escapes(String),
    /// The path could not be resolved.
    #[error("`{path}`: {detail}")]
    Io {
        /// The path as given.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

/// Resolves `relative` inside the worktree whose canonical path is `root`.
/// An empty path or `.` is the root itself. The target need not exist.
pub fn resolve(root: &Path, relative: &str) -> Result<PathBuf, PathError> {
    let given = relative.to_owned();
    let path = Path::new(relative);
    if path.is_absolute() || relative.starts_with('/') || relative.starts_with('\\') {
        return Err(PathError::Absolute(given));
    }
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => {
                if name == ".git" {
                    return Err(PathError::GitDir(given));
                }
                clean.push(name);
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::ParentDir(given)),
            Component::RootDir | Component::Prefix(_) => return Err(PathError::Absolute(given)),
        }
    }
    let joined = root.join(&clean);

    // Walk up to the deepest ancestor that exists; nothing below it exists,
    // so nothing below it can be a symlink.
    let mut existing = joined.as_path();
    let mut missing: Vec<&std::ffi::OsStr> = Vec::new();
    loop {
        match std::fs::symlink_metadata(existing) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    return Err(PathError::Escapes(given));
                };
                missing.push(name);
                existing = parent;
            }
            Err(e) => {
                return Err(PathError::Io {
                    path: given,
                    detail: e.to_string(),
                });
            }
        }
    }
    let canonical = match existing.canonicalize() {
        Ok(c) => c,
        // A symlink whose target does not exist: writing through it would
        // create its target, wherever that is.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(PathError::Escapes(given)),
        Err(e) => {
            return Err(PathError::Io {
                path: given,
                detail: e.to_string(),
            });
        }
    };
    let Ok(inside) = canonical.strip_prefix(root) else {
        return Err(PathError::Escapes(given));
    };
    if inside.components().any(|c| c.as_os_str() == ".git") {
        return Err(PathError::GitDir(given));
    }
    let mut resolved = canonical;
    for name in missing.iter().rev() {
        resolved.push(name);
    }
    Ok(resolved)
}

/// `path` relative to `root`, with `/` separators, for showing to the model.
pub fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worktree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("src")).expect("mkdir");
        std::fs::write(root.join("src/lib.rs"), "fn main() {}\n").expect("write");
        std::fs::write(root.join(".git"), "gitdir: /elsewhere\n").expect("write");
        (dir, root)
    }

    #[test]
    fn relative_paths_inside_the_worktree_resolve() {
        let (_dir, root) = worktree();
        assert_eq!(resolve(&root, "src/lib.rs"), Ok(root.join("src/lib.rs")));
        assert_eq!(
            resolve(&root, "./src/new/file.rs"),
            Ok(root.join("src/new/file.rs"))
        );
        assert_eq!(resolve(&root, ""), Ok(root.clone()));
        assert_eq!(resolve(&root, "."), Ok(root.clone()));
    }

    #[test]
    fn absolute_paths_are_refused() {
        let (_dir, root) = worktree();
        assert!(matches!(
            resolve(&root, "/etc/passwd"),
            Err(PathError::Absolute(_))
        ));
    }

    #[test]
    fn parent_components_are_refused_even_when_they_stay_inside() {
        let (_dir, root) = worktree();
        assert!(matches!(
            resolve(&root, "../outside"),
            Err(PathError::ParentDir(_))
        ));
        assert!(matches!(
            resolve(&root, "src/../src/lib.rs"),
            Err(PathError::ParentDir(_))
        ));
    }

    #[test]
    fn anything_named_dot_git_is_refused() {
        let (_dir, root) = worktree();
        assert!(matches!(resolve(&root, ".git"), Err(PathError::GitDir(_))));
        assert!(matches!(
            resolve(&root, ".git/config"),
            Err(PathError::GitDir(_))
        ));
        assert!(matches!(
            resolve(&root, "vendor/.git/HEAD"),
            Err(PathError::GitDir(_))
        ));
    }

    #[test]
    fn symlinks_leading_outside_are_refused() {
        let (_dir, root) = worktree();
        let outside = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), root.join("out")).expect("symlink");
        std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling")).expect("symlink");
        std::os::unix::fs::symlink(root.join(".git"), root.join("gitlink")).expect("symlink");
        assert!(matches!(resolve(&root, "out"), Err(PathError::Escapes(_))));
        assert!(matches!(
            resolve(&root, "out/new.txt"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(
            resolve(&root, "dangling"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(
            resolve(&root, "gitlink"),
            Err(PathError::GitDir(_))
        ));
    }

    #[test]
    fn symlinks_inside_the_worktree_are_followed() {
        let (_dir, root) = worktree();
        std::os::unix::fs::symlink(root.join("src"), root.join("code")).expect("symlink");
        assert_eq!(resolve(&root, "code/lib.rs"), Ok(root.join("src/lib.rs")));
    }
}
