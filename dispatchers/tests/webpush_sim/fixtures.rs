//! What the web push simulator tests share: VAPID key files (replaceable), the simulator, a
//! provider allowed to reach it over loopback http, and deliveries to its subscriptions.

use std::path::PathBuf;
use std::time::Duration;

use notify_dispatchers::providers::webpush::{WebPushConfig, WebPushProvider};
use notify_schemas::records::{Delivery, Recipient, WebPushSubscription};
use notify_sim::faults::FaultSettings;
use notify_sim::webpush::{self, SimSubscription, WebPushSim};
use notify_sim::{Fault, FaultRule};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use p256::SecretKey;

pub(crate) struct KeyFile(pub(crate) PathBuf);

impl KeyFile {
    pub(crate) fn new(name: &str, secret: &SecretKey) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "notify-webpush-it-{}-{}",
            std::process::id(),
            name.trim_end_matches(".pem")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let file = Self(path);
        file.write(secret);
        file
    }

    pub(crate) fn write(&self, secret: &SecretKey) {
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        std::fs::write(&self.0, pem.as_bytes()).unwrap();
    }

    /// Replaces the key. Every P-256 PKCS#8 PEM has the same length, and two writes within one
    /// timestamp tick get the same mtime, so the new file's mtime is moved on explicitly.
    pub(crate) fn replace(&self, secret: &SecretKey) {
        let before = std::fs::metadata(&self.0).unwrap().modified().unwrap();
        self.write(secret);
        let file = std::fs::File::options().write(true).open(&self.0).unwrap();
        file.set_modified(before + Duration::from_secs(2)).unwrap();
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

pub(crate) async fn sim() -> WebPushSim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    webpush::serve(listener).unwrap()
}

pub(crate) fn provider(key: &KeyFile, timeout_ms: u64) -> WebPushProvider {
    let mut config = WebPushConfig::new(&key.0, "mailto:ops@example.com");
    config.allow_insecure_loopback = true;
    config.request_timeout_ms = timeout_ms;
    WebPushProvider::new(config).unwrap()
}

pub(crate) fn delivery_to(subscription: &SimSubscription) -> Delivery {
    let mut delivery = notify_schemas::samples::full_webpush_delivery();
    delivery.expires_at = None;
    delivery.recipient = Recipient::WebPush(WebPushSubscription {
        endpoint: subscription.endpoint.clone(),
        p256dh: subscription.p256dh.clone(),
        auth: subscription.auth.clone(),
        device_id: Some("browser-1".into()),
    });
    delivery
}

pub(crate) fn with_endpoint(mut delivery: Delivery, endpoint: String) -> Delivery {
    if let Recipient::WebPush(subscription) = &mut delivery.recipient {
        subscription.endpoint = endpoint;
    }
    delivery
}

pub(crate) fn faults(rule: Fault) -> FaultSettings {
    FaultSettings {
        rules: vec![FaultRule {
            fault: rule,
            count: Some(1),
            recipients: vec![],
        }],
        ..FaultSettings::default()
    }
}
