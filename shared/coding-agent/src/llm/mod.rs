//! Talking to a chat model: the message vocabulary, the [`ChatModel`] seam and
//! its errors.
//!
//! - [`client`] — [`OpenAiCompatibleClient`], the one implementation, over
//!   `POST {base_url}/chat/completions` with retries.
//! - [`wire`] — the JSON bodies of that endpoint, tolerant of server quirks.
//!
//! [`Message`] serialises exactly as an OpenAI chat message, so a
//! conversation stored in a run's result can be sent again as it is.

pub mod client;
pub mod wire;

pub use client::OpenAiCompatibleClient;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// One message of a conversation, in the OpenAI wire format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// Instructions for the model.
    System {
        /// The instructions.
        content: String,
    },
    /// The goal, a follow-up, or a nudge from the harness.
    User {
        /// The text.
        content: String,
    },
    /// What the model said and which tools it called.
    Assistant {
        /// Text of the reply, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
        /// Tool calls of the reply.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call.
    Tool {
        /// The `id` of the call this answers.
        tool_call_id: String,
        /// What the tool returned.
        content: String,
    },
}

/// One tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Id the result must quote (`tool_call_id`).
    #[serde(default)]
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".to_owned()
}

/// The function part of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Tool name.
    pub name: String,
    /// Arguments as JSON text. Servers that send a JSON object instead (some
    /// Ollama and vLLM versions) are accepted: the object is re-encoded.
    #[serde(default, deserialize_with = "wire::arguments_as_text")]
    pub arguments: String,
}

/// A tool offered to the model: name, description and JSON schema of its
/// arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Tool name.
    pub name: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// JSON schema of the arguments object.
    pub parameters: Value,
}

/// Token counts reported by the endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Both together.
    #[serde(default)]
    pub total_tokens: u64,
}

impl Usage {
    /// Adds another call's usage; a missing total counts as prompt plus
    /// completion.
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total();
    }

    /// The total, or prompt plus completion when the endpoint sent none.
    pub fn total(&self) -> u64 {
        if self.total_tokens == 0 {
            self.prompt_tokens + self.completion_tokens
        } else {
            self.total_tokens
        }
    }
}

/// One chat-completions request.
#[derive(Debug, Clone, Copy)]
pub struct ChatRequest<'a> {
    /// Model name.
    pub model: &'a str,
    /// The conversation so far.
    pub messages: &'a [Message],
    /// Tools the model may call.
    pub tools: &'a [ToolSpec],
}

/// The model's reply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatResponse {
    /// Text of the reply (blank text counts as none).
    pub content: Option<String>,
    /// Tool calls, each with a non-empty id.
    pub tool_calls: Vec<ToolCall>,
    /// Why generation stopped (`tool_calls`, `stop`, `length`…), if said.
    pub finish_reason: Option<String>,
    /// Token counts, if reported.
    pub usage: Option<Usage>,
}

/// A chat model that can call tools.
pub trait ChatModel: Send + Sync {
    /// Sends the conversation and returns the model's reply, retrying what is
    /// worth retrying.
    fn complete<'a>(
        &'a self,
        request: ChatRequest<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>>;
}

/// Why a chat-completions request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// Nothing answered at the address (connection refused, unknown host).
    #[error("LLM endpoint {url} unreachable: {detail}")]
    Unreachable {
        /// The endpoint.
        url: String,
        /// What the connection attempt said.
        detail: String,
    },
    /// No complete answer within the request timeout.
    #[error("LLM request to {url} timed out after {timeout_s} s")]
    Timeout {
        /// The endpoint.
        url: String,
        /// The request timeout.
        timeout_s: u64,
    },
    /// The connection broke during the request.
    #[error("LLM request to {url} failed: {detail}")]
    Connection {
        /// The endpoint.
        url: String,
        /// What broke.
        detail: String,
    },
    /// The endpoint answered with an error status.
    #[error("LLM endpoint {url} answered HTTP {status}: {body}")]
    Status {
        /// The endpoint.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
        /// The `Retry-After` the endpoint asked for, if any.
        retry_after: Option<Duration>,
    },
    /// The answer was not a chat completion.
    #[error("LLM endpoint {url} sent an unreadable response: {detail}")]
    InvalidResponse {
        /// The endpoint.
        url: String,
        /// What could not be read.
        detail: String,
    },
}

impl LlmError {
    /// Whether another try of the same request may succeed: 429, 5xx,
    /// timeouts, broken and refused connections.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Unreachable { .. }
            | LlmError::Timeout { .. }
            | LlmError::Connection { .. } => true,
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::InvalidResponse { .. } => false,
        }
    }

    /// Whether a run that failed with this error (after the retries) is
    /// worth another attempt later. An endpoint that is not there, refuses
    /// the request (4xx) or speaks another protocol is not.
    pub fn is_transient(&self) -> bool {
        !matches!(self, LlmError::Unreachable { .. }) && self.is_retryable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_serialise_in_the_openai_format() {
        let msg = Message::Assistant {
            content: None,
            tool_calls: vec![ToolCall {
                id: "call_1".into(),
                kind: "function".into(),
                function: FunctionCall {
                    name: "finish".into(),
                    arguments: "{}".into(),
                },
            }],
        };
        let value = serde_json::to_value(&msg).expect("serialise");
        assert_eq!(
            value,
            json!({"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "finish", "arguments": "{}"}}]})
        );
        let back: Message = serde_json::from_value(value).expect("deserialise");
        assert_eq!(back, msg);
    }

    #[test]
    fn usage_without_a_total_counts_prompt_and_completion() {
        let mut usage = Usage::default();
        usage.add(Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 0,
        });
        usage.add(Usage {
            prompt_tokens: 1,
            completion_tokens: 1,
            total_tokens: 2,
        });
        assert_eq!(
            usage,
            Usage {
                prompt_tokens: 11,
                completion_tokens: 6,
                total_tokens: 17
            }
        );
    }
}
