//! An email address a mail server refuses for good in the SMTP dialogue: listed for the
//! delivery's tenant (retried while the list is unavailable), the delivery still `FAILED`
//! with `bad_address`; refusals that are not about the address list nothing. And which
//! provider the status names when email fails over from one provider to the other.

use std::sync::Arc;

use notify_common::config::DispatchConfig;
use notify_common::publish::MemoryPublisher;
use notify_common::topics::Topics;
use notify_schemas::{samples, Codec, Delivery, DeliveryStatus, Status};
use notify_store::notification_log::MemoryLog;
use notify_store::suppressions::{MemorySuppressions, SuppressionList, SuppressionReason};
use notify_store::MemoryDirectory;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::providers::failover::{BreakerConfig, Failover};
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::testing::FakeProvider;

struct EmailRig {
    handler: Handler,
    provider: Arc<FakeProvider>,
    suppressions: Arc<MemorySuppressions>,
    publisher: Arc<MemoryPublisher>,
    topics: Topics,
}

fn rig() -> EmailRig {
    let provider = Arc::new(FakeProvider::new());
    rig_over(provider.clone(), provider)
}

/// A rig whose handler sends through `sending`, with `provider` the fake it scripts.
fn rig_over(provider: Arc<FakeProvider>, sending: Arc<dyn Provider>) -> EmailRig {
    let config = DispatchConfig {
        max_backoff_ms: 20,
        ..DispatchConfig::default()
    };
    let suppressions = Arc::new(MemorySuppressions::new());
    let publisher = Arc::new(MemoryPublisher::new());
    let topics = Topics::new("t");
    let deps = Deps {
        provider: sending,
        log: Arc::new(MemoryLog::new()),
        directory: Arc::new(MemoryDirectory::new()),
        suppressions: suppressions.clone(),
        publisher: publisher.clone(),
    };
    EmailRig {
        handler: Handler::new(Channel::Email, deps, topics.clone(), &config).expect("codecs"),
        provider,
        suppressions,
        publisher,
        topics,
    }
}

fn email(address: &str) -> Delivery {
    let mut delivery = samples::full_email_delivery();
    delivery.expires_at = None;
    delivery.not_before = None;
    delivery.attempt = 0;
    if let notify_schemas::Recipient::Email(e) = &mut delivery.recipient {
        e.address = address.into();
    }
    delivery
}

impl EmailRig {
    async fn handle(&self, delivery: &Delivery) -> Handled {
        let record = Record {
            topic: self.topics.deliveries("email"),
            partition: 0,
            offset: 1,
            key: None,
            payload: Some(Codec::<Delivery>::new().unwrap().encode(delivery).unwrap()),
            timestamp_ms: Some(now_ms()),
            requested_at_ms: None,
            trace: None,
        };
        self.handler
            .handle(&record, &CancellationToken::new())
            .await
            .expect("durable")
    }

    fn statuses(&self) -> Vec<DeliveryStatus> {
        super::rig::published_statuses(&self.publisher, &self.topics)
    }
}

fn refused() -> Outcome {
    Outcome::InvalidRecipient {
        reason: Reason::BadAddress,
        since: None,
        detail: "smtp 550 5.1.1".into(),
    }
}

#[tokio::test]
async fn a_refused_address_is_listed_for_the_tenant_and_the_delivery_fails() {
    let rig = rig();
    let delivery = email("Gone@Example.ORG");
    rig.provider.script("Gone@Example.ORG", [refused()]);
    // the list is down for a moment: the record waits for it, the entry is not lost
    rig.suppressions.fail_adds(2);
    assert_eq!(rig.handle(&delivery).await, Handled::InvalidRecipient);

    let entries = rig
        .suppressions
        .lookup(Channel::Email, "gone@example.org")
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.scope, delivery.tenant);
    assert_eq!(entry.reason, SuppressionReason::Bounced);
    let id = delivery.delivery_id.to_string();
    assert_eq!(entry.delivery_id.as_deref(), Some(id.as_str()));

    let statuses = rig.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].status, Status::Failed);
    assert_eq!(statuses[0].reason.as_deref(), Some("bad_address"));
}

#[tokio::test]
async fn failures_that_are_not_about_the_address_list_nothing() {
    let rig = rig();
    let cases = [
        (
            "policy@example.org",
            Outcome::failed(Reason::BadMessage, "smtp 550 5.7.1"),
        ),
        (
            "full@example.org",
            Outcome::failed(Reason::BadAddress, "smtp 550 5.2.2"),
        ),
        (
            "later@example.org",
            Outcome::retry(Reason::ProviderUnavailable, "smtp 451"),
        ),
    ];
    for (address, outcome) in cases {
        rig.provider.script(address, [outcome]);
        rig.handle(&email(address)).await;
        let listed = rig.suppressions.lookup(Channel::Email, address).await;
        assert!(listed.unwrap().is_empty(), "{address}");
    }
}

/// A fake under a provider's name (every fake is called `fake`).
#[derive(Debug)]
struct Named(&'static str, Arc<FakeProvider>);

#[async_trait::async_trait]
impl Provider for Named {
    fn name(&self) -> &'static str {
        self.0
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        self.1.send(delivery).await
    }
}

#[tokio::test]
async fn a_status_names_the_member_of_a_failover_chain_that_gave_the_outcome() {
    let (primary, secondary) = (Arc::new(FakeProvider::new()), Arc::new(FakeProvider::new()));
    let chain = Failover::new(
        "email",
        Arc::new(Named("sendgrid", primary.clone())),
        Arc::new(Named("smtp", secondary.clone())),
        BreakerConfig::default(),
    )
    .expect("valid breaker");
    let rig = rig_over(primary.clone(), Arc::new(chain));
    primary.script(
        "moved@example.org",
        [Outcome::retry(Reason::ProviderUnavailable, "http 503")],
    );
    assert_eq!(rig.handle(&email("moved@example.org")).await, Handled::Sent);
    primary.script("gone@example.org", [refused()]);
    rig.handle(&email("gone@example.org")).await;

    let named: Vec<_> = rig
        .statuses()
        .into_iter()
        .map(|s| (s.status, s.provider))
        .collect();
    assert_eq!(
        named,
        [
            (Status::Sent, Some("smtp".to_owned())),
            (Status::Failed, Some("sendgrid".to_owned()))
        ]
    );
    assert_eq!(secondary.sends().len(), 1);
}
