//! File tools: `list_files`, `read_file`, `write_file`, `str_replace`.
//!
//! Plain blocking functions over the worktree (the tool box runs them on the
//! blocking pool). Each resolves its path through [`super::paths`] first and
//! answers with text for the model, or an error message it can act on.
//!
//! Files are opened with `O_NOFOLLOW`: the resolved path has no symlink in
//! its last component, and one put there between the check and the open
//! (by a command running in the background) makes the open fail instead of
//! leading outside. A directory higher up swapped for a symlink in that
//! window is not caught; `run_command` can reach those files anyway.

use super::paths::{display, resolve};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Most entries `list_files` shows.
const MAX_LIST_ENTRIES: usize = 1000;
/// Largest file `read_file` and `str_replace` open.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A walker over `dir` that honours `.gitignore`, shows hidden files, never
/// enters `.git` and never follows symlinks.
pub(super) fn walker(dir: &Path) -> ignore::Walk {
    ignore::WalkBuilder::new(dir)
        .hidden(false)
        .parents(false)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|entry| entry.file_name() != ".git")
        .sort_by_file_name(|a, b| a.cmp(b))
        .build()
}

/// `list_files{path?}`: files and directories under `path`, recursively.
pub(super) fn list_files(root: &Path, path: &str) -> Result<String, String> {
    let dir = resolve(root, path).map_err(|e| e.to_string())?;
    let meta = std::fs::metadata(&dir).map_err(|e| format!("`{path}`: {e}"))?;
    if meta.is_file() {
        return Ok(display(root, &dir));
    }
    let mut lines = Vec::new();
    let mut more = 0_usize;
    for entry in walker(&dir).flatten() {
        if entry.depth() == 0 {
            continue;
        }
        if lines.len() >= MAX_LIST_ENTRIES {
            more += 1;
            continue;
        }
        let mut shown = display(root, entry.path());
        if entry.file_type().is_some_and(|t| t.is_dir()) {
            shown.push('/');
        }
        lines.push(shown);
    }
    if lines.is_empty() {
        return Ok(format!("`{}` is empty", display(root, &dir)));
    }
    if more > 0 {
        lines.push(format!("[truncated: {more} more entries]"));
    }
    Ok(lines.join("\n"))
}

/// `read_file{path, start_line?, end_line?}`: the file's lines, numbered
/// from 1.
pub(super) fn read_file(
    root: &Path,
    path: &str,
    start_line: Option<usize>,
    end_line: Option<usize>,
) -> Result<String, String> {
    let text = read_text(root, path)?;
    let total = text.lines().count();
    let start = start_line.unwrap_or(1);
    if start == 0 {
        return Err("start_line counts from 1".to_owned());
    }
    let end = end_line.unwrap_or(total).min(total);
    if let Some(requested_end) = end_line.filter(|end| *end < start) {
        return Err(format!(
            "end_line {requested_end} is before start_line {start}"
        ));
    }
    if total == 0 {
        return Ok(format!("`{path}` is empty"));
    }
    if start > total {
        return Err(format!(
            "start_line {start} is past the end of `{path}` ({total} lines)"
        ));
    }
    let mut out = format!("`{path}` lines {start}-{end} of {total}\n");
    for (index, line) in text
        .lines()
        .enumerate()
        .skip(start - 1)
        .take(end + 1 - start)
    {
        out.push_str(&format!("{:>6}\t{line}\n", index + 1));
    }
    Ok(out)
}

/// `write_file{path, content}`: creates or replaces the file, and its
/// parent directories.
pub(super) fn write_file(root: &Path, path: &str, content: &str) -> Result<String, String> {
    let target = resolve(root, path).map_err(|e| e.to_string())?;
    if target == root || target.is_dir() {
        return Err(format!("`{path}` is a directory"));
    }
    let existed = target.exists();
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("`{path}`: {e}"))?;
    }
    write_no_follow(&target, content).map_err(|e| format!("`{path}`: {e}"))?;
    let verb = if existed { "replaced" } else { "created" };
    Ok(format!("{verb} `{path}` ({} bytes)", content.len()))
}

