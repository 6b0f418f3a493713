//! Joining `tracing` spans to a distributed trace.
//!
//! The trace context is carried explicitly (in the outbox row and the
//! message headers), so it travels whether or not spans are exported. When
//! the OpenTelemetry layer is installed, the span also becomes a child of the
//! received context and its own span id is what is passed on.

use crate::trace_context::TraceParent;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes `span` a child of `parent` (when spans are exported) and returns
/// the `traceparent` to pass on from within `span`: the span's own context
/// when it is exported, else a new hop of `parent`'s trace, else (no parent)
/// a new trace.
pub fn continue_trace(span: &tracing::Span, parent: Option<&TraceParent>) -> TraceParent {
    if let Some(parent) = parent {
        // Fails only when no OpenTelemetry layer is installed: nothing to join.
        let _joined = span.set_parent(parent.to_context());
    }
    let context = span.context();
    let own = TraceParent::from_span_context(context.span().span_context());
    match (parent, own) {
        (Some(parent), Some(own)) if own.trace_id() == parent.trace_id() => own,
        (Some(parent), _) => parent.child(),
        (None, Some(own)) => own,
        (None, None) => TraceParent::new_root(),
    }
}
