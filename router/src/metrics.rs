//! Metric names of the router, declared once. Labels come from small fixed sets.

/// Requests routed (offsets stored).
pub const REQUESTS_TOTAL: &str = "notify_router_requests_total";
/// Deliveries produced, label `channel`.
pub const DELIVERIES_TOTAL: &str = "notify_router_deliveries_total";
/// Deliveries not made because policy said no, labels `channel` (`none`: the request as a
/// whole) and `reason` (opted_out, no_device, no_contact, rate_limited, ...).
pub const SUPPRESSED_TOTAL: &str = "notify_router_suppressed_total";
/// Deliveries that failed in the router, labels `channel` and `reason` (render_failed,
/// produce_refused).
pub const FAILED_TOTAL: &str = "notify_router_failed_total";
/// Requests past their `expires_at` when routed, labels `channel` and `reason`.
pub const EXPIRED_TOTAL: &str = "notify_router_expired_total";
/// Records sent to the dead-letter topic, label `error`.
pub const DEAD_LETTERED_TOTAL: &str = "notify_router_dead_lettered_total";
/// Batches retried because the database or Kafka failed.
pub const RETRIES_TOTAL: &str = "notify_router_batch_retries_total";
/// Requests written to the schedule, label `reason` = send_at | quiet_hours | rate_limited.
pub const DEFERRED_TOTAL: &str = "notify_router_deferred_total";
/// Requests re-emitted from the schedule and acknowledged by Kafka.
pub const REEMITTED_TOTAL: &str = "notify_router_scheduled_reemitted_total";
/// Seconds from a request's due time to its re-emission being acknowledged.
pub const SCHEDULE_LAG_SECONDS: &str = "notify_router_schedule_lag_seconds";
/// Rows the last sweep read as due and could not re-emit (a database or Kafka failure left
/// them for a later sweep).
pub const SCHEDULE_BACKLOG: &str = "notify_router_schedule_backlog";
/// Failed sweeps, label `error` = database | kafka.
pub const SCHEDULE_ERRORS_TOTAL: &str = "notify_router_schedule_errors_total";
/// Outputs Kafka refused for good and set aside (dead letter and `failed` status), label
/// `topic`.
pub const REFUSED_TOTAL: &str = "notify_router_refused_total";
/// Set-aside records Kafka refused as well (lost; see `publish.rs`).
pub const SET_ASIDE_LOST_TOTAL: &str = "notify_router_set_aside_lost_total";

/// Registers at zero the series the alerts and the dashboard read (failures, dead letters,
/// refusals, retries), so that every family is exported from the start and a first failure
/// shows as an increase (a series born at 1 shows none).
pub fn register(topics: &notify_common::topics::Topics) {
    for channel in notify_common::topics::CHANNELS {
        for reason in ["render_failed", "produce_refused"] {
            metrics::counter!(FAILED_TOTAL, "channel" => channel, "reason" => reason).increment(0);
        }
    }
    for error in [
        "empty",
        "decode",
        "truncated",
        "unknown_tenant",
        "produce_refused",
    ] {
        metrics::counter!(DEAD_LETTERED_TOTAL, "error" => error).increment(0);
    }
    for topic in [topics.status(), topics.dlq()] {
        metrics::counter!(REFUSED_TOTAL, "topic" => topic).increment(0);
    }
    for error in ["database", "kafka"] {
        metrics::counter!(SCHEDULE_ERRORS_TOTAL, "error" => error).increment(0);
    }
    metrics::counter!(RETRIES_TOTAL).increment(0);
    metrics::counter!(SET_ASIDE_LOST_TOTAL).increment(0);
    metrics::gauge!(SCHEDULE_BACKLOG).set(0.0);
}
