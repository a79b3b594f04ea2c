//! One trace per notification across the stages: W3C trace context (`traceparent`,
//! `tracestate`) in the Kafka headers of every record a stage produces for the next one, and
//! spans exported over OTLP/HTTP when `telemetry.otlp_endpoint` is set.
//!
//! Guarantees: a stage's span for a record is the child of the context the record's headers
//! carry, and the records it produces carry that span's context, so ingest → router →
//! dispatcher is one trace. Without an exporter the context passes through unchanged (a
//! caller's `traceparent` still reaches the dispatcher's logs and the next hop). Export never
//! blocks a stage: spans are batched on a background thread and dropped if the receiver is
//! down (`force_flush` on shutdown gives the last batch a chance). Not guaranteed: sampling
//! keeps `trace_sample_ratio` of new traces; a sampled incoming `traceparent` is always kept.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::TelemetryConfig;

/// Kafka header (and HTTP header) of the W3C trace parent.
pub const TRACEPARENT: &str = "traceparent";
/// Kafka header (and HTTP header) of the W3C trace state.
pub const TRACESTATE: &str = "tracestate";

/// The W3C trace context a Kafka record's headers carry: `traceparent` and `tracestate`.
pub fn of_headers<H: rdkafka::message::Headers>(
    headers: Option<&H>,
) -> Option<(String, Option<String>)> {
    let headers = headers?;
    let parent = crate::kafka::header_str(headers, TRACEPARENT)?;
    let state = crate::kafka::header_str(headers, TRACESTATE);
    Some((parent.to_owned(), state.map(str::to_owned)))
}

/// The trace context a record continues: the one its headers carry (`header`, from
/// [`of_headers`] or an HTTP request's), else its body's `trace`.
pub fn incoming<'a>(
    header: Option<&'a (String, Option<String>)>,
    body: Option<&'a notify_schemas::TraceContext>,
) -> (Option<&'a str>, Option<&'a str>) {
    match (header, body) {
        (Some((parent, state)), _) => (Some(parent.as_str()), state.as_deref()),
        (None, Some(body)) => (Some(body.traceparent.as_str()), body.tracestate.as_deref()),
        (None, None) => (None, None),
    }
}

/// The exporter and sampler `config` describes for `service`, or `None` when no endpoint is
/// set.
pub fn provider(
    config: &TelemetryConfig,
    service: &str,
) -> Result<Option<SdkTracerProvider>, String> {
    let Some(endpoint) = &config.otlp_endpoint else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()
        .map_err(|err| format!("OTLP exporter for {endpoint}: {err}"))?;
    let name = config
        .service_name
        .clone()
        .unwrap_or_else(|| format!("notify-{service}"));
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.trace_sample_ratio,
            ))))
            .with_resource(Resource::builder().with_service_name(name).build())
            .build(),
    ))
}

/// The `tracing` layer exporting spans through `provider`.
pub fn layer<S>(
    provider: &SdkTracerProvider,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    // a stage learns a record's parent only once it is being handled (after its span was
    // entered): without activation on enter, the parent can still be set until the span's
    // context is first read
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("notify"))
        .with_context_activation(false)
}

/// Makes `span` the child of the trace context `traceparent` and `tracestate` name, if they
/// name a valid one; otherwise `span` starts a trace of its own.
pub fn follow(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(parent) = traceparent else { return };
    let mut carrier = HashMap::new();
    carrier.insert(TRACEPARENT.to_owned(), parent.to_owned());
    if let Some(state) = tracestate {
        carrier.insert(TRACESTATE.to_owned(), state.to_owned());
    }
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        // an error here means no OpenTelemetry layer is installed: nothing to link
        let _ = span.set_parent(context);
    }
}

/// The trace context the records `span` produces must carry: `span`'s own when spans are
/// exported, else the `incoming` one passed through unchanged.
pub fn outgoing(
    span: &tracing::Span,
    incoming: (Option<&str>, Option<&str>),
) -> Vec<(&'static str, String)> {
    let context = span.context();
    if context.span().span_context().is_valid() {
        let mut carrier: HashMap<String, String> = HashMap::new();
        TraceContextPropagator::new().inject_context(&context, &mut carrier);
        return [TRACEPARENT, TRACESTATE]
            .into_iter()
            .filter_map(|name| carrier.remove(name).map(|value| (name, value)))
            .collect();
    }
    let (parent, state) = incoming;
    parent
        .map(|p| (TRACEPARENT, p.to_owned()))
        .into_iter()
        .chain(state.map(|s| (TRACESTATE, s.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::trace::InMemorySpanExporter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn without_an_exporter_the_incoming_context_passes_through() {
        let span = tracing::info_span!("route");
        follow(&span, Some(PARENT), Some("a=1"));
        assert_eq!(
            outgoing(&span, (Some(PARENT), Some("a=1"))),
            vec![
                (TRACEPARENT, PARENT.to_owned()),
                (TRACESTATE, "a=1".to_owned())
            ]
        );
        assert!(outgoing(&span, (None, None)).is_empty());
    }

    #[test]
    fn a_span_continues_the_incoming_trace_and_hands_on_its_own_id() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry().with(layer(&provider));
        let headers = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("route");
            // as the stages do: the parent is known only inside the entered span
            let headers = span.in_scope(|| {
                follow(&span, Some(PARENT), None);
                outgoing(&span, (Some(PARENT), None))
            });
            drop(span);
            headers
        });
        let _ = provider.force_flush();
        let spans = exporter.get_finished_spans().expect("spans");
        assert_eq!(spans.len(), 1);
        let span = &spans[0];
        assert_eq!(
            span.span_context.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
        let (name, value) = &headers[0];
        assert_eq!(*name, TRACEPARENT);
        assert_eq!(
            value,
            &format!(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
                span.span_context.span_id()
            )
        );
    }
}
