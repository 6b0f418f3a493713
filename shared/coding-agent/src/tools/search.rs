//! `search_code{query}`: a regular-expression search over the worktree's text
//! files, like ripgrep, without spawning it.
//!
//! A query that is not a valid regular expression is searched for literally.
//! Binary and very large files are skipped; `.gitignore` is honoured.

use super::fs::walker;
use super::paths::display;
use regex::Regex;
use std::path::Path;

/// Most matching lines reported.
const MAX_MATCHES: usize = 200;
/// Characters of a matching line shown.
const MAX_LINE_CHARS: usize = 240;
/// Largest file searched.
const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;

/// Matching lines as `path:line: text`.
pub(super) fn search_code(root: &Path, query: &str) -> Result<String, String> {
    if query.is_empty() {
        return Err("query must not be empty".to_owned());
    }
    let pattern = Regex::new(query)
        .or_else(|_| Regex::new(&regex::escape(query)))
        .map_err(|e| format!("query: {e}"))?;
    let mut hits = Vec::new();
    let mut more = 0_usize;
    for entry in walker(root).flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        if entry
            .metadata()
            .map(|m| m.len() > MAX_FILE_BYTES)
            .unwrap_or(true)
        {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        if bytes.iter().take(8192).any(|b| *b == 0) {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        let shown = display(root, entry.path());
        for (index, line) in text.lines().enumerate() {
            if !pattern.is_match(line) {
                continue;
            }
            if hits.len() >= MAX_MATCHES {
                more += 1;
                continue;
            }
            let line: String = line.chars().take(MAX_LINE_CHARS).collect();
            hits.push(format!("{shown}:{}: {}", index + 1, line.trim_end()));
        }
    }
    if hits.is_empty() {
        return Ok(format!("no matches for `{query}`"));
    }
    if more > 0 {
        hits.push(format!("[truncated: {more} more matches]"));
    }
    Ok(hits.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_are_reported_with_path_and_line_and_bad_regexes_search_literally() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::write(root.join("a.rs"), "fn add(a: i32) {}\nfn sub() {}\n").expect("write");
        std::fs::write(root.join("bin"), b"fn add\0").expect("write");
        assert_eq!(
            search_code(&root, r"fn \w+\(a").expect("search"),
            "a.rs:1: fn add(a: i32) {}"
        );
        assert_eq!(
            search_code(&root, "add(").expect("search"),
            "a.rs:1: fn add(a: i32) {}"
        );
        assert_eq!(
            search_code(&root, "nothing").expect("search"),
            "no matches for `nothing`"
        );
    }
}
