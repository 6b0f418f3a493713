//! A scripted OpenAI-compatible server: answers `POST /v1/chat/completions`
//! from a list of canned responses and records every request.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One canned answer.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// 200 with this body.
    Reply(Value),
    /// An error status, with an optional `Retry-After` in seconds.
    Status(u16, Option<u64>),
    /// Never answers.
    Hang,
    /// The inner answer, given only once this many requests have arrived
    /// in all (HTTP 500 after [`BARRIER_WAIT`]): runs answered this way
    /// were provably waiting on the model at the same time.
    AfterRequests(usize, Box<Scripted>),
    /// The answer for the conversation's turn: the `n`th of the list when
    /// the request holds `n` assistant messages (HTTP 500 past its end).
    /// As the fallback of [`FakeLlm::start`], it gives every run the same
    /// answers however their requests interleave.
    ByTurn(Vec<Scripted>),
}

/// Longest an [`Scripted::AfterRequests`] answer waits for the others.
pub const BARRIER_WAIT: Duration = Duration::from_secs(20);

/// A request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// When it arrived.
    pub received_at: std::time::Instant,
}

#[derive(Default)]
struct Script {
    queue: VecDeque<Scripted>,
    /// Served once the queue is empty.
    then: Option<Scripted>,
    requests: Vec<Recorded>,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeLlm {
    /// `http://127.0.0.1:<port>/v1`, the value for `LLM_BASE_URL`.
    pub base_url: String,
    script: Arc<Mutex<Script>>,
}

impl FakeLlm {
    /// Serves `script` in order; once it is used up, `then` (or HTTP 500).
    pub async fn start(script: Vec<Scripted>, then: Option<Scripted>) -> Self {
        let state = Arc::new(Mutex::new(Script {
            queue: script.into(),
            then,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            script: state,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.script.lock().expect("lock").requests.clone()
    }

    /// Bodies of every request so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.requests().into_iter().map(|r| r.body).collect()
    }
}

async fn answer(
    State(state): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let next = {
        let mut script = state.lock().expect("lock");
        script.requests.push(Recorded {
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            authorization: headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            received_at: std::time::Instant::now(),
        });
        script.queue.pop_front().or_else(|| script.then.clone())
    };
    let next = match next {
        Some(Scripted::ByTurn(turns)) => {
            let turn = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|b| b["messages"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter(|m| m["role"] == "assistant")
                .count();
            turns.into_iter().nth(turn)
        }
        other => other,
    };
    let next = match next {
        Some(Scripted::AfterRequests(wanted, inner)) => {
            let deadline = tokio::time::Instant::now() + BARRIER_WAIT;
            while state.lock().expect("lock").requests.len() < wanted {
                if tokio::time::Instant::now() > deadline {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "barrier not reached")
                        .into_response();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Some(*inner)
        }
        other => other,
    };
    match next {
        Some(Scripted::Reply(body)) => axum::Json(body).into_response(),
        Some(Scripted::Status(code, retry_after)) => {
            let status = StatusCode::from_u16(code).expect("status");
            let body = json!({"error": {"message": format!("scripted {code}")}});
            match retry_after {
                Some(s) => {
                    (status, [("retry-after", s.to_string())], axum::Json(body)).into_response()
                }
                None => (status, axum::Json(body)).into_response(),
            }
        }
        Some(Scripted::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Some(Scripted::AfterRequests(..) | Scripted::ByTurn(_)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "nested script").into_response()
        }
        None => (StatusCode::INTERNAL_SERVER_ERROR, "script exhausted").into_response(),
    }
}

/// Usage reported by every scripted reply.
pub const USAGE: (u64, u64, u64) = (10, 5, 15);

fn completion(message: Value, finish_reason: &str) -> Scripted {
    Scripted::Reply(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": USAGE.0, "completion_tokens": USAGE.1, "total_tokens": USAGE.2},
    }))
}

/// A reply calling tools; `arguments` are sent as JSON text, as OpenAI does.
pub fn calls(calls: &[(&str, &str, Value)]) -> Scripted {
    calls_with_text(None, calls)
}

/// Like [`calls`], with text before the calls.
pub fn calls_with_text(text: Option<&str>, calls: &[(&str, &str, Value)]) -> Scripted {
    let tool_calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, args)| {
            json!({"id": id, "type": "function",
                "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    completion(
        json!({"role": "assistant", "content": text, "tool_calls": tool_calls}),
        "tool_calls",
    )
}

/// A reply calling tools that the server cut off at its output limit
/// (`finish_reason: length`).
pub fn calls_cut_off(calls: &[(&str, &str, Value)]) -> Scripted {
    match calls_with_text(None, calls) {
        Scripted::Reply(mut body) => {
            body["choices"][0]["finish_reason"] = json!("length");
            Scripted::Reply(body)
        }
        other => other,
    }
}

/// A reply calling one tool with `arguments` exactly as given (an object,
/// or a string that may not be valid JSON).
pub fn raw_call(id: &str, name: &str, arguments: Value) -> Scripted {
    completion(
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}]}),
        "tool_calls",
    )
}

/// A reply with text only.
pub fn text(text: &str) -> Scripted {
    completion(json!({"role": "assistant", "content": text}), "stop")
}

/// A reply calling `finish`.
pub fn finish(id: &str, summary: &str) -> Scripted {
    calls(&[(id, "finish", json!({"summary": summary}))])
}

/// A run that starts a changelog, then a follow-up that adds a second entry.
pub fn changelog_in_two_steps() -> Vec<Scripted> {
    vec![
        calls(&[(
            "a1",
            "write_file",
            json!({"path": "CHANGELOG.md", "content": "- first\n"}),
        )]),
        finish("a2", "Started a changelog."),
        calls(&[(
            "b1",
            "str_replace",
            json!({"path": "CHANGELOG.md", "old_str": "- first\n", "new_str": "- first\n- second\n"}),
        )]),
        finish("b2", "Added a second entry."),
    ]
}

/// A run that changes the answer in [`origin_repo`]'s `src/lib.rs` from 41
/// to 42 with `str_replace`, then finishes.
///
/// [`origin_repo`]: crate::git_repo::origin_repo
pub fn fix_the_answer() -> Vec<Scripted> {
    vec![
        calls(&[(
            "c1",
            "str_replace",
            json!({"path": "src/lib.rs", "old_str": "    41", "new_str": "    42"}),
        )]),
        finish("c2", "Fixed the answer."),
    ]
}
