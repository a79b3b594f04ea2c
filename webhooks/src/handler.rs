//! Which endpoint gets which status event, with what body: pure, one batch of records in,
//! backlog entries out. The consumer reads the tenants' endpoints before calling it and writes
//! what it returns.

use std::collections::HashMap;
use std::sync::Arc;

use notify_schemas::records::DeliveryStatus;
use notify_store::webhooks::{OutboxEntry, QueueId, WebhookEndpoint};

use crate::payload::WebhookEvent;

/// One record read from `notify.status`.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Its partition: the shard of the backlog queues it goes to.
    pub partition: i32,
    /// Its offset: its place in those queues.
    pub offset: i64,
    /// The decoded status, or `None` when it did not decode.
    pub status: Option<DeliveryStatus>,
}

/// What a batch comes to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Planned {
    /// Entries to write to the backlog, in record order.
    pub entries: Vec<OutboxEntry>,
    /// Records at least one endpoint wanted.
    pub queued: usize,
    /// Records no endpoint wanted.
    pub unwanted: usize,
    /// Records that did not decode (skipped: they are not this stage's to dead-letter; the
    /// status topic's producers and analysts see them).
    pub undecodable: usize,
}

/// Plans `batch`, read at `now_ms`, for the endpoints in `endpoints` (by tenant; a tenant
/// missing from the map has none). Disabled endpoints and those whose filter does not want an
/// event get nothing.
pub fn plan(
    batch: &[Incoming],
    endpoints: &HashMap<String, Arc<Vec<WebhookEndpoint>>>,
    now_ms: i64,
) -> Planned {
    let mut planned = Planned::default();
    for record in batch {
        let Some(status) = &record.status else {
            planned.undecodable += 1;
            continue;
        };
        let event = WebhookEvent::of(status);
        let wanting: Vec<&WebhookEndpoint> = endpoints
            .get(&status.tenant)
            .map(|of| {
                of.iter()
                    .filter(|e| e.enabled && event.wanted_by(&e.statuses))
                    .collect()
            })
            .unwrap_or_default();
        if wanting.is_empty() {
            planned.unwanted += 1;
            continue;
        }
        planned.queued += 1;
        let body = event.body();
        for endpoint in wanting {
            planned.entries.push(OutboxEntry {
                queue: QueueId {
                    endpoint_id: endpoint.endpoint_id.clone(),
                    shard: record.partition,
                },
                seq: record.offset,
                tenant_id: status.tenant.clone(),
                delivery_key: event.delivery_key(),
                body: body.clone(),
                enqueued_at_ms: now_ms,
            });
        }
    }
    planned
}

#[cfg(test)]
mod tests {
    use notify_schemas::records::{Stage, Status};
    use notify_store::webhooks::conformance::endpoint;
    use uuid::Uuid;

    use super::*;

    fn record(tenant: &str, offset: i64, status: Status) -> Incoming {
        Incoming {
            partition: 2,
            offset,
            status: Some(DeliveryStatus {
                tenant: tenant.into(),
                template_id: None,
                event_id: Uuid::from_u128(9),
                delivery_id: Some(Uuid::from_u128(10)),
                user_id: None,
                category: None,
                channel: None,
                recipient: None,
                status,
                stage: Stage::Dispatcher,
                reason: None,
                provider: None,
                provider_message_id: None,
                attempt: 1,
                occurred_at: 5,
                receipt: None,
            }),
        }
    }

    #[test]
    fn each_wanting_endpoint_gets_the_event_in_its_partition_queue() {
        let mut all = endpoint("tn_a", "wh_all");
        all.statuses = Vec::new();
        let failed_only = endpoint("tn_a", "wh_failed"); // FAILED, SENT
        let mut off = endpoint("tn_a", "wh_off");
        off.enabled = false;
        let other = endpoint("tn_b", "wh_b");
        let endpoints = HashMap::from([
            ("tn_a".to_owned(), Arc::new(vec![all, failed_only, off])),
            ("tn_b".to_owned(), Arc::new(vec![other])),
        ]);
        let batch = [
            record("tn_a", 40, Status::Sent),
            record("tn_a", 41, Status::Retrying),
            record("tn_c", 42, Status::Sent),
            Incoming {
                partition: 2,
                offset: 43,
                status: None,
            },
        ];
        let planned = plan(&batch, &endpoints, 1_000);
        let got: Vec<(&str, i32, i64)> = planned
            .entries
            .iter()
            .map(|e| (e.queue.endpoint_id.as_str(), e.queue.shard, e.seq))
            .collect();
        assert_eq!(
            got,
            vec![("wh_all", 2, 40), ("wh_failed", 2, 40), ("wh_all", 2, 41)]
        );
        assert_eq!(
            (planned.queued, planned.unwanted, planned.undecodable),
            (2, 1, 1)
        );
        let first = &planned.entries[0];
        assert_eq!(first.tenant_id, "tn_a");
        assert_eq!(first.enqueued_at_ms, 1_000);
        assert_eq!(first.delivery_key, Uuid::from_u128(10).to_string());
        let body: serde_json::Value = serde_json::from_slice(&first.body).expect("json");
        assert_eq!(body["status"], "sent");
    }
}
