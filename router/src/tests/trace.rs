//! Trace context from a request record to its deliveries: the header wins, the body's
//! `trace` is the fallback, and the request time travels with every delivery.

use notify_common::metrics::REQUESTED_AT_HEADER;
use notify_common::publish::Record;
use notify_common::trace::{TRACEPARENT, TRACESTATE};
use notify_schemas::TraceContext;
use notify_store::settings::TenantSettings;

use super::handler::{incoming, World};
use super::*;

const FROM_HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const FROM_BODY: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn delivery_records(world: &World, records: &[Record]) -> Vec<Record> {
    let topics = [
        world.topics.deliveries("sms"),
        world.topics.deliveries("email"),
    ];
    records
        .iter()
        .filter(|r| topics.contains(&r.topic))
        .cloned()
        .collect()
}

#[tokio::test]
async fn deliveries_carry_the_trace_of_the_request_header_before_the_body() {
    let world = World::new(TenantSettings::default()).await;
    let mut request = world.request(&[Channel::Sms, Channel::Email]);
    request.trace = Some(TraceContext {
        traceparent: FROM_BODY.into(),
        tracestate: None,
    });
    let mut record = incoming(&request);
    record.trace = Some((FROM_HEADER.into(), Some("vendor=1".into())));
    let records = world.handler.handle(&record).await.expect("routed");
    let deliveries = delivery_records(&world, &records);
    assert_eq!(deliveries.len(), 2, "{records:?}");
    for delivery in &deliveries {
        assert_eq!(delivery.header_value(TRACEPARENT), Some(FROM_HEADER));
        assert_eq!(delivery.header_value(TRACESTATE), Some("vendor=1"));
        let created = request.created_at.to_string();
        assert_eq!(
            delivery.header_value(REQUESTED_AT_HEADER),
            Some(created.as_str())
        );
    }

    record.trace = None;
    let records = world.handler.handle(&record).await.expect("routed");
    for delivery in delivery_records(&world, &records) {
        assert_eq!(delivery.header_value(TRACEPARENT), Some(FROM_BODY));
        assert_eq!(delivery.header_value(TRACESTATE), None);
    }
}
