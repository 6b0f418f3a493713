//! The tool descriptions and JSON schemas sent to the model. Argument names
//! here are the ones the tool box parses; keep both in step.

use crate::llm::ToolSpec;
use serde_json::json;

/// Names of all tools, in the order they are offered.
pub(crate) const TOOL_NAMES: [&str; 8] = [
    "list_files",
    "read_file",
    "search_code",
    "write_file",
    "str_replace",
    "run_command",
    "finish",
    "give_up",
];

/// The tools offered to the model.
pub(crate) fn tool_specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "list_files",
            description: "List files and directories under a directory of the worktree, \
                recursively (honours .gitignore). Directories end with `/`.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Directory relative to the worktree root; default: the root."}
                },
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "read_file",
            description: "Read a text file of the worktree, with line numbers. \
                Give start_line/end_line (1-based, inclusive) for a part of a long file.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the worktree root."},
                    "start_line": {"type": "integer", "minimum": 1, "description": "First line to show."},
                    "end_line": {"type": "integer", "minimum": 1, "description": "Last line to show."}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "search_code",
            description: "Search the worktree's text files for a regular expression (or literal text). \
                Returns `path:line: text` for each matching line.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "Regular expression (Rust syntax) or plain text."}
                },
                "required": ["query"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "write_file",
            description: "Create a file, or replace a file's whole content. Parent directories are created. \
                Prefer str_replace to change part of an existing file.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the worktree root."},
                    "content": {"type": "string", "description": "The complete new content."}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "str_replace",
            description: "Replace one exact occurrence of old_str with new_str in a file. \
                old_str must appear exactly once: include enough surrounding lines to make it unique.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "File path relative to the worktree root."},
                    "old_str": {"type": "string", "description": "The exact text to replace, whitespace included."},
                    "new_str": {"type": "string", "description": "The text to put in its place."}
                },
                "required": ["path", "old_str", "new_str"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "run_command",
            description: "Run a shell command (sh -c) in the worktree root, e.g. to build or run tests. \
                Returns the exit code, stdout and stderr (capped). Background processes are killed when it ends. \
                Do not commit or switch branches: the harness commits your changes.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "cmd": {"type": "string", "description": "The command line."},
                    "timeout_s": {"type": "integer", "minimum": 1, "description": "Timeout in seconds; the worker sets the default and the maximum."}
                },
                "required": ["cmd"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "finish",
            description: "Finish the run once the goal is achieved, with a short summary of what you changed.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "summary": {"type": "string", "description": "What was done, for the reviewer."}
                },
                "required": ["summary"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "give_up",
            description: "Stop because the goal can not be achieved, saying why.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "reason": {"type": "string", "description": "Why the goal can not be achieved."}
                },
                "required": ["reason"],
                "additionalProperties": false
            }),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_tool_has_a_spec_in_order() {
        let names: Vec<&str> = tool_specs().iter().map(|s| s.name).collect();
        assert_eq!(names, TOOL_NAMES);
    }
}
