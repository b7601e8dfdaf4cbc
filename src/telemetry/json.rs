//! `LOG_FORMAT=json`: one JSON object per line.
//!
//! `{"timestamp", "level", "target", "span", <fields of the enclosing spans, outermost first>,
//! <the event's fields, "message" among them>, "trace_id", "span_id"}`: a request's lines carry
//! its `request_id`, `method`, `path`, `shop` and `shop_id` at the top level, so a log store can
//! filter on them; `trace_id` and `span_id` (of the innermost span) appear when traces are
//! exported. An event's field wins over a span's field of the same name; `otel.*` fields (span
//! settings for the exporter) are left out.

use std::fmt;

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OtelData;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter; span fields must be stored as JSON (`JsonFields`).
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true).into(),
        );
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("target".into(), metadata.target().into());
        let mut ids = None;
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<_> = scope.collect(); // innermost first
            if let Some(innermost) = spans.first() {
                line.insert("span".into(), innermost.name().into());
            }
            for span in spans.iter().rev() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields)
                {
                    line.extend(fields.into_iter().filter(|(name, _)| !name.starts_with("otel.")));
                }
            }
            ids = spans.iter().find_map(|span| {
                let extensions = span.extensions();
                let otel = extensions.get::<OtelData>()?;
                Some((otel.trace_id()?, otel.span_id()?))
            });
        }
        event.record(&mut EventFields(&mut line));
        if let Some((trace_id, span_id)) = ids {
            line.insert("trace_id".into(), trace_id.to_string().into());
            line.insert("span_id".into(), span_id.to_string().into());
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects an event's fields as JSON values.
struct EventFields<'a>(&'a mut Map<String, Value>);

impl Visit for EventFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}
