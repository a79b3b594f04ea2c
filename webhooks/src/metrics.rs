//! Every metric of the webhook stage. Labels come from small fixed sets: never an endpoint id,
//! tenant or URL (a backlog per endpoint is the gauge of how many endpoints are behind, and
//! the logs name the endpoint).

/// Status events read from `notify.status`, by `outcome`: `queued` (at least one endpoint
/// wants it), `no_endpoint`, `undecodable`.
pub const EVENTS_TOTAL: &str = "notify_webhooks_events_total";
/// Events an endpoint answered 2xx to.
pub const POSTED_TOTAL: &str = "notify_webhooks_posted_total";
/// Failed attempts, by `error`: `status` (non-2xx), `timeout`, `connect`, `refused` (the SSRF
/// guard), `secret` (the signing secret did not open).
pub const FAILED_ATTEMPTS_TOTAL: &str = "notify_webhooks_failed_attempts_total";
/// Events dead-lettered after their retry budget.
pub const DEAD_LETTERED_TOTAL: &str = "notify_webhooks_dead_lettered_total";
/// Backlog entries dropped because their endpoint was deleted or disabled.
pub const DISCARDED_TOTAL: &str = "notify_webhooks_discarded_total";
/// Queues (endpoint × partition) with a backlog being worked on.
pub const BACKLOGGED_QUEUES: &str = "notify_webhooks_backlogged_queues";
/// Queues whose head event failed at its last attempt and waits for a retry.
pub const FAILING_QUEUES: &str = "notify_webhooks_failing_queues";
/// Age of each posted or dead-lettered event when it left the backlog (read to 2xx).
pub const DELIVERY_SECONDS: &str = "notify_webhooks_delivery_seconds";
/// Pauses of the consumer while the database or Kafka is unavailable.
pub const RETRIES_TOTAL: &str = "notify_webhooks_consumer_retries_total";

/// Declares every metric with its help text, so a scrape shows them before the first event.
pub fn describe() {
    metrics::describe_counter!(EVENTS_TOTAL, "status events read, by outcome");
    metrics::describe_counter!(POSTED_TOTAL, "events an endpoint answered 2xx to");
    metrics::describe_counter!(FAILED_ATTEMPTS_TOTAL, "failed webhook attempts, by error");
    metrics::describe_counter!(
        DEAD_LETTERED_TOTAL,
        "events dead-lettered after the retry budget"
    );
    metrics::describe_counter!(
        DISCARDED_TOTAL,
        "backlog of deleted or disabled endpoints dropped"
    );
    metrics::describe_gauge!(BACKLOGGED_QUEUES, "endpoint queues with a backlog");
    metrics::describe_gauge!(
        FAILING_QUEUES,
        "endpoint queues waiting to retry their head event"
    );
    metrics::describe_histogram!(
        DELIVERY_SECONDS,
        "seconds from read to posted or dead-lettered"
    );
    metrics::describe_counter!(RETRIES_TOTAL, "consumer pauses on the database or kafka");
}
