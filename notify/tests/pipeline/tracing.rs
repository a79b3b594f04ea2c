//! One request is one trace across the three stages, as an OpenTelemetry Collector receives
//! it: every stage exports its spans over OTLP/HTTP to the collector `scripts/peers.d/otelcol`
//! builds and starts (`NOTIFY_IT_OTLP`), whose file exporter writes what it received as OTLP
//! JSON lines (`NOTIFY_IT_OTLP_TRACES`).
//!
//! The caller sends its own `traceparent`; the spans of ingest, router and the dispatcher must
//! all carry its trace id, each the child of the one before (caller → ingest → router →
//! dispatcher), each from its own service.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::Value;

use crate::harness::Settings;
use crate::run::{self, Run};
use crate::workload::Shape;

/// One span as the collector wrote it.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    span_id: String,
    parent: String,
}

/// The spans of trace `trace_id` in the collector's OTLP JSON lines.
fn spans_of(lines: &str, trace_id: &str) -> Vec<Span> {
    let mut out = Vec::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(doc) = serde_json::from_str::<Value>(line) else {
            continue; // a line still being written
        };
        for resource in doc["resourceSpans"].as_array().into_iter().flatten() {
            let service = resource["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["key"] == "service.name")
                .and_then(|a| a["value"]["stringValue"].as_str())
                .unwrap_or_default()
                .to_owned();
            let spans = resource["scopeSpans"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|scope| scope["spans"].as_array().into_iter().flatten());
            for span in spans.filter(|s| s["traceId"].as_str() == Some(trace_id)) {
                out.push(Span {
                    service: service.clone(),
                    name: span["name"].as_str().unwrap_or_default().to_owned(),
                    span_id: span["spanId"].as_str().unwrap_or_default().to_owned(),
                    parent: span["parentSpanId"].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
    }
    out
}

/// `bytes` random bytes (at most 16) in lowercase hex.
fn random_hex(bytes: usize) -> String {
    uuid::Uuid::new_v4().simple().to_string()[..bytes * 2].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack and the collector: run scripts/test"]
async fn one_request_is_one_trace_across_the_three_stages() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let otlp = std::env::var("NOTIFY_IT_OTLP")
        .context("NOTIFY_IT_OTLP (scripts/peers.d/otelcol url) is not set: run scripts/test")?;
    let traces = std::env::var("NOTIFY_IT_OTLP_TRACES").context(
        "NOTIFY_IT_OTLP_TRACES (scripts/peers.d/otelcol traces) is not set: run scripts/test",
    )?;
    let settings = Settings {
        otlp: Some(otlp),
        ..Settings::default()
    };
    let run = Run::start(settings, Shape::new(20, false)).await?;
    // a notification to someone who takes SMS and nothing else: one delivery, one dispatcher
    let user = run
        .users
        .iter()
        .find(|u| !u.opted_out && u.targets.iter().any(|t| t.channel.as_str() == "sms"))
        .context("no seeded user takes SMS")?;
    let (trace_id, caller_span) = (random_hex(16), random_hex(8));
    let body = serde_json::json!({
        "user_id": user.id, "category": "orders", "channels": ["sms"],
        "content": {"sms": {"text": "traced"}}
    });
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    run.api
        .accepted(&body, &[("traceparent", &traceparent)])
        .await?;

    // the collector writes what it received within a second; the stages export every ~5 s
    let mut spans = Vec::new();
    for _ in 0..60 {
        let text = std::fs::read_to_string(&traces).unwrap_or_default();
        spans = spans_of(&text, &trace_id);
        if ["notify-ingest", "notify-router", "notify-dispatch-sms"]
            .iter()
            .all(|service| spans.iter().any(|s| s.service == *service))
        {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let by_service: HashMap<&str, &Span> = spans.iter().map(|s| (s.service.as_str(), s)).collect();
    crate::observe::report(format_args!(
        "tracing: trace {trace_id}: {}",
        spans
            .iter()
            .map(|s| format!("{} {} ({} <- {})", s.service, s.name, s.span_id, s.parent))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let span = |service: &str| {
        by_service
            .get(service)
            .copied()
            .with_context(|| format!("no span of {service} in trace {trace_id}: {spans:?}"))
    };
    let (ingest, router, dispatch) = (
        span("notify-ingest")?,
        span("notify-router")?,
        span("notify-dispatch-sms")?,
    );
    ensure!(ingest.parent == caller_span, "ingest's parent: {ingest:?}");
    ensure!(
        router.parent == ingest.span_id,
        "router's parent: {router:?}"
    );
    ensure!(
        dispatch.parent == router.span_id,
        "dispatcher's parent: {dispatch:?}"
    );
    run.finish().await;
    Ok(())
}
