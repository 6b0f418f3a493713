//! [`OpenAiCompatibleClient`]: `POST {base_url}/chat/completions` over
//! reqwest, with bounded retries.
//!
//! Retries use `backon`'s exponential backoff with jitter. 429, 5xx,
//! timeouts and broken connections are retried up to
//! `RetryConfig::max_retries` times, waiting `Retry-After` instead of the
//! backoff delay when the endpoint sends one. A refused connection is retried
//! only `connect_retries` times, so that a run against an endpoint that is
//! not there fails within seconds. The API key is sent as a bearer token and
//! never appears in logs or errors.
//!
//! A 429 with `Retry-After` is also reported to the endpoint's shared
//! allowance ([`OpenAiCompatibleClient::reporting_to`]), so that every
//! worker's calls wait, not only this one's retry.

use super::wire::{CompletionRequest, CompletionResponse};
use super::{ChatModel, ChatRequest, ChatResponse, LlmError};
use crate::config::{LlmConfig, RetryConfig};
use agent_runner_agent::{Allowance, ModelGate};
use backon::{ExponentialBuilder, Retryable};
use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Longest connect phase, whatever the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of an error body quoted in an error.
const ERROR_BODY_CAP: usize = 500;
/// Longest `Retry-After` passed on to the shared allowance: a larger one is
/// more likely a mistake than a wish to stop every worker for longer.
const MAX_SHARED_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Where a 429's `Retry-After` is reported.
struct Throttle {
    gate: Arc<dyn ModelGate>,
    allowance: Allowance,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("allowance", &self.allowance.key)
            .finish_non_exhaustive()
    }
}

/// A chat model behind an OpenAI-compatible endpoint (OpenAI, Ollama, vLLM,
/// llama.cpp server).
#[derive(Debug)]
pub struct OpenAiCompatibleClient {
    http: reqwest::Client,
    url: String,
    api_key: Option<String>,
    request_timeout: Duration,
    retry: RetryConfig,
    calls: AtomicU64,
    throttle: Option<Throttle>,
}

impl OpenAiCompatibleClient {
    /// A client for `config`'s endpoint.
    pub fn new(config: &LlmConfig) -> Result<Self, LlmError> {
        let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| LlmError::Connection {
                url: url.clone(),
                detail: error_chain(&e),
            })?;
        Ok(Self {
            http,
            url,
            api_key: config.api_key.clone(),
            request_timeout: config.request_timeout,
            retry: config.retry.clone(),
            calls: AtomicU64::new(0),
            throttle: None,
        })
    }

    /// Reports each 429's `Retry-After` to `gate` as `allowance`'s, so that
    /// every caller of the endpoint waits.
    pub fn reporting_to(mut self, gate: Arc<dyn ModelGate>, allowance: Allowance) -> Self {
        self.throttle = Some(Throttle { gate, allowance });
        self
    }

    /// Passes a 429's `Retry-After` on; a gate that can not take it only
    /// costs the other workers a 429 of their own.
    async fn report_throttled(&self, wait: Duration) {
        let Some(throttle) = &self.throttle else {
            return;
        };
        let wait = wait.min(MAX_SHARED_RETRY_AFTER);
        if let Err(err) = throttle.gate.throttled(&throttle.allowance, wait).await {
            tracing::warn!(llm.url = %self.url, error = %err,
                "could not share the endpoint's Retry-After with the other workers");
        }
    }

    /// The full URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn send_once(&self, body: &[u8], id_prefix: &str) -> Result<ChatResponse, LlmError> {
        let mut request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| self.classify(&e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers());
            if let (429, Some(wait)) = (status.as_u16(), retry_after) {
                self.report_throttled(wait).await;
            }
            let text = response.text().await.unwrap_or_default();
            let (body, _) = crate::output::cap_text(text.trim(), ERROR_BODY_CAP);
            return Err(LlmError::Status {
                url: self.url.clone(),
                status: status.as_u16(),
                body,
                retry_after,
            });
        }
        let bytes = response.bytes().await.map_err(|e| self.classify(&e))?;
        let invalid = |detail: String| LlmError::InvalidResponse {
            url: self.url.clone(),
            detail,
        };
        let parsed: CompletionResponse = serde_json::from_slice(&bytes).map_err(|e| {
            let (start, _) = crate::output::cap_text(&String::from_utf8_lossy(&bytes), 200);
            invalid(format!("{e}; the body starts with: {start}"))
        })?;
        parsed.into_chat_response(id_prefix).map_err(invalid)
    }

    fn classify(&self, err: &reqwest::Error) -> LlmError {
        let url = self.url.clone();
        // A connect timeout counts as unreachable: nothing answered at all.
        if err.is_connect() {
            LlmError::Unreachable {
                url,
                detail: error_chain(err),
            }
        } else if err.is_timeout() {
            LlmError::Timeout {
                url,
                timeout_s: self.request_timeout.as_secs(),
            }
        } else if err.is_decode() {
            LlmError::InvalidResponse {
                url,
                detail: error_chain(err),
            }
        } else {
            LlmError::Connection {
                url,
                detail: error_chain(err),
            }
        }
    }
}

impl ChatModel for OpenAiCompatibleClient {
    fn complete<'a>(
        &'a self,
        request: ChatRequest<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&CompletionRequest::new(request)).map_err(|e| {
                LlmError::InvalidResponse {
                    url: self.url.clone(),
                    detail: format!("request: {e}"),
                }
            })?;
            let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
            let id_prefix = format!("call_{call}_");
            let backoff = ExponentialBuilder::default()
                .with_min_delay(self.retry.min_delay)
                .with_max_delay(self.retry.max_delay)
                .with_max_times(self.retry.max_retries)
                .with_jitter();
            let max_retry_after = self.retry.max_retry_after;
            let mut connect_failures = 0_usize;
            (|| self.send_once(&body, &id_prefix))
                .retry(backoff)
                .when(|err| {
                    if matches!(err, LlmError::Unreachable { .. }) {
                        connect_failures += 1;
                        return connect_failures <= self.retry.connect_retries;
                    }
                    err.is_retryable()
                })
                .adjust(|err, delay| match (err, delay) {
                    // Backoff exhausted: stop, whatever the server asks.
                    (_, None) => None,
                    (
                        LlmError::Status {
                            retry_after: Some(wait),
                            ..
                        },
                        Some(_),
                    ) => (*wait <= max_retry_after).then_some(*wait),
                    (_, delay) => delay,
                })
                .notify(|err, delay| {
                    tracing::warn!(
                        llm.url = %self.url,
                        retry.delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        error = %err,
                        "LLM request failed, retrying"
                    );
                })
                .await
        })
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not honoured).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds: f64 = value.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// The error and its sources, joined (reqwest's own message alone hides
/// "connection refused").
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
