//! What the router decides without a delivery, made readable: a request held back by its rate
//! limits (written to the schedule) and the outcomes recorded in the notification log for
//! status look-ups.
//!
//! Guarantees: the outcomes of a record are written before the handler returns its statuses,
//! so a status on `notify.status` is never ahead of what `GET /v1/notifications/{id}` can
//! read; a write that fails fails the record (it is routed again, and writes the same rows).
//! When a deferred request comes back from the scheduler, the `scheduled` rows its deferral
//! left (whole request, or the held channels) are removed unless this routing writes them
//! again, so a deferral that ends in deliveries shows those deliveries, not a stale
//! `scheduled`. Not guaranteed: a row between routing and the dispatcher's first write (a
//! look-up in that instant sees no row for those deliveries yet).

use futures::future::try_join_all;
use notify_common::publish::Record;
use notify_schemas::{Channel, NotificationRequest};
use notify_store::notification_log::outcome::router_key;
use notify_store::notification_log::{LogKey, RouterOutcome};
use notify_store::schedule::ScheduledItem;

use super::{Handler, Incoming, RouteError};
use crate::fanout;
use crate::plan::Reason;
use crate::scheduler::after_earlier_row;

impl Handler {
    /// Writes a request its rate limits held back to the schedule; returns a `scheduled`
    /// status per channel held, and the outcomes to record.
    pub(super) async fn hold(
        &self,
        held: &crate::ratelimit::Held,
        record: &Incoming,
        routing_key: &str,
        now_ms: i64,
    ) -> Result<(Vec<Record>, Vec<RouterOutcome>), RouteError> {
        let payload = self
            .requests
            .encode(&held.request)
            .map_err(|e| RouteError::Encode(e.to_string()))?;
        self.defer(&ScheduledItem {
            tenant: held.request.tenant.clone(),
            event_id: held.request.event_id.to_string(),
            routing_key: routing_key.to_owned(),
            due_at_ms: after_earlier_row(held.due_at_ms, record.deferred_until_ms),
            reason: Reason::RateLimited.as_str().to_owned(),
            payload,
        })
        .await?;
        let mut records = Vec::new();
        let mut outcomes = Vec::new();
        for channel in &held.request.channels {
            let status = fanout::scheduled_channel_status(
                &held.request,
                *channel,
                Reason::RateLimited.as_str(),
                now_ms,
            );
            records.push(self.status_record(&status)?);
            outcomes.push(fanout::outcome(&status, None));
        }
        Ok((records, outcomes))
    }

    /// Records `outcomes` of `request` in the notification log; for a request the scheduler
    /// re-emitted, first removes the `scheduled` rows of its earlier deferral that this
    /// routing does not write again.
    pub(super) async fn record_outcomes(
        &self,
        request: &NotificationRequest,
        record: &Incoming,
        outcomes: &[RouterOutcome],
    ) -> Result<(), RouteError> {
        let failed = |e: notify_store::StoreError| RouteError::Outcomes(e.to_string());
        let tenant = request.tenant.as_str();
        let event = request.event_id.to_string();
        if record.deferred_until_ms.is_some() {
            let written: Vec<(String, String)> = outcomes
                .iter()
                .map(|o| router_key(o.channel.as_deref(), o.recipient.as_deref()))
                .collect();
            let stale = std::iter::once(None)
                .chain(request.channels.iter().copied().map(Some))
                .map(|channel: Option<Channel>| router_key(channel.map(|c| c.as_str()), None))
                .filter(|key| !written.contains(key));
            // at most one per channel plus one: bounded by construction
            try_join_all(stale.map(|(channel, recipient)| {
                let key = LogKey::new(tenant, &event, &channel, &recipient);
                async move { self.outcomes.delete(&key).await }
            }))
            .await
            .map_err(failed)?;
        }
        // one per channel or recipient the request reached: bounded by the request
        try_join_all(outcomes.iter().map(|o| async move {
            let write = o.to_write();
            self.outcomes.put(&write).await
        }))
        .await
        .map_err(failed)?;
        Ok(())
    }
}
