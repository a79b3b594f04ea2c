//! The fake SendGrid's signed Event Webhook: a P-256 key made at start (its public half is what
//! SendGrid shows under Mail Settings), the URL set as SendGrid's API sets it
//! (`PATCH /v3/user/webhooks/event/settings` with `{"enabled": true, "url": ...}`), and the
//! events of an accepted message posted there as SendGrid posts them: a JSON array, the
//! personalization's custom args as top-level fields of each event, signed with ECDSA over the
//! timestamp header followed by the body.
//!
//! Like a provider's mailbox simulator, a few local parts answer otherwise: `bounce` (or
//! `bounce+<tag>`) hard-bounces, `complaint` (or `complaint+<tag>`) is delivered and then
//! reported as spam; every other address is delivered.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Map, Value};

/// DER of a P-256 SubjectPublicKeyInfo up to the uncompressed point.
const SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

/// How long after accepting a message the fake reports it delivered.
const DELIVERY_DELAY: Duration = Duration::from_millis(200);

/// The account's Event Webhook.
pub struct EventWebhook {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    url: RwLock<Option<String>>,
}

impl std::fmt::Debug for EventWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWebhook")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl EventWebhook {
    /// A webhook with a new signing key and no URL (events are not posted until one is set).
    pub fn new() -> Arc<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("P-256 key generation");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("a key just generated");
        Arc::new(Self {
            key,
            rng,
            url: RwLock::new(None),
        })
    }

    /// The verification key as SendGrid shows it: base64 DER SubjectPublicKeyInfo.
    pub fn public_key(&self) -> String {
        let mut der = (0..SPKI_PREFIX.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&SPKI_PREFIX[i..i + 2], 16).expect("hex"))
            .collect::<Vec<u8>>();
        der.extend_from_slice(self.key.public_key().as_ref());
        STANDARD.encode(der)
    }

    /// Where events go, if set.
    pub fn url(&self) -> Option<String> {
        self.url.read().map(|u| u.clone()).unwrap_or_default()
    }

    /// Sets (or, with `None`, clears) where events go.
    pub fn set_url(&self, url: Option<String>) {
        if let Ok(mut slot) = self.url.write() {
            *slot = url;
        }
    }

    /// The signature header's value for a post of `body` at `timestamp`.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let mut signed = timestamp.as_bytes().to_vec();
        signed.extend_from_slice(body);
        let signature = self.key.sign(&self.rng, &signed).expect("ECDSA signing");
        STANDARD.encode(signature.as_ref())
    }

    /// Posts the events of an accepted message ([`outcome`]), after a short delay, if a URL is
    /// set. A refused post is logged, not retried.
    pub fn report_delivery(self: &Arc<Self>, to: &str, message_id: &str, custom_args: &Value) {
        let to = to.to_owned();
        let Some(url) = self.url() else { return };
        let webhook = Arc::clone(self);
        let mut base = Map::new();
        if let Some(args) = custom_args.as_object() {
            base.extend(args.clone());
        }
        base.insert("email".into(), json!(&to));
        base.insert(
            "sg_message_id".into(),
            json!(format!("{message_id}.filter0001.1.0")),
        );
        tokio::spawn(async move {
            tokio::time::sleep(DELIVERY_DELAY).await;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let events: Vec<Value> = outcome(&to)
                .iter()
                .map(|event| {
                    let mut e = base.clone();
                    e.insert("event".into(), json!(event));
                    e.insert("timestamp".into(), json!(now));
                    if *event == "bounce" {
                        e.insert("type".into(), json!("bounce"));
                        e.insert("status".into(), json!("5.1.1"));
                        e.insert("reason".into(), json!("550 5.1.1 no such user"));
                    }
                    Value::Object(e)
                })
                .collect();
            let body = serde_json::to_vec(&events).expect("JSON");
            let timestamp = now.to_string();
            let request = reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/json")
                .header(
                    "X-Twilio-Email-Event-Webhook-Signature",
                    webhook.sign(&timestamp, &body),
                )
                .header("X-Twilio-Email-Event-Webhook-Timestamp", timestamp)
                .body(body);
            crate::rest::post_webhook(request, &url, "event webhook").await;
        });
    }
}

/// The events the fake reports for a message to `to`: see the module's documentation.
pub fn outcome(to: &str) -> &'static [&'static str] {
    let local = to
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let tag = |name: &str| local == name || local.starts_with(&format!("{name}+"));
    if tag("bounce") {
        &["processed", "bounce"]
    } else if tag("complaint") {
        &["processed", "delivered", "spamreport"]
    } else {
        &["processed", "delivered"]
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::outcome;

    #[test]
    fn mailbox_simulator_addresses_bounce_or_complain() {
        assert_eq!(outcome("Bounce+1@example.com"), ["processed", "bounce"]);
        assert_eq!(outcome("complaint@example.com").last(), Some(&"spamreport"));
        assert_eq!(outcome("bouncer@example.com"), ["processed", "delivered"]);
    }
}
