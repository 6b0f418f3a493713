//! The loop: ask the model, run the tools it calls, feed the results back,
//! until it calls `finish` — or a limit, a failure or a cancel ends the run.
//!
//! Invariants the model (and the stored conversation) can rely on:
//! - every tool call gets exactly one tool result with its id, even when the
//!   call is not executed (a synthetic result says why);
//! - an unknown tool, invalid JSON or a refused path is an error result, not
//!   the end of the run;
//! - the stop token (cancel or deadline) is watched around every model call
//!   and every tool, so a long generation or command is interrupted;
//! - before each model call the project's token budgets are checked and the
//!   endpoint's shared allowance is waited for ([`crate::metering`]); the
//!   wait is not an iteration;
//! - a reply cut off at the model's output limit (`finish_reason: length`)
//!   is never acted on: its tool calls, whose arguments may be incomplete,
//!   are answered "not executed" and the model is told to be brief; such
//!   replies are counted (`result.cut_off_replies`).
//!
//! Each model call is an `llm.chat` span (model, token usage, tool calls)
//! and each tool call a `tool.call` span (name, call id, ok), children of the
//! worker's `delivery` span and so of the run's trace.

use crate::conversation::{CUT_OFF, CUT_OFF_CALL, NUDGE};
use crate::llm::{ChatModel, ChatRequest, Message, ToolCall, Usage};
use crate::metering::Meter;
use crate::output::cap_text;
use crate::tools::{ToolBox, ToolOutcome, tool_specs};
use agent_runner_agent::{AgentError, EventSink};
use agent_runner_domain::EventKind;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Bytes of tool output copied into a TOOL_RESULT event, and of each string
/// argument copied into a TOOL_CALLED event.
const EVENT_OUTPUT_CAP: usize = 2048;
/// Bytes of plan text copied into the PLAN_GENERATED event.
const EVENT_TEXT_CAP: usize = 8192;
/// The same failing call this many times in a row ends the run.
const MAX_IDENTICAL_FAILURES: u32 = 3;
/// Text-only replies in a row that end the run (the first gets a nudge).
const MAX_TEXT_ONLY_REPLIES: u32 = 2;

/// What the loop needs.
pub(crate) struct LoopInput<'a> {
    pub(crate) model: &'a dyn ChatModel,
    pub(crate) model_name: &'a str,
    pub(crate) tools: &'a ToolBox,
    pub(crate) events: &'a dyn EventSink,
    /// Fires on cancel and at the deadline.
    pub(crate) stop: &'a CancellationToken,
    pub(crate) deadline: Instant,
    pub(crate) max_iterations: u32,
    pub(crate) token_budget: u64,
    /// The budgets and the allowance, around each model call.
    pub(crate) meter: Meter<'a>,
}

/// How the loop ended well.
#[derive(Debug)]
pub(crate) struct LoopEnd {
    pub(crate) summary: String,
    pub(crate) iterations: u32,
    pub(crate) usage: Usage,
    pub(crate) messages: Vec<Message>,
    /// Replies cut off at the model's output limit.
    pub(crate) cut_off: u32,
}

enum Stop {
    Finish(String),
    Fail(AgentError),
}

/// Runs the loop over `messages`.
pub(crate) async fn run(
    input: LoopInput<'_>,
    mut messages: Vec<Message>,
) -> Result<LoopEnd, AgentError> {
    let specs = tool_specs();
    let mut usage = Usage::default();
    let mut plan_sent = false;
    let mut text_only = 0_u32;
    let mut cut_off = 0_u32;
    let mut failures = FailureStreak::default();

    for iteration in 1..=input.max_iterations {
        if usage.total_tokens >= input.token_budget {
            return Err(AgentError::Fatal(format!(
                "token budget {} exhausted ({} tokens used)",
                input.token_budget, usage.total_tokens
            )));
        }
        input.meter.before_call(iteration).await?;
        input
            .events
            .emit(EventKind::AgentThinking, json!({"iteration": iteration}))
            .await?;
        let request = ChatRequest {
            model: input.model_name,
            messages: &messages,
            tools: &specs,
        };
        let span = tracing::info_span!(
            "llm.chat",
            iteration,
            gen_ai.request.model = input.model_name,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
            tool_calls = tracing::field::Empty,
        );
        let reply = tokio::select! {
            biased;
            () = input.stop.cancelled() => return Err(interrupted(input.deadline)),
            reply = input.model.complete(request).instrument(span.clone()) => reply.map_err(|e| {
                if e.is_transient() { AgentError::Transient(e.to_string()) } else { AgentError::Fatal(e.to_string()) }
            })?,
        };
        span.record("tool_calls", reply.tool_calls.len());
        if let Some(reply_usage) = reply.usage {
            span.record("gen_ai.usage.input_tokens", reply_usage.prompt_tokens);
            span.record("gen_ai.usage.output_tokens", reply_usage.completion_tokens);
            usage.add(reply_usage);
        }
        drop(span);
        input
            .meter
            .after_reply(reply.usage.map_or(0, |u| u.total()))
            .await;
        if let (false, Some(text)) = (plan_sent, &reply.content) {
            input
                .events
                .emit(
                    EventKind::PlanGenerated,
                    json!({"plan": cap_text(text, EVENT_TEXT_CAP).0}),
                )
                .await?;
            plan_sent = true;
        }
        let calls = reply.tool_calls;
        messages.push(Message::Assistant {
            content: reply.content,
            tool_calls: calls.clone(),
        });

        if reply.finish_reason.as_deref() == Some("length") {
            cut_off += 1;
            tracing::warn!(
                iteration,
                tool_calls = calls.len(),
                "the model's reply was cut off at its output limit"
            );
            if calls.is_empty() {
                messages.push(Message::User {
                    content: CUT_OFF.to_owned(),
                });
            }
            for call in &calls {
                messages.push(tool_message(call, CUT_OFF_CALL));
            }
            continue;
        }
        if calls.is_empty() {
            text_only += 1;
            if text_only >= MAX_TEXT_ONLY_REPLIES {
                return Err(AgentError::Fatal(format!(
                    "the model replied {text_only} times in a row without calling a tool"
                )));
            }
            messages.push(Message::User {
                content: NUDGE.to_owned(),
            });
            continue;
        }
        text_only = 0;

        let mut stop: Option<Stop> = None;
        for call in &calls {
            if stop.is_some() {
                messages.push(tool_message(
                    call,
                    "not executed: the run ended with an earlier call",
                ));
                continue;
            }
            stop = run_call(&input, call, &mut messages, &mut failures).await?;
        }
        match stop {
            Some(Stop::Finish(summary)) => {
                return Ok(LoopEnd {
                    summary,
                    iterations: iteration,
                    usage,
                    messages,
                    cut_off,
                });
            }
            Some(Stop::Fail(err)) => return Err(err),
            None => {}
        }
    }
    Err(AgentError::Fatal(format!(
        "iteration limit {} reached",
        input.max_iterations
    )))
}