/// `str_replace{path, old_str, new_str}`: replaces `old_str`, which must
/// occur exactly once.
pub(super) fn str_replace(
    root: &Path,
    path: &str,
    old_str: &str,
    new_str: &str,
) -> Result<String, String> {
    if old_str.is_empty() {
        return Err("old_str must not be empty".to_owned());
    }
    let text = read_text(root, path)?;
    match text.matches(old_str).count() {
        0 => Err(format!(
            "old_str was not found in `{path}`; read the file and copy the text exactly, \
             including whitespace"
        )),
        1 => {
            let target = resolve(root, path).map_err(|e| e.to_string())?;
            let replaced = text.replacen(old_str, new_str, 1);
            write_no_follow(&target, &replaced).map_err(|e| format!("`{path}`: {e}"))?;
            Ok(format!("replaced 1 occurrence in `{path}`"))
        }
        n => Err(format!(
            "old_str matches {n} times in `{path}`; it must match exactly once: \
             include more surrounding lines"
        )),
    }
}

fn read_text(root: &Path, path: &str) -> Result<String, String> {
    let target = resolve(root, path).map_err(|e| e.to_string())?;
    let mut file = open_no_follow(&target).map_err(|e| format!("`{path}`: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("`{path}`: {e}"))?;
    if meta.is_dir() {
        return Err(format!("`{path}` is a directory; use list_files"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "`{path}` is {} bytes; the limit is {MAX_FILE_BYTES}",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("`{path}`: {e}"))?;
    if bytes.iter().take(8192).any(|b| *b == 0) {
        return Err(format!("`{path}` is a binary file"));
    }
    String::from_utf8(bytes).map_err(|_| format!("`{path}` is not UTF-8 text"))
}

/// Opens `path` for reading, refusing a symlink as its last component.
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

/// Creates or truncates `path` and writes `content`, refusing a symlink as
/// its last component.
fn write_no_follow(path: &Path, content: &str) -> std::io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)?
        .write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worktree() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("src")).expect("mkdir");
        std::fs::write(root.join("src/lib.rs"), "one\ntwo\ntwo\nthree\n").expect("write");
        std::fs::write(root.join(".git"), "gitdir: /elsewhere\n").expect("write");
        std::fs::write(root.join(".gitignore"), "target/\n").expect("write");
        std::fs::create_dir_all(root.join("target")).expect("mkdir");
        std::fs::write(root.join("target/out"), "x").expect("write");
        (dir, root)
    }

    #[test]
    fn listing_skips_git_and_ignored_files() {
        let (_dir, root) = worktree();
        let listing = list_files(&root, "").expect("list");
        assert_eq!(listing, ".gitignore\nsrc/\nsrc/lib.rs");
    }

    #[test]
    fn reading_numbers_lines_and_honours_the_range() {
        let (_dir, root) = worktree();
        let text = read_file(&root, "src/lib.rs", Some(2), Some(3)).expect("read");
        assert_eq!(
            text,
            "`src/lib.rs` lines 2-3 of 4\n     2\ttwo\n     3\ttwo\n"
        );
        assert!(read_file(&root, "src/lib.rs", Some(9), None).is_err());
    }

    #[test]
    fn str_replace_needs_exactly_one_match() {
        let (_dir, root) = worktree();
        let err = str_replace(&root, "src/lib.rs", "two", "2").expect_err("two matches");
        assert!(err.contains("matches 2 times"), "{err}");
        let err = str_replace(&root, "src/lib.rs", "four", "4").expect_err("no match");
        assert!(err.contains("not found"), "{err}");
        str_replace(&root, "src/lib.rs", "one\n", "1\n").expect("one match");
        let text = std::fs::read_to_string(root.join("src/lib.rs")).expect("read");
        assert_eq!(text, "1\ntwo\ntwo\nthree\n");
    }

    #[test]
    fn a_symlink_put_in_place_after_the_check_is_not_followed() {
        let (_dir, root) = worktree();
        let outside = tempfile::tempdir().expect("tempdir");
        let secret = outside.path().join("secret");
        std::fs::write(&secret, "secret\n").expect("write");
        // What a background command could do between resolve and open.
        let target = resolve(&root, "swapped.txt").expect("resolve");
        std::os::unix::fs::symlink(&secret, &target).expect("symlink");
        assert!(open_no_follow(&target).is_err());
        assert!(write_no_follow(&target, "planted").is_err());
        assert_eq!(std::fs::read_to_string(&secret).expect("read"), "secret\n");
    }

    #[test]
    fn writing_creates_parent_directories() {
        let (_dir, root) = worktree();
        write_file(&root, "a/b/c.txt", "hi").expect("write");
        assert_eq!(
            std::fs::read_to_string(root.join("a/b/c.txt")).expect("read"),
            "hi"
        );
        assert!(write_file(&root, ".git/config", "x").is_err());
    }
}
