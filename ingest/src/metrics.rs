//! Metric names of the ingest gateway, declared once. Labels come from small fixed sets
//! (route, outcome), never from ids.

/// Notifications accepted (acknowledged by Kafka), label `route` = single | batch.
pub const ACCEPTED_TOTAL: &str = "notify_ingest_accepted_total";
/// Notifications rejected, label `reason` = validation | conflict | unavailable.
pub const REJECTED_TOTAL: &str = "notify_ingest_rejected_total";
/// Requests answered with an original event id because of a repeated idempotency key.
pub const DUPLICATES_TOTAL: &str = "notify_ingest_idempotent_replays_total";
/// Requests refused by a per-tenant quota, label `quota` = requests | notifications.
pub const RATE_LIMITED_TOTAL: &str = "notify_ingest_rate_limited_total";
/// Time from handing a record to the producer to its delivery report.
pub const PRODUCE_SECONDS: &str = "notify_ingest_produce_duration_seconds";
/// Authentication attempts, label `outcome` = ok | unauthorized | unavailable | error.
pub const AUTH_TOTAL: &str = "notify_ingest_auth_total";
/// 1 when the dependency answered the last readiness check, else 0; label `dependency` =
/// kafka | database.
pub const DEPENDENCY_READY: &str = "notify_ingest_dependency_ready";
/// Provider receipts recorded, labels `channel` and `receipt` (delivered | undelivered |
/// bounced | complained).
pub const RECEIPTS_TOTAL: &str = "notify_ingest_receipts_total";
/// Provider webhooks refused, labels `provider` and `reason` = signature | stale | replay |
/// ids, and for SMTP bounce messages unauthenticated | malformed.
pub const RECEIPTS_REFUSED_TOTAL: &str = "notify_ingest_receipts_refused_total";
/// Recipient reports of SMTP bounce messages (DSNs) taken, labels `action` = failed | delayed
/// | delivered | relayed | expanded and `outcome` = recorded | replay | not_final (a delay, a
/// delivery) | other_recipient (not the address the delivery went to) | not_ours (no delivery
/// of ours named).
pub const DSN_RECIPIENTS_TOTAL: &str = "notify_ingest_dsn_recipients_total";
/// Unsubscribe and preference-page requests, labels `route` = unsubscribe | page and `outcome`
/// = shown | saved | unsubscribed | critical | gone | unavailable, or the refused token's kind
/// (malformed | unknown_key | bad_signature | expired).
pub const PREFERENCE_LINKS_TOTAL: &str = "notify_ingest_preference_links_total";

/// Addresses put on the suppression list from receipts, labels `channel` and `reason`
/// (bounced | complained | stopped).
pub const SUPPRESSIONS_ADDED_TOTAL: &str = "notify_ingest_suppressions_added_total";

/// Counts one address put on the suppression list.
pub fn suppression_added(
    channel: notify_schemas::Channel,
    reason: notify_store::suppressions::SuppressionReason,
) {
    metrics::counter!(
        SUPPRESSIONS_ADDED_TOTAL,
        "channel" => channel.as_str(),
        "reason" => reason.as_str()
    )
    .increment(1);
}

/// Counts one recorded receipt.
pub fn receipt(channel: notify_schemas::Channel, receipt: notify_schemas::Receipt) {
    metrics::counter!(RECEIPTS_TOTAL, "channel" => channel.as_str(), "receipt" => receipt.as_str())
        .increment(1);
}

/// Counts one refused webhook.
pub fn receipt_refused(provider: &'static str, reason: &'static str) {
    metrics::counter!(RECEIPTS_REFUSED_TOTAL, "provider" => provider, "reason" => reason)
        .increment(1);
}

/// Counts one recipient report of a DSN.
pub fn dsn_recipient(action: &'static str, outcome: &'static str) {
    metrics::counter!(DSN_RECIPIENTS_TOTAL, "action" => action, "outcome" => outcome).increment(1);
}

/// Counts one unsubscribe or preference-page request.
pub fn preference_link(route: &'static str, outcome: &'static str) {
    metrics::counter!(PREFERENCE_LINKS_TOTAL, "route" => route, "outcome" => outcome).increment(1);
}

/// Registers at zero the series the alerts and the dashboard read, so that every family is
/// exported from the start and a first rejection shows as an increase (a series born at 1
/// shows none).
pub fn register() {
    for route in ["single", "batch"] {
        metrics::counter!(ACCEPTED_TOTAL, "route" => route).increment(0);
    }
    for reason in ["validation", "conflict", "key_reused", "unavailable"] {
        metrics::counter!(REJECTED_TOTAL, "reason" => reason).increment(0);
    }
    for quota in ["requests", "notifications"] {
        metrics::counter!(RATE_LIMITED_TOTAL, "quota" => quota).increment(0);
    }
    metrics::counter!(DUPLICATES_TOTAL).increment(0);
    use notify_schemas::{Channel, Receipt};
    use notify_store::suppressions::SuppressionReason;
    for channel in [Channel::Sms, Channel::Email] {
        for receipt in Receipt::ALL {
            metrics::counter!(RECEIPTS_TOTAL, "channel" => channel.as_str(), "receipt" => receipt.as_str())
                .increment(0);
        }
        for reason in SuppressionReason::ALL {
            metrics::counter!(SUPPRESSIONS_ADDED_TOTAL, "channel" => channel.as_str(), "reason" => reason.as_str())
                .increment(0);
        }
    }
    for outcome in ["recorded", "replay"] {
        metrics::counter!(DSN_RECIPIENTS_TOTAL, "action" => "failed", "outcome" => outcome)
            .increment(0);
    }
    for provider in ["twilio", "sendgrid", "vonage", "smtp"] {
        metrics::counter!(RECEIPTS_REFUSED_TOTAL, "provider" => provider, "reason" => "signature")
            .increment(0);
    }
}
