//! What one routed record produced, counted once its batch is out.
//!
//! Guarantees: the router's counters move only after a batch was published and its offsets
//! stored, so a batch retried after a database or Kafka failure is counted once, and every
//! (request, channel) decision lands in exactly one of `deliveries`, `suppressed`, `failed`,
//! `expired` or (for a request without a channel) the `none` channel of those, which is what
//! lets an operator check that the numbers add up (docs/operations.md). A deferral is counted
//! as `deferred` and, when the request comes back from the schedule, by what it became then.

use notify_schemas::Channel;
use notify_store::notification_log::RouterOutcome;

use crate::metrics as m;

/// The counts of one record (or of a batch, merged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// One entry per delivery published, by channel.
    pub deliveries: Vec<Channel>,
    /// `(channel, requested at, routed at)` of each delivery, for the `accept_to_routed` hop.
    pub routed: Vec<(Channel, i64, i64)>,
    /// `(channel or "none", state, reason)` of each outcome decided without a delivery.
    pub decided: Vec<(String, String, String)>,
    /// Why the request was written to the schedule, if it was.
    pub deferred: Vec<&'static str>,
    /// The error of the dead letter the record became, if it did.
    pub dead_letter: Option<String>,
    /// The errors of dead letters merged in from other records.
    pub dead_letters: Vec<String>,
    /// Deliveries counted above that Kafka refused for good (each became a `failed`
    /// outcome): taken out of `deliveries` when merged into the batch's tally.
    pub withdrawn: Vec<Channel>,
}

impl Tally {
    /// A record that became one dead letter for `error`.
    pub fn dead_letter(error: &str) -> Self {
        Self {
            dead_letter: Some(error.to_owned()),
            ..Self::default()
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: Tally) {
        self.deliveries.extend(other.deliveries);
        self.routed.extend(other.routed);
        self.decided.extend(other.decided);
        self.deferred.extend(other.deferred);
        if other.dead_letter.is_some() {
            self.dead_letters.extend(other.dead_letter);
        }
        self.dead_letters.extend(other.dead_letters);
        for channel in other.withdrawn {
            if let Some(at) = self.deliveries.iter().position(|c| *c == channel) {
                self.deliveries.swap_remove(at);
            }
        }
    }

    /// Adds the outcomes recorded in the notification log for the record.
    pub fn decided(&mut self, outcomes: &[RouterOutcome]) {
        self.decided.extend(outcomes.iter().map(|o| {
            (
                o.channel.clone().unwrap_or_else(|| "none".to_owned()),
                o.state.clone(),
                reason_class(&o.reason).to_owned(),
            )
        }));
    }

    /// Moves the counters by what this tally holds.
    pub fn record(&self) {
        for channel in &self.deliveries {
            metrics::counter!(m::DELIVERIES_TOTAL, "channel" => channel.as_str()).increment(1);
        }
        for (channel, requested_at, routed_at) in &self.routed {
            notify_common::metrics::hop(
                "accept_to_routed",
                channel.as_str(),
                *requested_at,
                *routed_at,
            );
        }
        for (channel, state, reason) in &self.decided {
            let name = match state.as_str() {
                "suppressed" => m::SUPPRESSED_TOTAL,
                "failed" => m::FAILED_TOTAL,
                "expired" => m::EXPIRED_TOTAL,
                // a `scheduled` outcome is a deferral, counted below once per request
                _ => continue,
            };
            metrics::counter!(name, "channel" => channel.clone(), "reason" => reason.clone())
                .increment(1);
        }
        for reason in &self.deferred {
            metrics::counter!(m::DEFERRED_TOTAL, "reason" => *reason).increment(1);
        }
        for error in self.dead_letter.iter().chain(&self.dead_letters) {
            metrics::counter!(m::DEAD_LETTERED_TOTAL, "error" => error.clone()).increment(1);
        }
    }
}

/// A reason as a label: its fixed part (`render_failed: <error>` is `render_failed`), so label
/// values stay a small set.
fn reason_class(reason: &str) -> &str {
    let class = reason.split(':').next().unwrap_or_default().trim();
    if class.is_empty() {
        "none"
    } else {
        class
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    fn outcome(channel: Option<&str>, state: &str, reason: &str) -> RouterOutcome {
        RouterOutcome {
            tenant: "t".into(),
            event_id: "e".into(),
            channel: channel.map(str::to_owned),
            recipient: None,
            delivery_id: None,
            state: state.into(),
            reason: reason.into(),
            at_ms: 0,
        }
    }

    fn rendered(tally: &Tally) -> String {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || tally.record());
        handle.render()
    }

    #[test]
    fn every_decision_lands_in_one_counter_by_channel_and_reason() {
        let mut tally = Tally {
            deliveries: vec![Channel::Sms, Channel::Sms, Channel::Email],
            routed: vec![(Channel::Sms, 1_000, 1_020)],
            deferred: vec!["quiet_hours"],
            ..Tally::default()
        };
        tally.decided(&[
            outcome(Some("sms"), "suppressed", "opted_out"),
            outcome(
                Some("email"),
                "failed",
                "render_failed: missing variable name",
            ),
            outcome(None, "expired", "expired"),
            outcome(Some("apns"), "scheduled", "quiet_hours"),
        ]);
        let text = rendered(&tally);
        for line in [
            r#"notify_router_deliveries_total{channel="sms"} 2"#,
            r#"notify_router_deliveries_total{channel="email"} 1"#,
            r#"notify_router_suppressed_total{channel="sms",reason="opted_out"} 1"#,
            r#"notify_router_failed_total{channel="email",reason="render_failed"} 1"#,
            r#"notify_router_expired_total{channel="none",reason="expired"} 1"#,
            r#"notify_router_deferred_total{reason="quiet_hours"} 1"#,
            r#"notify_hop_seconds_sum{hop="accept_to_routed",channel="sms"} 0.02"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("scheduled"), "{text}");
    }

    #[test]
    fn a_delivery_kafka_refused_counts_as_failed_not_as_a_delivery() {
        let mut batch = Tally {
            deliveries: vec![Channel::Email, Channel::Sms],
            ..Tally::default()
        };
        let mut set_aside = Tally::dead_letter("produce_refused");
        set_aside.decided(&[outcome(
            Some("email"),
            "failed",
            "produce_refused: too large",
        )]);
        set_aside.withdrawn.push(Channel::Email);
        batch.merge(set_aside);
        let text = rendered(&batch);
        assert!(
            !text.contains(r#"deliveries_total{channel="email"}"#),
            "{text}"
        );
        for line in [
            r#"notify_router_deliveries_total{channel="sms"} 1"#,
            r#"notify_router_failed_total{channel="email",reason="produce_refused"} 1"#,
            r#"notify_router_dead_lettered_total{error="produce_refused"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn a_dead_letter_counts_its_error_only() {
        let text = rendered(&Tally::dead_letter("undecodable"));
        assert!(
            text.contains(r#"notify_router_dead_lettered_total{error="undecodable"} 1"#),
            "{text}"
        );
        assert!(!text.contains("deliveries"), "{text}");
    }
}
