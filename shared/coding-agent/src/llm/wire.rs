//! JSON bodies of `POST /chat/completions`, written by hand.
//!
//! Servers differ in small ways: tool-call `arguments` as a JSON string
//! (OpenAI, vLLM) or as an object (some Ollama versions), missing tool-call
//! ids (some llama.cpp builds), `content` absent, `null` or `""` next to tool
//! calls, `usage` missing. These structs accept all of them and ignore fields
//! they do not know.

use super::{ChatRequest, ChatResponse, Message, ToolCall, ToolSpec, Usage};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};

/// The request body.
#[derive(Debug, Serialize)]
pub struct CompletionRequest<'a> {
    /// Model name.
    pub model: &'a str,
    /// The conversation.
    pub messages: &'a [Message],
    /// Offered tools (`{"type": "function", "function": {…}}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Value>,
    /// Always false: the whole reply in one body.
    pub stream: bool,
}

impl<'a> CompletionRequest<'a> {
    /// The body for `request`.
    pub fn new(request: ChatRequest<'a>) -> Self {
        Self {
            model: request.model,
            messages: request.messages,
            tools: request.tools.iter().map(tool_json).collect(),
            stream: false,
        }
    }
}

fn tool_json(spec: &ToolSpec) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.parameters,
        }
    })
}

/// The response body.
#[derive(Debug, Deserialize)]
pub struct CompletionResponse {
    /// Alternatives; the first is used.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// One alternative reply.
#[derive(Debug, Deserialize)]
pub struct Choice {
    /// The reply.
    pub message: ReplyMessage,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The assistant message of a reply.
#[derive(Debug, Deserialize)]
pub struct ReplyMessage {
    /// Text, if any.
    #[serde(default)]
    pub content: Option<String>,
    /// Tool calls, if any (`null` is accepted).
    #[serde(default)]
    pub tool_calls: Option<Vec<ToolCall>>,
}

impl CompletionResponse {
    /// The first choice as a [`ChatResponse`]; tool calls without an id get
    /// one (`call_<n>`) so that their results can be matched.
    pub fn into_chat_response(self, id_prefix: &str) -> Result<ChatResponse, String> {
        let usage = self.usage;
        let Some(choice) = self.choices.into_iter().next() else {
            return Err("the response has no choices".to_owned());
        };
        let content = choice
            .message
            .content
            .filter(|text| !text.trim().is_empty());
        let tool_calls = choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, mut call)| {
                if call.id.trim().is_empty() {
                    call.id = format!("{id_prefix}{index}");
                }
                call.kind = "function".to_owned();
                call
            })
            .collect();
        Ok(ChatResponse {
            content,
            tool_calls,
            finish_reason: choice.finish_reason,
            usage,
        })
    }
}

/// Reads tool-call `arguments` given as JSON text or as any JSON value
/// (re-encoded as text); `null` or absent becomes `""`.
pub fn arguments_as_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> ChatResponse {
        let response: CompletionResponse = serde_json::from_value(body).expect("parse");
        response.into_chat_response("call_x_").expect("a choice")
    }

    #[test]
    fn arguments_may_be_a_string_or_an_object() {
        let reply = parse(
            json!({"choices": [{"message": {"role": "assistant", "content": "",
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"x\"}"}},
                {"id": "b", "function": {"name": "read_file", "arguments": {"path": "y"}}}
            ]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        );
        assert_eq!(reply.content, None);
        assert_eq!(reply.tool_calls[0].function.arguments, r#"{"path":"x"}"#);
        assert_eq!(reply.tool_calls[1].function.arguments, r#"{"path":"y"}"#);
        assert_eq!(reply.usage.map(|u| u.total_tokens), Some(5));
        assert_eq!(reply.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn missing_tool_call_ids_are_filled_in() {
        let reply = parse(json!({"choices": [{"message": {"tool_calls": [
            {"function": {"name": "finish", "arguments": null}}]}}]}));
        assert_eq!(reply.tool_calls[0].id, "call_x_0");
        assert_eq!(reply.tool_calls[0].function.arguments, "");
        assert_eq!(reply.usage, None);
    }
}
