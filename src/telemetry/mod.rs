//! What an operator sees of a running instance: Prometheus [`metrics`], logs and traces (the
//! process's `tracing` subscriber and, when configured, its OpenTelemetry export).
//!
//! - **Logs** go to stderr, filtered by `RUST_LOG` (default `info,sqlx=warn`): text, or one JSON
//!   object per line with `LOG_FORMAT=json` ([`json`]: the event, the fields of its spans
//!   flattened — `request_id`, `shop`, `shop_id` — and `trace_id` when traces are on).
//! - **Traces** are exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (and
//!   `OTEL_SDK_DISABLED` is not `true`), in batches (`OTEL_BSP_*`), as `http/protobuf` or
//!   `http/json` (`OTEL_EXPORTER_OTLP_PROTOCOL`), under `OTEL_SERVICE_NAME` (default
//!   `shopfleet`). Every `tracing` span at the enabled levels becomes an OpenTelemetry span.
//! - **Propagation** is W3C Trace Context ([`context`]): an incoming `traceparent` is the
//!   request span's parent, outbox rows store the traceparent of the transaction that wrote
//!   them, and outgoing webhooks send theirs.
//!
//! Rule: telemetry is infrastructure: any module may record into it; it imports no domain.
//! [`init`] once, first thing in `main`, and keep its [`Telemetry`] until `main` returns:
//! dropping it exports the spans still queued.

pub mod context;
mod json;
pub mod metrics;

use std::io::IsTerminal;

use anyhow::{Context as _, bail};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// `RUST_LOG` when unset.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn";
/// `service.name` of the exported spans unless `OTEL_SERVICE_NAME` (or `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES`) says otherwise.
pub const DEFAULT_SERVICE_NAME: &str = "shopfleet";

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `text` (also when unset or empty) or `json`.
    pub fn parse(value: &str) -> anyhow::Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => bail!("LOG_FORMAT must be `text` or `json`, not {other:?}"),
        }
    }
}

/// The installed telemetry. Dropping it shuts the trace export down, sending what is queued.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("exporting the last spans failed: {err}");
        }
    }
}

/// Installs the process's subscriber from the environment (see the module doc). Fails on a
/// `LOG_FORMAT` or OTLP setting it cannot honour, or when a subscriber is already installed.
pub fn init() -> anyhow::Result<Telemetry> {
    let format = LogFormat::parse(&std::env::var("LOG_FORMAT").unwrap_or_default())?;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let provider = tracer_provider()?;
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(DEFAULT_SERVICE_NAME))
    });
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            registry.with(stderr.with_ansi(std::io::stderr().is_terminal())).try_init()
        }
        LogFormat::Json => registry
            .with(stderr.fmt_fields(JsonFields::new()).event_format(json::JsonLines))
            .try_init(),
    }
    .context("installing the log subscriber")?;
    Ok(Telemetry { provider })
}

/// The OTLP/HTTP trace pipeline, if `OTEL_EXPORTER_OTLP_ENDPOINT` asks for one. The exporter
/// reads the endpoint, headers, timeout and compression from the standard variables itself.
fn tracer_provider() -> anyhow::Result<Option<SdkTracerProvider>> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    if var("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        || var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return Ok(None);
    }
    let protocol = match var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
        .map(str::trim)
    {
        None | Some("http/protobuf") => Protocol::HttpBinary,
        Some("http/json") => Protocol::HttpJson,
        Some(other) => {
            bail!(
                "OTEL_EXPORTER_OTLP_PROTOCOL {other:?} is not supported: use http/protobuf or http/json"
            )
        }
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .context("building the OTLP span exporter")?;
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource())
            .build(),
    ))
}

/// The standard resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`), named `shopfleet`
/// when neither names the service, with the binary's version.
fn resource() -> Resource {
    let service_name = opentelemetry::Key::from_static_str("service.name");
    let named = Resource::builder()
        .build()
        .get(&service_name)
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    let builder = Resource::builder()
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if named { builder.build() } else { builder.with_service_name(DEFAULT_SERVICE_NAME).build() }
}

#[cfg(test)]
mod tests {
    use super::LogFormat;

    #[test]
    fn log_format_is_text_or_json() {
        assert_eq!(LogFormat::parse("").unwrap(), LogFormat::Text);
        assert_eq!(LogFormat::parse("text").unwrap(), LogFormat::Text);
        assert_eq!(LogFormat::parse(" json ").unwrap(), LogFormat::Json);
        assert_eq!(LogFormat::parse("JSON").unwrap(), LogFormat::Json);
        let err = LogFormat::parse("logfmt").unwrap_err().to_string();
        assert!(err.contains("LOG_FORMAT"), "{err}");
    }
}