/// Runs one tool call, records its result and says whether the loop ends.
async fn run_call(
    input: &LoopInput<'_>,
    call: &ToolCall,
    messages: &mut Vec<Message>,
    failures: &mut FailureStreak,
) -> Result<Option<Stop>, AgentError> {
    let name = call.function.name.as_str();
    let arguments = call.function.arguments.as_str();
    let shown_args = serde_json::from_str::<Value>(arguments)
        .unwrap_or_else(|_| Value::String(arguments.to_owned()));
    input
        .events
        .emit(
            EventKind::ToolCalled,
            json!({"id": call.id, "name": name, "arguments": event_arguments(&shown_args)}),
        )
        .await?;

    let span = tracing::info_span!("tool.call", tool.name = name, tool.call_id = %call.id, ok = tracing::field::Empty);
    let outcome = input
        .tools
        .call(name, arguments, input.stop)
        .instrument(span.clone())
        .await;
    let (ok, text, stop) = match outcome {
        ToolOutcome::Output { ok, text } => (ok, text, None),
        ToolOutcome::Finish(summary) => (true, "finished".to_owned(), Some(Stop::Finish(summary))),
        ToolOutcome::GiveUp(reason) => (
            true,
            "gave up".to_owned(),
            Some(Stop::Fail(AgentError::Fatal(format!("gave up: {reason}")))),
        ),
        ToolOutcome::Interrupted => (
            false,
            "cancelled".to_owned(),
            Some(Stop::Fail(interrupted(input.deadline))),
        ),
    };
    span.record("ok", ok);
    drop(span);
    messages.push(tool_message(call, &text));
    let (event_output, _) = cap_text(&text, EVENT_OUTPUT_CAP);
    input
        .events
        .emit(
            EventKind::ToolResult,
            json!({"id": call.id, "name": name, "ok": ok, "output": event_output}),
        )
        .await?;
    if stop.is_some() {
        return Ok(stop);
    }
    if ok {
        failures.reset();
    } else if failures.record(name, &shown_args) >= MAX_IDENTICAL_FAILURES {
        return Ok(Some(Stop::Fail(AgentError::Fatal(format!(
            "stopped after {MAX_IDENTICAL_FAILURES} identical failing calls to {name} in a row"
        )))));
    }
    Ok(None)
}

/// Tool arguments for an event: long strings (a whole file for
/// `write_file`) are capped so that the timeline stays small.
fn event_arguments(arguments: &Value) -> Value {
    match arguments {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), event_arguments(value)))
                .collect(),
        ),
        Value::String(text) => Value::String(cap_text(text, EVENT_OUTPUT_CAP).0),
        other => other.clone(),
    }
}

fn tool_message(call: &ToolCall, text: &str) -> Message {
    Message::Tool {
        tool_call_id: call.id.clone(),
        content: text.to_owned(),
    }
}

/// The error for a stop token that fired: past the deadline it is a timeout,
/// otherwise a cancel.
pub(crate) fn interrupted(deadline: Instant) -> AgentError {
    if Instant::now() >= deadline {
        AgentError::Fatal("timeout: the run deadline passed".to_owned())
    } else {
        AgentError::Cancelled
    }
}

/// Counts the same failing call repeated in a row.
#[derive(Default)]
struct FailureStreak {
    last: Option<(String, Value)>,
    count: u32,
}

impl FailureStreak {
    fn record(&mut self, name: &str, arguments: &Value) -> u32 {
        let key = (name.to_owned(), arguments.clone());
        if self.last.as_ref() == Some(&key) {
            self.count += 1;
        } else {
            self.last = Some(key);
            self.count = 1;
        }
        self.count
    }

    fn reset(&mut self) {
        self.last = None;
        self.count = 0;
    }
}
