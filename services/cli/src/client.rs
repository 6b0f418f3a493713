//! The HTTP client of the agent-runner api: bearer auth, JSON bodies, and the
//! mapping of every failure onto [`CliError`] — 4xx keeps the api's code and
//! message, 5xx and no answer at all become "unavailable", naming the URL.

use crate::exit::CliError;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// How long to wait for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline of a whole request/response, except the event stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest piece of a non-JSON error body quoted in a message.
const QUOTED_BODY_CHARS: usize = 200;

/// A client of one api, cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base: String,
    token: Option<String>,
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    /// The 2xx status (cancel tells 200 from 202).
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The JSON body (`null` when empty).
    pub body: Value,
}

impl ApiClient {
    /// A client of the api at `base` (already validated by the command line).
    pub fn new(base: &str, token: Option<String>) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("agent-runner-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| CliError::Client(format!("cannot set up the HTTP client: {err}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The api's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET path?query`, returning the JSON body.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        let request = self
            .request(Method::GET, path)
            .query(query)
            .timeout(REQUEST_TIMEOUT);
        Ok(self.send(request).await?.body)
    }

    /// `POST path` with an optional JSON body and extra headers.
    pub async fn post(
        &self,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, CliError> {
        let mut request = self.request(Method::POST, path).timeout(REQUEST_TIMEOUT);
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// `PATCH path` with a JSON body, returning the JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        let request = self
            .request(Method::PATCH, path)
            .timeout(REQUEST_TIMEOUT)
            .json(body);
        Ok(self.send(request).await?.body)
    }

    /// Opens an event stream (no overall deadline: it lasts as long as the run).
    /// Returns the 2xx response with its body unread.
    pub async fn open_stream(
        &self,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<Response, CliError> {
        let mut request = self
            .request(Method::GET, path)
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.map_err(|err| self.unreachable(&err))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(self.error_from(response).await)
        }
    }

    /// The failure a transport error stands for.
    pub fn unreachable(&self, err: &reqwest::Error) -> CliError {
        CliError::Unreachable {
            url: self.base.clone(),
            detail: describe(err),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send(&self, request: RequestBuilder) -> Result<Reply, CliError> {
        let response = request.send().await.map_err(|err| self.unreachable(&err))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.error_from(response).await);
        }
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|err| self.unreachable(&err))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|err| {
                CliError::Client(format!(
                    "the api at {} answered {status} with a body that is not JSON: {err}",
                    self.base
                ))
            })?
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    async fn error_from(&self, response: Response) -> CliError {
        let status = response.status();
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let text = response.text().await.unwrap_or_default();
        let parsed = is_json.then(|| api_error(&text)).flatten();
        let (code, message) = parsed.unwrap_or_else(|| {
            let quoted: String = text.trim().chars().take(QUOTED_BODY_CHARS).collect();
            let message = if quoted.is_empty() {
                status.canonical_reason().unwrap_or("no message").to_owned()
            } else {
                quoted
            };
            (format!("http_{}", status.as_u16()), message)
        });
        CliError::Api {
            status: status.as_u16(),
            code,
            message,
            url: self.base.clone(),
        }
    }
}

/// `(code, message)` of an api error body `{"error": {"code", "message"}}`.
fn api_error(text: &str) -> Option<(String, String)> {
    let body: Value = serde_json::from_str(text).ok()?;
    let error = body.get("error")?;
    let code = error.get("code")?.as_str()?.to_owned();
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((code, message))
}

/// A one-line account of a transport error, ending with its root cause
/// ("connection refused (os error 111)").
fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "the response was cut off"
    } else {
        "request failed"
    };
    let mut root: &dyn std::error::Error = err;
    while let Some(source) = root.source() {
        root = source;
    }
    format!("{what}: {root}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_bodies_give_code_and_message() {
        let body =
            r#"{"error":{"code":"unauthorized","message":"a valid bearer token is required"}}"#;
        assert_eq!(
            api_error(body),
            Some((
                "unauthorized".into(),
                "a valid bearer token is required".into()
            ))
        );
        assert_eq!(api_error(r#"{"detail":"x"}"#), None);
        assert_eq!(api_error("<html>"), None);
    }

    #[test]
    fn the_base_url_loses_its_trailing_slash() {
        let client = ApiClient::new("http://127.0.0.1:8080/", None).expect("client");
        assert_eq!(client.base_url(), "http://127.0.0.1:8080");
    }
}
