//! `exec ID CMD…`: runs a command in the kept worktree of a run awaiting
//! approval, on the worker holding it (admin tokens only). Prints what the
//! command wrote, stdout to stdout and stderr to stderr, as they came, and
//! exits with the command's exit code (see [`Exit::for_command`]). With
//! `--json` prints the request, whose `result` holds the same.

use super::{Ctx, parse};
use crate::cli::ExecArgs;
use crate::exit::{CliError, Exit};
use crate::model::{ExecResult, RunRequest};
use crate::render::{emit_json, emit_raw, emit_raw_stderr};
use crate::run_requests::{self, Handed};
use crate::spinner::Spinner;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// The timeout the api gives a command when none is asked for, in seconds.
const API_DEFAULT_TIMEOUT_S: u64 = 60;
/// How long past the command's timeout a 202 is waited for: the worker
/// kills the command at its timeout, then has to record the answer.
const ANSWER_GRACE: Duration = Duration::from_secs(30);

/// `exec ID [--timeout S] [--wait S] CMD…`.
pub async fn run(ctx: &Ctx, args: ExecArgs) -> Result<Exit, CliError> {
    let id = args.id;
    let mut body = json!({"cmd": command_line(&args.cmd)});
    if let Some(timeout_s) = args.timeout_s {
        body["timeout_s"] = json!(timeout_s);
    }
    let reply = ctx
        .client
        .post(&format!("/v1/runs/{id}/exec"), Some(&body), &[])
        .await?;
    let (request, result) = if reply.status == StatusCode::ACCEPTED {
        let handed = Handed::from_body(id, &reply.body)?;
        let short_id: String = id.to_string().chars().take(8).collect();
        let mut spinner = Spinner::new(ctx.spinner, format!("exec in run {short_id}"));
        let timeout = Duration::from_secs(args.timeout_s.unwrap_or(API_DEFAULT_TIMEOUT_S));
        let limit = args
            .wait_s
            .map_or(timeout.saturating_add(ANSWER_GRACE), Duration::from_secs);
        let request = run_requests::wait(&ctx.client, &handed, &mut spinner, limit).await?;
        let result = request.get("result").cloned().unwrap_or(Value::Null);
        (Some(request), result)
    } else {
        // 200: the command's result, with the id of its request.
        (None, reply.body)
    };
    let outcome: ExecResult = parse(&result, "the result of a command")?;
    let exit = Exit::for_command(outcome.exit_code, outcome.timed_out);
    if ctx.json {
        let request = match request {
            Some(request) => request,
            None => fetch_request(ctx, id, &result).await?,
        };
        emit_json(&request);
        return Ok(exit);
    }
    emit_raw(&outcome.stdout);
    emit_raw_stderr(&outcome.stderr);
    if outcome.truncated {
        eprintln!("exec: the output was longer than the worker keeps and was cut");
    }
    if outcome.timed_out {
        let after = outcome
            .timeout_s
            .map(|s| format!(" after {s} s"))
            .unwrap_or_default();
        eprintln!("exec: timed out{after}; the worker killed the command");
    } else if outcome.exit_code.is_none() {
        eprintln!("exec: the command was killed by a signal");
    }
    Ok(exit)
}

/// The request behind a 200 answer, so that `--json` prints the same
/// document whether the api waited for the worker or not.
async fn fetch_request(ctx: &Ctx, id: Uuid, result: &Value) -> Result<Value, CliError> {
    let request_id = result
        .get("request_id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            CliError::Client("the api answered the exec without its request_id".to_owned())
        })?;
    let request = ctx
        .client
        .get(&format!("/v1/runs/{id}/requests/{request_id}"), &[])
        .await?;
    let _: RunRequest = parse(&request, "a request")?;
    Ok(request)
}

/// The shell command line the worker runs with `sh -c`. One argument is a
/// command line already (`exec ID 'make test && git status'`); several are
/// the words of one command, each quoted for the shell where it needs to be
/// (`exec ID sh -c 'echo hi; exit 3'` runs exactly that).
fn command_line(words: &[String]) -> String {
    match words {
        [line] => line.clone(),
        _ => words
            .iter()
            .map(|word| shell_word(word))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `word` as one shell word: as it is when nothing in it is special to
/// `sh`, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_argument_is_sent_as_the_command_line() {
        assert_eq!(
            command_line(&words(&["grep -c 42 src/lib.rs; exit 3"])),
            "grep -c 42 src/lib.rs; exit 3"
        );
    }

    #[test]
    fn several_arguments_are_quoted_where_the_shell_would_split_them() {
        assert_eq!(
            command_line(&words(&["sh", "-c", "echo hi; exit 3"])),
            "sh -c 'echo hi; exit 3'"
        );
        assert_eq!(
            command_line(&words(&["cargo", "test", "--", "--nocapture"])),
            "cargo test -- --nocapture"
        );
        assert_eq!(
            command_line(&words(&["echo", "it's", "", "$HOME"])),
            r"echo 'it'\''s' '' '$HOME'"
        );
    }
}
