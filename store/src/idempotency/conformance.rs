//! The behaviour every [`Ledger`] must show, written once and run against
//! [`super::MemoryLedger`] (unit tests) and [`super::CassandraLedger`]
//! (`store/tests/idempotency.rs`, against a real node), so the fake cannot drift from the real
//! thing. Each check panics on the first deviation.
//!
//! Every check works in tenants of its own (`<check>-a`, `<check>-b`), so all of them can run
//! one after another against one empty store; [`run_all`] does that. An accepted claim ends
//! with its window in both (the window check waits a few seconds).

use std::time::Duration;

use super::{Claim, Ledger};
use crate::notification_log::{conformance::write, DeliveryLog, LogEntry};

const WINDOW: Duration = Duration::from_secs(600);

/// Runs every check, one after another. `log` must write the rows `ledger` reads for status
/// look-ups.
pub async fn run_all(ledger: &dyn Ledger, log: &dyn DeliveryLog) {
    first_claim_owns_the_key(ledger).await;
    accepted_claims_answer_with_their_event(ledger).await;
    release_frees_only_a_pending_claim(ledger).await;
    tenants_do_not_share_keys(ledger).await;
    status_look_ups_read_the_log(ledger, log).await;
    accepted_claims_end_with_their_window(ledger).await;
    ledger.check().await.expect("check");
}

async fn claim(ledger: &dyn Ledger, tenant: &str, key: &str, event_id: &str, hash: &str) -> Claim {
    ledger
        .claim(tenant, key, event_id, hash)
        .await
        .expect("claim")
}

async fn release(ledger: &dyn Ledger, tenant: &str, key: &str, event_id: &str) {
    ledger
        .release(tenant, key, event_id)
        .await
        .expect("release");
}

/// The first claim of a key owns it; a second one sees it pending, with the first's hash.
pub async fn first_claim_owns_the_key(ledger: &dyn Ledger) {
    let first = claim(ledger, "own-a", "k1", "e1", "h1").await;
    assert_eq!(first, Claim::Owned);
    let second = claim(ledger, "own-a", "k1", "e2", "h2").await;
    assert_eq!(
        second,
        Claim::Pending {
            request_hash: "h1".into()
        }
    );
    let other_key = claim(ledger, "own-a", "k2", "e3", "h1").await;
    assert_eq!(other_key, Claim::Owned, "keys are independent");
}

/// An accepted claim answers later claims with its event id and hash; accepting needs the
/// hash the claim was made with.
pub async fn accepted_claims_answer_with_their_event(ledger: &dyn Ledger) {
    let accepted_unclaimed = ledger
        .accept("accept-a", "none", "e0", "h0", WINDOW)
        .await
        .expect("accept");
    assert!(!accepted_unclaimed, "no claim, nothing to accept");

    assert_eq!(
        claim(ledger, "accept-a", "k1", "e1", "h1").await,
        Claim::Owned
    );
    let wrong_hash = ledger
        .accept("accept-a", "k1", "e1", "other", WINDOW)
        .await
        .expect("accept");
    assert!(!wrong_hash, "a claim of another request is not accepted");
    let accepted = ledger
        .accept("accept-a", "k1", "e1", "h1", WINDOW)
        .await
        .expect("accept");
    assert!(accepted);
    let again = claim(ledger, "accept-a", "k1", "e9", "h9").await;
    assert_eq!(
        again,
        Claim::Accepted {
            event_id: "e1".into(),
            request_hash: "h1".into()
        }
    );
}

/// An accepted claim holds its key for the window it was accepted for, and no longer: after
/// it, the key can be claimed again (what the gateway then does is its own decision).
pub async fn accepted_claims_end_with_their_window(ledger: &dyn Ledger) {
    assert_eq!(
        claim(ledger, "window-a", "k1", "e1", "h1").await,
        Claim::Owned
    );
    let window = Duration::from_secs(2);
    assert!(ledger
        .accept("window-a", "k1", "e1", "h1", window)
        .await
        .expect("accept"));
    assert!(matches!(
        claim(ledger, "window-a", "k1", "e2", "h2").await,
        Claim::Accepted { .. }
    ));
    tokio::time::sleep(window + Duration::from_millis(1_500)).await;
    assert_eq!(
        claim(ledger, "window-a", "k1", "e3", "h3").await,
        Claim::Owned,
        "the window is over"
    );
}

/// Releasing frees a pending claim of the same event only; an accepted claim stays.
pub async fn release_frees_only_a_pending_claim(ledger: &dyn Ledger) {
    assert_eq!(
        claim(ledger, "release-a", "k1", "e1", "h1").await,
        Claim::Owned
    );
    ledger
        .release("release-a", "k1", "e-other")
        .await
        .expect("release of another event");
    assert!(matches!(
        claim(ledger, "release-a", "k1", "e2", "h2").await,
        Claim::Pending { .. }
    ));
    release(ledger, "release-a", "k1", "e1").await;
    assert_eq!(
        claim(ledger, "release-a", "k1", "e2", "h2").await,
        Claim::Owned,
        "a released key is free at once"
    );

    assert!(ledger
        .accept("release-a", "k1", "e2", "h2", WINDOW)
        .await
        .expect("accept"));
    release(ledger, "release-a", "k1", "e2").await;
    assert!(matches!(
        claim(ledger, "release-a", "k1", "e3", "h3").await,
        Claim::Accepted { .. }
    ));
}

/// The same key in two tenants is two keys.
pub async fn tenants_do_not_share_keys(ledger: &dyn Ledger) {
    assert_eq!(
        claim(ledger, "tenants-a", "k", "e1", "h1").await,
        Claim::Owned
    );
    assert_eq!(
        claim(ledger, "tenants-b", "k", "e1", "h1").await,
        Claim::Owned
    );
}

/// Status look-ups return the log rows of one event of one tenant, in (channel, recipient)
/// order.
pub async fn status_look_ups_read_the_log(ledger: &dyn Ledger, log: &dyn DeliveryLog) {
    assert!(ledger
        .entries("status-a", "e1")
        .await
        .expect("entries")
        .is_empty());
    let rows = [
        write("status-a", "e1", "sms", "+15550100", "sent"),
        write("status-a", "e1", "apns", "tok-1", "retrying"),
    ];
    for row in &rows {
        log.put(row).await.expect("put");
    }
    log.put(&write("status-b", "e1", "apns", "tok-1", "sent"))
        .await
        .expect("put in another tenant");
    let entries = ledger.entries("status-a", "e1").await.expect("entries");
    let expected: Vec<LogEntry> = [rows[1].clone(), rows[0].clone()]
        .into_iter()
        .map(LogEntry::from)
        .collect();
    assert_eq!(entries, expected);
}
