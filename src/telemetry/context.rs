//! W3C Trace Context between this process and the outside: an incoming request's
//! `traceparent`, the one stored with an outbox row, the one sent with a webhook.
//!
//! Rule: a traceparent only ever enters or leaves through these functions, parsed and
//! re-serialised by the propagator (never client text copied through). Without trace export
//! (no OpenTelemetry layer) spans have no context: [`traceparent`] is `None` and the others do
//! nothing.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The context named by a `traceparent` (and `tracestate`), if it is a valid one.
fn extract(traceparent: &str, tracestate: Option<&str>) -> Option<opentelemetry::Context> {
    let mut carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    if let Some(tracestate) = tracestate {
        carrier.insert("tracestate".to_owned(), tracestate.to_owned());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    cx.span().span_context().is_valid().then_some(cx)
}

/// Makes `span` continue the trace of `traceparent`: its parent becomes that remote span. To be
/// called before the span is first entered; an invalid or missing value leaves it a root.
pub fn continue_trace(span: &Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    if let Some(cx) = traceparent.and_then(|value| extract(value, tracestate)) {
        // Fails only without the OpenTelemetry layer (nothing to continue) or once started.
        let _ = span.set_parent(cx);
    }
}

/// Links `span` to the span named by `traceparent` without making it the parent.
pub fn link(span: &Span, traceparent: &str) {
    if let Some(cx) = extract(traceparent, None) {
        span.add_link(cx.span().span_context().clone());
    }
}

/// The `traceparent` of `span`, to hand to whatever continues its work.
pub fn traceparent(span: &Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}
