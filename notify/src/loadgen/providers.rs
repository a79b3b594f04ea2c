//! `--mode providers`: the simulators alone. Each notification is sent by the dispatcher's own
//! provider client for its channel, straight from the generator, with no Kafka, database or
//! stage in between; the rate the simulators keep up with here is their own capacity, so a slow
//! simulator is never mistaken for a slow dispatcher in the other modes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use notify_common::Config;
use notify_dispatchers::providers::registry;
use notify_dispatchers::{Outcome, Provider};
use notify_schemas::{Channel, Uuid};

use super::produce::{rendered, Item};

/// One provider client per channel of the run.
#[derive(Debug)]
pub struct ProviderTarget {
    providers: HashMap<Channel, (Arc<dyn Provider>, AtomicU64)>,
    /// The dispatcher's own bound on one send (`dispatch.send_timeout_ms`).
    send_timeout: Duration,
}

impl ProviderTarget {
    /// The providers `config` configures for `channels` (the simulators', under `scripts/run`).
    pub fn new(config: &Config, channels: &[Channel]) -> anyhow::Result<Self> {
        let mut providers = HashMap::new();
        for &channel in channels {
            let provider = registry::build_provider(channel, &config.dispatch.providers)
                .with_context(|| format!("the {channel} provider"))?;
            providers.insert(channel, (provider, AtomicU64::new(0)));
        }
        Ok(Self {
            providers,
            send_timeout: Duration::from_millis(config.dispatch.send_timeout_ms),
        })
    }

    /// Sends that got no answer within the send timeout so far, by channel.
    pub fn timed_out(&self) -> Vec<(Channel, u64)> {
        let mut counts: Vec<(Channel, u64)> = self
            .providers
            .iter()
            .map(|(channel, (_, n))| (*channel, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        counts.sort_by_key(|(channel, _)| channel.as_str());
        counts
    }

    /// Sends every item at once; the event id of each one the provider accepted.
    pub async fn send(&self, tenant: &str, items: Vec<Item<'_>>) -> Vec<Option<Uuid>> {
        let now = notify_common::clock::now_ms();
        let sends = items.iter().map(|item| async move {
            let (provider, timed_out) = self.providers.get(&item.channel)?;
            let event = Uuid::new_v4();
            let delivery = rendered(tenant, event, item, now);
            // bounded as the dispatcher bounds it
            let Ok(outcome) =
                tokio::time::timeout(self.send_timeout, provider.send(&delivery)).await
            else {
                timed_out.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            match outcome {
                Outcome::Sent { .. } => Some(event),
                other => {
                    tracing::debug!(channel = %item.channel, outcome = ?other, "load send refused");
                    None
                }
            }
        });
        futures::future::join_all(sends).await
    }
}

#[cfg(test)]
mod tests {
    use notify_schemas::delivery_id;
    use notify_sim::suite::{SimSuite, SuiteSettings};

    use super::*;
    use crate::loadgen::setup::LoadUser;

    #[tokio::test(flavor = "multi_thread")]
    async fn each_channel_reaches_its_simulator_with_the_id_the_generator_tracks() {
        let dir = std::env::temp_dir().join(format!("notify-loadgen-{}", Uuid::new_v4()));
        let suite = SimSuite::start(SuiteSettings::new(&dir))
            .await
            .expect("suite");
        let mut config = Config::default();
        config.dispatch.providers = suite.providers_toml().parse().expect("valid toml");
        let subscription = suite.webpush.subscribe(None).expect("subscription");
        let user = LoadUser {
            id: "load-0".into(),
            keys: [
                format!("{:0>64x}", 1),
                format!("fcm-load-0:{}", "x".repeat(140)),
                subscription.endpoint,
                "+15550000000".into(),
                "load0@example.com".into(),
            ],
            webpush_keys: (subscription.p256dh, subscription.auth),
        };
        let channels = [
            Channel::Apns,
            Channel::Fcm,
            Channel::WebPush,
            Channel::Sms,
            Channel::Email,
        ];
        let target = ProviderTarget::new(&config, &channels).expect("providers");
        let items = channels
            .iter()
            .enumerate()
            .map(|(i, &channel)| Item {
                index: i as u64,
                channel,
                user: &user,
                body: serde_json::Value::Null,
            })
            .collect();
        let events = target.send("t1", items).await;
        assert!(target.timed_out().is_empty());

        let arrived: Vec<String> = suite
            .ledgers()
            .iter()
            .flat_map(|(_, ledger)| ledger.entries())
            .filter_map(|entry| entry.delivery_id)
            .collect();
        assert_eq!(arrived.len(), 5, "{arrived:?}");
        for (channel, event) in channels.into_iter().zip(events) {
            let event = event.unwrap_or_else(|| panic!("{channel} refused"));
            let id = delivery_id("t1", event, channel, user.key(channel)).to_string();
            assert!(arrived.contains(&id), "{channel}: {id} not in {arrived:?}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
