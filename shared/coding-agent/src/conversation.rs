//! The conversation a run starts from: the system prompt, the goal and the
//! follow-up messages, or an earlier run's conversation continued.

use crate::llm::Message;
use agent_runner_agent::{ProjectSpec, RunSpec};

/// Sent after a reply that called no tool.
pub(crate) const NUDGE: &str = "Your reply called no tool. Call a tool to make progress, \
or call `finish` with a summary if the goal is achieved (or `give_up` with a reason).";

/// Sent after a text-only reply cut off at the model's output limit.
pub(crate) const CUT_OFF: &str = "Your reply was cut off at the model's output limit \
(finish_reason `length`). Be brief: call one tool at a time, and write large files in parts.";

/// The result of each tool call of a reply cut off at the output limit.
pub(crate) const CUT_OFF_CALL: &str = "not executed: your reply was cut off at the model's \
output limit (finish_reason `length`), so its arguments may be incomplete. Send the call again, \
shorter (write large files in parts).";

/// Sent when a finished run is started again without a new message.
const RESUME: &str = "The run was started again. Check the worktree against the goal, \
complete what is missing, and call `finish`.";

/// The system prompt.
pub(crate) fn system_prompt(project: &ProjectSpec, branch: &str) -> String {
    format!(
        "You are a careful software engineer working on the project \"{name}\" in a git worktree \
on branch `{branch}`. You act only through tools.\n\
\n\
Tools:\n\
- list_files{{path?}}: list files under a directory (recursive).\n\
- read_file{{path, start_line?, end_line?}}: read a file with line numbers.\n\
- search_code{{query}}: search text files for a regular expression.\n\
- write_file{{path, content}}: create or overwrite a whole file.\n\
- str_replace{{path, old_str, new_str}}: replace text that occurs exactly once in a file.\n\
- run_command{{cmd, timeout_s?}}: run a shell command in the worktree root (build, tests).\n\
- finish{{summary}}: end the run when the goal is achieved.\n\
- give_up{{reason}}: end the run when the goal can not be achieved.\n\
\n\
Rules:\n\
- Paths are relative to the worktree root. Absolute paths, `..`, symlinks leading outside \
and anything under `.git` are refused.\n\
- Look before you change: list and read the relevant files first. Prefer str_replace for \
edits to existing files; copy old_str exactly from read_file output (without the line numbers).\n\
- When the project has a build or tests, run them with run_command before you finish.\n\
- Do not commit, switch branches or push: the harness commits your changes when you finish.\n\
- Every reply must call at least one tool. When the goal is achieved, call `finish` with a \
short summary of what you changed.",
        name = project.name,
    )
}

/// The messages a run starts from, and how many of the run's follow-up
/// messages they include.
pub(crate) fn initial(
    run: &RunSpec,
    project: &ProjectSpec,
    branch: &str,
    previous: Option<(Vec<Message>, usize)>,
) -> (Vec<Message>, usize) {
    let system = Message::System {
        content: system_prompt(project, branch),
    };
    match previous {
        Some((mut messages, handled)) if !messages.is_empty() => {
            // The prompt of the current build replaces the stored one.
            match messages.first_mut() {
                Some(first @ Message::System { .. }) => *first = system,
                _ => messages.insert(0, system),
            }
            let handled = handled.min(run.messages.len());
            let new = &run.messages[handled..];
            if new.is_empty() {
                messages.push(Message::User {
                    content: RESUME.to_owned(),
                });
            }
            messages.extend(new.iter().map(|m| Message::User { content: m.clone() }));
            (messages, run.messages.len())
        }
        _ => {
            let mut messages = vec![
                system,
                Message::User {
                    content: format!("Goal:\n{}", run.goal),
                },
            ];
            messages.extend(
                run.messages
                    .iter()
                    .map(|m| Message::User { content: m.clone() }),
            );
            (messages, run.messages.len())
        }
    }
}
