//! The records a routing produces besides deliveries: statuses, dead letters, and what
//! replaces outputs Kafka refused for good.

use futures::future::try_join_all;
use notify_common::dead_letter::{self, Origin};
use notify_common::publish::{PublishError, Record};
use notify_schemas::DeliveryStatus;

use super::{Handler, Incoming, RouteError, Routed};
use crate::fanout;
use crate::plan::Reason;
use crate::tally::Tally;

impl Handler {
    /// What replaces the outputs of `source` Kafka refused for good, so that nothing of it
    /// vanishes: the request as one dead letter (`produce_refused`, naming each refusal) and a
    /// `failed` status for each refused delivery, whose outcome is written to the notification
    /// log first (a status look-up shows it).
    pub async fn set_aside(
        &self,
        source: &Incoming,
        refused: &[(&Record, &PublishError)],
    ) -> Result<Routed, RouteError> {
        let now_ms = self.clock.now_ms();
        let reasons: Vec<String> = refused
            .iter()
            .map(|(record, error)| format!("{}: {error}", record.topic))
            .collect();
        let mut records =
            vec![self.dead_letter(source, Reason::ProduceRefused.as_str(), &reasons.join("; "))];
        let mut outcomes = Vec::new();
        let mut tally = Tally::dead_letter(Reason::ProduceRefused.as_str());
        for (record, error) in refused {
            let Ok(delivery) = self.deliveries.decode(&record.payload) else {
                continue; // a status or dead letter: the dead letter above tells of it
            };
            tally.withdrawn.push(delivery.channel);
            let status = fanout::refused_status(&delivery, error, now_ms);
            records.push(self.status_record(&status)?);
            outcomes.push(fanout::outcome(&status, Some(&delivery.recipient)));
        }
        // readable by a status look-up before its status is out, as every router outcome
        try_join_all(outcomes.iter().map(|o| async move {
            let write = o.to_write();
            self.outcomes.put(&write).await
        }))
        .await
        .map_err(|e| RouteError::Outcomes(e.to_string()))?;
        tally.decided(&outcomes);
        Ok(Routed { records, tally })
    }

    pub(super) fn dead_letter(&self, record: &Incoming, error: &str, reason: &str) -> Record {
        let origin = Origin {
            topic: &record.topic,
            partition: record.partition,
            offset: record.offset,
            key: record.key.as_deref(),
        };
        dead_letter::log(&self.refusals, "router", origin, error, reason);
        let payload = record.payload.clone().unwrap_or_default();
        dead_letter::record(self.topics.dlq(), "router", origin, payload, error, reason)
    }

    pub(super) fn status_record(&self, status: &DeliveryStatus) -> Result<Record, RouteError> {
        let payload = self
            .statuses
            .encode(status)
            .map_err(|e| RouteError::Encode(e.to_string()))?;
        Ok(Record::new(
            self.topics.status(),
            status.event_id.to_string(),
            payload,
        ))
    }

    /// `record` as one dead letter for `error`, counted as such.
    pub(super) fn refused(&self, record: &Incoming, error: &str, reason: &str) -> Routed {
        Routed {
            records: vec![self.dead_letter(record, error, reason)],
            tally: Tally::dead_letter(error),
        }
    }
}
