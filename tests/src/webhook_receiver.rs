//! A tenant's webhook endpoint, as the webhook tests need one: a loopback HTTP receiver that
//! keeps every body posted to `/hook` with its `Notify-Signature` header, in arrival order, and
//! can be stopped and started again on the same address (an outage); and the signature check a
//! tenant would write from `docs/webhooks.md` (HMAC-SHA256 over `t.body` with `ring`, not the
//! sender's own signer).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::oneshot;

/// What a receiver took: each body with its signature header, in arrival order.
pub type Taken = Arc<Mutex<Vec<(String, Bytes)>>>;

/// How far a signature's timestamp may be from the checker's clock, as the docs advise.
pub const SIGNATURE_TOLERANCE_S: i64 = 300;

/// A running receiver; dropping it stops it.
#[derive(Debug)]
pub struct WebhookReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl WebhookReceiver {
    /// Listens on `addr` (port 0 for any) and keeps what it is posted in `taken`, answering 204.
    pub async fn start(addr: SocketAddr, taken: Taken) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let taken = Arc::clone(&taken);
                async move {
                    let signature = headers
                        .get("notify-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    taken.lock().expect("taken").push((signature, body));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            stop: Some(stop),
        })
    }

    /// The endpoint URL to register.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Stops listening; connections already open finish their request.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `header` (`t=<unix seconds>,v1=<hex>[,v1=<hex>...]`) signs `body` with `secret`,
/// with a timestamp within [`SIGNATURE_TOLERANCE_S`] of `now_s`.
pub fn signature_verifies(secret: &str, header: &str, body: &[u8], now_s: i64) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let signed = [t.to_string().as_bytes(), b".", body].concat();
    (now_s - t).abs() <= SIGNATURE_TOLERANCE_S
        && v1
            .iter()
            .any(|sig| ring::hmac::verify(&key, &signed, sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let signed = [t.to_string().as_bytes(), b".", body].concat();
        format!(
            "t={t},v1={}",
            hex::encode(ring::hmac::sign(&key, &signed).as_ref())
        )
    }

    #[test]
    fn checks_secret_body_and_age() {
        let header = sign("whsec_a", 1_000, b"{}");
        assert!(signature_verifies("whsec_a", &header, b"{}", 1_000));
        assert!(signature_verifies("whsec_a", &header, b"{}", 1_300));
        assert!(!signature_verifies("whsec_a", &header, b"{}", 1_301));
        assert!(!signature_verifies("whsec_b", &header, b"{}", 1_000));
        assert!(!signature_verifies("whsec_a", &header, b"[]", 1_000));
        assert!(!signature_verifies("whsec_a", "v1=00", b"{}", 1_000));
        let rotated = format!("{},v1=00ff", header);
        assert!(signature_verifies("whsec_a", &rotated, b"{}", 1_000));
    }
}
