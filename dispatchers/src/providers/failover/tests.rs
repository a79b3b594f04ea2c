//! Breaker and failover logic over scripted fake providers and a manual clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use notify_schemas::samples::full_sms_delivery;

use super::*;

/// A provider answering whatever `outcome` currently holds, counting sends.
#[derive(Debug)]
struct Fake {
    name: &'static str,
    outcome: Mutex<Outcome>,
    sends: AtomicUsize,
}

impl Fake {
    fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            name,
            outcome: Mutex::new(sent(name)),
            sends: AtomicUsize::new(0),
        })
    }

    fn answer(&self, outcome: Outcome) {
        *self.outcome.lock().unwrap() = outcome;
    }

    fn sends(&self) -> usize {
        self.sends.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Provider for Fake {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn send(&self, _delivery: &Delivery) -> Outcome {
        self.sends.fetch_add(1, Ordering::SeqCst);
        self.outcome.lock().unwrap().clone()
    }
}

fn sent(name: &str) -> Outcome {
    Outcome::Sent {
        provider_message_id: Some(name.to_owned()),
    }
}

fn unavailable() -> Outcome {
    Outcome::retry(Reason::ProviderUnavailable, "http 503")
}

fn config() -> BreakerConfig {
    BreakerConfig {
        consecutive_failures: 3,
        window_ms: 10_000,
        min_requests: 10,
        failure_rate: 0.5,
        cooldown_ms: 5_000,
    }
}

/// A breaker with [`config`] on a manual clock, and the clock.
fn breaker() -> (Breaker, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    (Breaker::new("sms", "a", config(), clock.clone()), clock)
}

fn setup() -> (Arc<Fake>, Arc<Fake>, Arc<ManualClock>, Failover) {
    let (a, b) = (Fake::new("a"), Fake::new("b"));
    let clock = Arc::new(ManualClock::default());
    let failover = Failover::with_clock("sms", a.clone(), b.clone(), config(), clock.clone())
        .expect("valid config");
    (a, b, clock, failover)
}

#[tokio::test]
async fn consecutive_transient_failures_open_the_breaker_and_move_traffic() {
    let (a, b, _clock, failover) = setup();
    let d = full_sms_delivery();
    a.answer(unavailable());
    for _ in 0..3 {
        // Each failed primary send is retried on the secondary at once.
        assert_eq!(failover.send(&d).await, sent("b"));
    }
    assert_eq!(a.sends(), 3);
    assert_eq!(failover.states().0, BreakerState::Open);
    assert_eq!(failover.send(&d).await, sent("b"));
    assert_eq!(a.sends(), 3, "an open breaker sends nothing to the primary");
    assert_eq!(b.sends(), 4);
}

#[tokio::test]
async fn permanent_failures_do_not_open_the_breaker() {
    let (a, b, _clock, failover) = setup();
    let d = full_sms_delivery();
    let bad = Outcome::failed(Reason::BadAddress, "code 21211");
    a.answer(bad.clone());
    for _ in 0..10 {
        assert_eq!(failover.send(&d).await, bad);
    }
    assert_eq!(failover.states().0, BreakerState::Closed);
    assert_eq!(b.sends(), 0, "a bad address is not retried elsewhere");
}

#[tokio::test]
async fn half_open_probe_failure_reopens_and_success_closes() {
    let (a, _b, clock, failover) = setup();
    let d = full_sms_delivery();
    a.answer(unavailable());
    for _ in 0..3 {
        failover.send(&d).await;
    }
    clock.advance(Duration::from_millis(4_999));
    failover.send(&d).await;
    assert_eq!(a.sends(), 3, "still cooling down");
    clock.advance(Duration::from_millis(1));
    assert_eq!(failover.states().0, BreakerState::HalfOpen);
    assert_eq!(failover.send(&d).await, sent("b"));
    assert_eq!(a.sends(), 4, "one probe went to the primary");
    assert_eq!(failover.states().0, BreakerState::Open);

    a.answer(sent("a"));
    clock.advance(Duration::from_millis(5_000));
    assert_eq!(failover.send(&d).await, sent("a"));
    assert_eq!(failover.states().0, BreakerState::Closed);
    assert_eq!(failover.send(&d).await, sent("a"));
}

#[tokio::test]
async fn both_failing_gives_a_retry_with_the_time_to_the_first_probe() {
    let (a, b, clock, failover) = setup();
    let d = full_sms_delivery();
    a.answer(unavailable());
    b.answer(unavailable());
    for _ in 0..3 {
        assert!(failover.send(&d).await.is_retry());
    }
    assert_eq!(failover.states(), (BreakerState::Open, BreakerState::Open));
    clock.advance(Duration::from_millis(2_000));
    match failover.send(&d).await {
        Outcome::Retry {
            reason: Reason::ProviderUnavailable,
            after: Some(after),
            ..
        } => assert_eq!(after, Duration::from_millis(3_000)),
        other => panic!("expected a retry with a wait, got {other:?}"),
    }
    assert_eq!((a.sends(), b.sends()), (3, 3));
}

#[test]
fn failure_rate_in_the_window_opens_the_breaker() {
    let (breaker, _clock) = breaker();
    // Alternate failures and successes: never 3 in a row, but half of the window fails.
    for i in 0..9 {
        let permit = breaker.admit().unwrap();
        if i % 2 == 0 {
            permit.failure()
        } else {
            permit.success()
        }
    }
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "fewer than min_requests"
    );
    breaker.admit().unwrap().failure();
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn old_failures_leave_the_window() {
    let (breaker, clock) = breaker();
    for _ in 0..5 {
        breaker.admit().unwrap().failure();
        breaker.admit().unwrap().success();
    }
    clock.advance(Duration::from_millis(10_001));
    for _ in 0..9 {
        breaker.admit().unwrap().success();
    }
    breaker.admit().unwrap().failure();
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn a_dropped_probe_gives_the_slot_back() {
    let (breaker, clock) = breaker();
    for _ in 0..3 {
        breaker.admit().unwrap().failure();
    }
    clock.advance(Duration::from_millis(5_000));
    let probe = breaker.admit().unwrap();
    assert!(probe.is_probe());
    assert!(breaker.admit().is_err(), "one probe at a time");
    drop(probe);
    assert!(breaker.admit().unwrap().is_probe());
}

#[test]
fn config_is_validated() {
    assert!(BreakerConfig::default().validate().is_ok());
    let bad = BreakerConfig {
        failure_rate: 0.0,
        ..BreakerConfig::default()
    };
    assert!(bad.validate().is_err());
    let parsed: Result<BreakerConfig, _> = serde_json::from_str(r#"{"cooldown_s": 3}"#);
    assert!(parsed.is_err(), "unknown fields are refused");
}

#[test]
fn the_state_gauge_follows_the_breaker() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let (breaker, clock) = metrics::with_local_recorder(&recorder, breaker);
    let state = || {
        let text = handle.render();
        let line = text
            .lines()
            .find(|l| l.starts_with(r#"notify_dispatch_breaker_state{channel="sms",provider="a"}"#))
            .map(str::to_owned);
        line.unwrap_or_else(|| panic!("no breaker state in\n{text}"))
    };
    assert!(state().ends_with(" 0"), "{}", state());
    for _ in 0..3 {
        breaker.admit().expect("closed").failure();
    }
    assert!(state().ends_with(" 2"), "{}", state());
    clock.advance(Duration::from_millis(config().cooldown_ms));
    let probe = breaker.admit().expect("half-open");
    assert!(state().ends_with(" 1"), "{}", state());
    probe.success();
    assert!(state().ends_with(" 0"), "{}", state());
}

#[tokio::test]
async fn the_outcome_names_the_member_that_gave_it() {
    let (a, b, _clock, failover) = setup();
    let d = full_sms_delivery();
    assert_eq!(failover.send_named(&d).await, (sent("a"), "a"));
    a.answer(unavailable());
    assert_eq!(failover.send_named(&d).await, (sent("b"), "b"));
    a.answer(Outcome::failed(Reason::BadAddress, "refused"));
    assert_eq!(
        failover.send_named(&d).await.1,
        "a",
        "a permanent refusal is the member's own"
    );
    a.answer(unavailable());
    b.answer(unavailable());
    assert_eq!(
        failover.send_named(&d).await.1,
        "b",
        "the last transient failure"
    );
}
