//! The whole simulator suite driven through the provider registry: the `[dispatch.providers]`
//! table the suite renders builds a real provider for every channel, and one delivery per
//! channel lands in the matching simulator's ledger with its delivery id.

use notify_dispatchers::providers::registry::build_provider;
use notify_dispatchers::Outcome;
use notify_schemas::records::{Recipient, WebPushSubscription};
use notify_schemas::{samples, Channel, Delivery};
use notify_sim::suite::{SimSuite, SuiteSettings};

fn fresh(mut delivery: Delivery) -> Delivery {
    delivery.delivery_id = uuid::Uuid::new_v4();
    delivery.expires_at = None;
    delivery
}

#[tokio::test(flavor = "multi_thread")]
async fn every_channel_delivers_to_its_simulator_through_the_rendered_config() {
    let dir = std::env::temp_dir().join(format!("notify-suite-{}", uuid::Uuid::new_v4()));
    let suite = SimSuite::start(SuiteSettings::new(&dir))
        .await
        .expect("suite");
    let providers: toml::Table = suite.providers_toml().parse().expect("valid toml");

    let subscription = suite.webpush.subscribe(None).expect("subscription");
    let mut webpush = fresh(samples::full_webpush_delivery());
    webpush.recipient = Recipient::WebPush(WebPushSubscription {
        endpoint: subscription.endpoint.clone(),
        p256dh: subscription.p256dh,
        auth: subscription.auth,
        device_id: None,
    });
    let mut fcm = fresh(samples::full_push_delivery());
    fcm.channel = Channel::Fcm;
    let cases = [
        (Channel::Apns, fresh(samples::full_push_delivery()), "apns"),
        (Channel::Fcm, fcm, "fcm"),
        (Channel::WebPush, webpush, "webpush"),
        (Channel::Sms, fresh(samples::full_sms_delivery()), "twilio"),
        (
            Channel::Email,
            fresh(samples::full_email_delivery()),
            "sendgrid",
        ),
    ];
    for (channel, delivery, simulator) in cases {
        let provider =
            build_provider(channel, &providers).unwrap_or_else(|e| panic!("{channel}: {e}"));
        let outcome = provider.send(&delivery).await;
        assert!(
            matches!(outcome, Outcome::Sent { .. }),
            "{channel}: {outcome:?}"
        );
        let ledger = suite
            .ledgers()
            .into_iter()
            .find(|(name, _)| *name == simulator)
            .map(|(_, ledger)| ledger.entries())
            .expect("ledger");
        assert_eq!(ledger.len(), 1, "{simulator}: {ledger:?}");
        assert_eq!(
            ledger[0].delivery_id.as_deref(),
            Some(delivery.delivery_id.to_string().as_str()),
            "{simulator}"
        );
    }
    drop(suite);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
