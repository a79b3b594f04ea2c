//! Vonage delivery receipts on the real stack: with Vonage as the SMS provider tried first, the
//! dispatcher asks for a receipt at the gateway (`status-report-req`, `callback` with the
//! delivery's ids); the Vonage simulator posts it signed (HMAC-SHA256 over the sorted
//! parameters) and the gateway reports `delivered` on `notify.status`. A receipt signed with
//! another secret, one whose signed number is not the delivery's, and a genuine one moved under
//! another tenant's ids are refused; a replayed one reports nothing new.

use std::time::Duration;

use anyhow::{ensure, Context};
use notify_schemas::{DeliveryStatus, Receipt, Status};

use crate::harness::Settings;
use crate::receipts::receipt_pairs;
use crate::run::{self, Run};
use crate::workload::Shape;

/// The parameters of a `delivered` receipt about `sent` to `msisdn`, as Vonage posts them,
/// signed with `secret`.
fn receipt(sent: &DeliveryStatus, msisdn: &str, secret: &str) -> Vec<(String, String)> {
    let now = jiff::Timestamp::now();
    let mut params: Vec<(String, String)> = [
        ("msisdn", msisdn.to_owned()),
        ("to", "Notify".to_owned()),
        ("network-code", "310090".to_owned()),
        (
            "messageId",
            sent.provider_message_id.clone().unwrap_or_default(),
        ),
        ("price", "0.00700000".to_owned()),
        ("status", "delivered".to_owned()),
        ("scts", now.strftime("%y%m%d%H%M").to_string()),
        ("err-code", "0".to_owned()),
        (
            "client-ref",
            sent.delivery_id.map(|d| d.to_string()).unwrap_or_default(),
        ),
        (
            "message-timestamp",
            now.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        ),
        ("timestamp", now.as_second().to_string()),
        ("nonce", uuid::Uuid::new_v4().to_string()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .to_vec();
    let sig = notify_sim::vonage::vonage_signature(secret, &params);
    params.push(("sig".to_owned(), sig));
    params
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn vonage_delivery_receipts_are_reported_and_forgeries_refused() -> anyhow::Result<()> {
    let _turn = run::turn().await;
    let settings = Settings {
        receipts: true,
        sms_primary: "vonage",
        ..Settings::default()
    };
    let run = Run::start(settings, Shape::new(20, false)).await?;
    let client = reqwest::Client::new();
    let takers: Vec<_> = run
        .users
        .iter()
        .filter(|u| !u.opted_out && u.targets.iter().any(|t| t.channel.as_str() == "sms"))
        .take(5)
        .collect();
    ensure!(takers.len() == 5, "seeded SMS users: {}", takers.len());
    let mut events = Vec::new();
    for user in &takers {
        let body = serde_json::json!({
            "user_id": user.id, "category": "orders", "channels": ["sms"],
            "content": {"sms": {"text": "your order shipped"}}
        });
        events.push(run.api.accepted(&body, &[]).await?);
    }

    // every event: the dispatcher's SENT through Vonage, then the gateway's DELIVERED receipt
    let pairs = receipt_pairs(&run, &events, "Vonage SMS").await?;
    for (sent, receipt) in &pairs {
        ensure!(sent.status == Status::Sent, "{sent:?}");
        ensure!(sent.provider.as_deref() == Some("vonage"), "{sent:?}");
        ensure!(receipt.receipt == Some(Receipt::Delivered), "{receipt:?}");
        ensure!(receipt.provider.as_deref() == Some("vonage"), "{receipt:?}");
        ensure!(receipt.delivery_id == sent.delivery_id, "{receipt:?}");
        ensure!(receipt.user_id == sent.user_id, "{receipt:?}");
        ensure!(receipt.recipient == sent.recipient, "redacted alike");
    }

    // forgeries, then a replay, of a receipt about the first delivery
    let (sent, _) = &pairs[0];
    let user_id = sent.user_id.clone().context("user id")?;
    let user = takers
        .iter()
        .find(|u| u.id == user_id)
        .context("the first delivery's user")?;
    let msisdn = user
        .targets
        .iter()
        .find(|t| t.channel.as_str() == "sms")
        .map(|t| t.key.trim_start_matches('+').to_owned())
        .context("sms target")?;
    let secret = run.pipeline.provider_secret("vonage", "signature_secret")?;
    let base = run
        .pipeline
        .provider_setting("vonage", "delivery_receipt_url")?;
    let url = format!(
        "{base}?delivery_id={}&tenant={}&event_id={}&user_id={}&category=orders",
        sent.delivery_id.context("delivery id")?,
        sent.tenant,
        sent.event_id,
        user_id
    );
    let post = |url: String, form: Vec<(String, String)>| client.post(url).form(&form).send();
    let other_tenant = url.replace(&format!("tenant={}", sent.tenant), "tenant=someone-else");
    let refusals = [
        post(url.clone(), receipt(sent, &msisdn, "not-the-secret")).await?,
        post(url.clone(), receipt(sent, "15550009999", &secret)).await?,
        post(other_tenant, receipt(sent, &msisdn, &secret)).await?,
    ]
    .map(|r| r.status().as_u16());
    ensure!(
        refusals == [403, 403, 403],
        "forgeries answered {refusals:?}"
    );
    let of_first = |seen: &[DeliveryStatus]| {
        seen.iter()
            .filter(|s| s.delivery_id == sent.delivery_id && s.receipt.is_some())
            .count()
    };
    let before = run.observer.with(|seen| of_first(&seen.statuses));
    let replay = post(url, receipt(sent, &msisdn, &secret)).await?;
    ensure!(
        replay.status().is_success(),
        "replay answered {}",
        replay.status()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = run.observer.with(|seen| of_first(&seen.statuses));
    ensure!(
        before == 1 && after == 1,
        "receipts of one delivery: {before} then {after}"
    );
    run.finish().await;
    Ok(())
}
