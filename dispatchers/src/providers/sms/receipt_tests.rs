//! Vonage delivery receipts from the dispatcher's side: the send asks for one, with the ids the
//! gateway needs, and the simulator posts it signed.

use std::time::Duration;

use super::tests::{sms, vonage_config, vonage_sim, TO};
use super::vonage::{VonageConfig, VonageProvider};
use crate::providers::provider::{Outcome, Provider};
use crate::providers::secret::SecretConfig;
use crate::providers::test_support::{listener, secret_file};

#[tokio::test]
async fn vonage_asks_for_a_signed_receipt_with_the_delivery_ids() {
    let sim = vonage_sim().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<String>, String)>();
    let app = axum::Router::new().route(
        "/dlr",
        axum::routing::post(move |q: axum::extract::RawQuery, body: String| async move {
            tx.send((q.0, body)).ok();
        }),
    );
    let receiver = listener().await;
    let url = format!("http://{}/dlr", receiver.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(receiver, app).await });
    let provider = VonageProvider::new(VonageConfig {
        delivery_receipt_url: Some(url),
        signature_secret: Some(SecretConfig::File(secret_file("sig"))),
        signature_method: Some("sha256".into()),
        ..vonage_config(&sim)
    })
    .unwrap();
    let delivery = sms(TO, "order shipped");
    assert!(matches!(
        provider.send(&delivery).await,
        Outcome::Sent { .. }
    ));
    let (query, body) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a receipt within 5 s")
        .unwrap();
    let query = query.unwrap_or_default();
    for id in [
        delivery.delivery_id.to_string(),
        delivery.event_id.to_string(),
    ] {
        assert!(query.contains(&id), "{query}");
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("client-ref"), Some(delivery.delivery_id.to_string()));
    assert_eq!(field("status").as_deref(), Some("delivered"));
    assert!(
        field("sig").is_some() && field("timestamp").is_some(),
        "{body}"
    );
    let bad = VonageProvider::new(VonageConfig {
        signature_method: Some("md5".into()),
        ..vonage_config(&sim)
    });
    assert!(bad.unwrap_err().to_string().contains("MD5"));
}
