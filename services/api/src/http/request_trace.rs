//! The request span and its trace context. An incoming W3C `traceparent` is
//! honoured, otherwise a new trace starts here; the span carries `trace_id`
//! (so logs of one request share it) and the hop to pass on is put in the
//! request's extensions for handlers that publish jobs.

use agent_runner_telemetry::{TRACEPARENT, TraceParent, spans};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The `traceparent` a handler passes on (outbox row, job message).
#[derive(Debug, Clone)]
pub struct RequestTrace(pub TraceParent);

/// Middleware wrapping every request in an `http.request` span.
pub async fn trace(mut request: Request, next: Next) -> Response {
    let incoming = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let span = tracing::info_span!(
        "http.request",
        http.method = %request.method(),
        http.path = %request.uri().path(),
        trace_id = tracing::field::Empty,
    );
    let hop = spans::continue_trace(&span, incoming.as_ref());
    span.record("trace_id", tracing::field::display(hop.trace_id()));
    request.extensions_mut().insert(RequestTrace(hop));
    next.run(request).instrument(span).await
}
