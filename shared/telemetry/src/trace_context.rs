//! W3C trace context (`traceparent`) as it travels between processes: in
//! the api's request headers, in the outbox row, in the job message's AMQP
//! headers, and into the worker's spans.
//!
//! Parsing and formatting are the OpenTelemetry propagator's, so the header
//! follows the W3C rules (version, all-zero ids refused, flags); this type
//! only carries the result across our own boundaries.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use std::fmt;

/// Name of the header (HTTP) and of the AMQP message header.
pub const TRACEPARENT: &str = "traceparent";

/// One hop of a distributed trace: the trace it belongs to and the span
/// that is the parent of whatever the receiver does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent(SpanContext);

struct OneHeader<'a>(Option<&'a str>);

impl Extractor for OneHeader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key == TRACEPARENT { self.0 } else { None }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

struct Capture(Option<String>);

impl Injector for Capture {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

impl TraceParent {
    /// Parses a `traceparent` header value; `None` when it is not a valid one.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        if !well_formed(header) {
            return None;
        }
        let cx = TraceContextPropagator::new().extract(&OneHeader(Some(header)));
        let span = cx.span();
        let context = span.span_context();
        context.is_valid().then(|| Self(context.clone()))
    }

    /// The start of a new trace (sampled).
    pub fn new_root() -> Self {
        let ids = RandomIdGenerator::default();
        Self::from_parts(ids.new_trace_id(), ids.new_span_id(), true)
    }

    /// A hop in the same trace with a new span id: what this process passes
    /// on when it has no span id of its own to offer.
    pub fn child(&self) -> Self {
        let ids = RandomIdGenerator::default();
        Self::from_parts(self.trace_id(), ids.new_span_id(), self.sampled())
    }

    /// From a trace id, a span id and the sampled flag.
    pub fn from_parts(trace_id: TraceId, span_id: SpanId, sampled: bool) -> Self {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Self(SpanContext::new(
            trace_id,
            span_id,
            flags,
            true,
            TraceState::default(),
        ))
    }

    /// From an OpenTelemetry span context, if it is valid.
    pub fn from_span_context(context: &SpanContext) -> Option<Self> {
        context.is_valid().then(|| Self(context.clone()))
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.0.trace_id()
    }

    /// The parent span id.
    pub fn span_id(&self) -> SpanId {
        self.0.span_id()
    }

    /// Whether the caller sampled the trace.
    pub fn sampled(&self) -> bool {
        self.0.is_sampled()
    }

    /// An OpenTelemetry context whose remote parent is this hop.
    pub fn to_context(&self) -> Context {
        Context::new().with_remote_span_context(self.0.clone())
    }

    /// The header value, `00-<trace id>-<span id>-<flags>`.
    pub fn to_header(&self) -> String {
        let mut capture = Capture(None);
        TraceContextPropagator::new().inject_context(&self.to_context(), &mut capture);
        capture.0.unwrap_or_default()
    }
}

/// The field lengths and lower-case hex the W3C format requires, which the
/// propagator does not check strictly (it accepts a short trace id).
fn well_formed(header: &str) -> bool {
    let lower_hex = |field: &str, len: usize| {
        field.len() == len
            && field
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let mut fields = header.split('-');
    let (Some(version), Some(trace_id), Some(parent_id), Some(flags)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    // Version 00 has exactly four fields; later versions may append more.
    let rest_ok = version != "00" || fields.next().is_none();
    lower_hex(version, 2)
        && lower_hex(trace_id, 32)
        && lower_hex(parent_id, 16)
        && lower_hex(flags, 2)
        && rest_ok
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_round_trips() {
        let parent = TraceParent::parse(SAMPLE).expect("valid");
        assert_eq!(
            parent.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parent.span_id().to_string(), "00f067aa0ba902b7");
        assert!(parent.sampled());
        assert_eq!(parent.to_header(), SAMPLE);
    }

    #[test]
    fn malformed_and_all_zero_headers_are_refused() {
        for bad in [
            "",
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_child_keeps_the_trace_and_changes_the_span() {
        let parent = TraceParent::parse(SAMPLE).expect("valid");
        let child = parent.child();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.span_id(), parent.span_id());
        assert_eq!(TraceParent::parse(&child.to_header()), Some(child));
    }

    #[test]
    fn new_roots_are_distinct_valid_traces() {
        let a = TraceParent::new_root();
        let b = TraceParent::new_root();
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(TraceParent::parse(&a.to_header()), Some(a));
    }
}
