//! The receipt routes in process: SendGrid's Event Webhook (signed by the SendGrid simulator's
//! webhook key) and Twilio's status callbacks, signed with keys the gateway is configured with, against the in-memory log and publisher.
//! Checked: a genuine receipt is reported once and written to the log; a stale timestamp, a
//! replayed signature, a tampered body or URL and a missing signature are refused and record
//! nothing.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use notify_common::clock::now_ms;
use notify_common::config::{IngestConfig, SecretConfig};
use notify_schemas::{Channel, Receipt, Stage, Status};
use notify_sim::sendgrid_events::EventWebhook;
use notify_store::notification_log::{DeliveryLog, LogKey};
use notify_store::suppressions::{SuppressionList, SuppressionReason, EVERY_TENANT};
use support::{harness, Harness};

use notify_ingest::receipts::sendgrid::VerificationKey;
use notify_ingest::receipts::vonage::SignatureMethod;
use notify_ingest::receipts::{twilio, Receipts, SendGridReceipts, TwilioReceipts, VonageReceipts};

const TOKEN: &str = "twilio-auth-token";
const VONAGE_SECRET: &str = "vonage-signature-secret";
const CALLBACK: &str = "https://notify.example.com/v1/receipts/twilio";
const DELIVERY: &str = "6f1c2d3e-0000-4000-8000-000000000001";
const EVENT: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

async fn gateway(signer: &EventWebhook) -> Harness {
    let token_file = std::env::temp_dir().join(format!("notify-receipts-{}", uuid::Uuid::new_v4()));
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let vonage_file = token_file.with_extension("vonage");
    std::fs::write(&vonage_file, VONAGE_SECRET).unwrap();
    let mut h = harness(IngestConfig::default()).await;
    h.state.receipts = Some(Arc::new(Receipts {
        twilio: Some(TwilioReceipts {
            callback_url: CALLBACK.into(),
            auth_token: SecretConfig::File(token_file),
        }),
        vonage: Some(VonageReceipts {
            callback_url: "https://notify.example.com/v1/receipts/vonage".into(),
            signature_secret: SecretConfig::File(vonage_file),
            signature_method: SignatureMethod::Sha256,
        }),
        sendgrid: Some(SendGridReceipts {
            key: VerificationKey::from_base64_der(&signer.public_key()).unwrap(),
        }),
        ..support::receipts(&h)
    }));
    h.app = notify_ingest::routes::router(h.state.clone());
    h
}

fn events(kind: &str) -> Vec<u8> {
    events_typed(kind, None)
}

fn events_typed(kind: &str, bounce_type: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!([{
        "email": "Jane@Example.com", "event": kind, "timestamp": now_ms() / 1000, "type": bounce_type,
        "sg_message_id": "abc.filter0001", "delivery_id": DELIVERY,
        "notify_tenant": "acme", "notify_event_id": EVENT, "notify_category": "orders",
    }]))
    .unwrap()
}

async fn post_events(h: &Harness, body: &[u8], timestamp: &str, signature: &str) -> StatusCode {
    let request = Request::post("/v1/receipts/sendgrid")
        .header("content-type", "application/json")
        .header("x-twilio-email-event-webhook-timestamp", timestamp)
        .header("x-twilio-email-event-webhook-signature", signature)
        .body(Body::from(body.to_vec()))
        .unwrap();
    h.send(request).await.0
}

#[tokio::test]
async fn a_sendgrid_bounce_is_reported_once_and_forgeries_are_refused() {
    let signer = EventWebhook::new();
    let h = gateway(&signer).await;
    let now = (now_ms() / 1000).to_string();
    let body = events("bounce");
    let signature = signer.sign(&now, &body);

    // forgeries first: nothing may be recorded from them
    let stale = (now_ms() / 1000 - 301).to_string();
    let refused = [
        post_events(&h, &body, &now, "").await,
        post_events(&h, &events("delivered"), &now, &signature).await,
        post_events(&h, &body, &(now_ms() / 1000 + 1).to_string(), &signature).await,
        post_events(&h, &body, &stale, &signer.sign(&stale, &body)).await,
        post_events(&h, &body, &now, &EventWebhook::new().sign(&now, &body)).await,
    ];
    assert_eq!(refused, [StatusCode::FORBIDDEN; 5]);
    assert!(h.statuses().is_empty());

    assert_eq!(
        post_events(&h, &body, &now, &signature).await,
        StatusCode::NO_CONTENT
    );
    let published = h.statuses();
    assert_eq!(published.len(), 1);
    let status = &published[0];
    assert_eq!(
        (status.receipt, status.status, status.stage),
        (Some(Receipt::Bounced), Status::Failed, Stage::Tracker)
    );
    assert_eq!(status.reason.as_deref(), Some("sendgrid_bounce"));
    assert_eq!(status.recipient.as_deref(), Some("J***@Example.com"));
    let row = h
        .log
        .get(&LogKey::new("acme", EVENT, "email", "Jane@Example.com"))
        .await
        .unwrap()
        .expect("log row");
    assert_eq!(row.state.as_deref(), Some("bounced"));

    // the same signed request again is a replay
    assert_eq!(
        post_events(&h, &body, &now, &signature).await,
        StatusCode::FORBIDDEN
    );
    // SendGrid posting the same event anew (new signature) changes nothing either
    let again = signer.sign(&now, &events("bounce"));
    assert_eq!(
        post_events(&h, &events("bounce"), &now, &again).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(h.statuses().len(), 1);
}

fn twilio_form(status: &str) -> Vec<(String, String)> {
    [
        ("MessageSid", "SM1"),
        ("MessageStatus", status),
        ("ErrorCode", "30003"),
        ("To", "+821012345678"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec()
}

async fn post_callback(
    h: &Harness,
    query: &str,
    form: &[(String, String)],
    sign_url: &str,
) -> StatusCode {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let request = Request::post(format!("/v1/receipts/twilio?{query}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-twilio-signature",
            twilio::signature(TOKEN, sign_url, form),
        )
        .body(Body::from(body))
        .unwrap();
    h.send(request).await.0
}

#[tokio::test]
async fn a_twilio_undelivered_callback_is_reported_and_a_tampered_one_refused() {
    let h = gateway(&EventWebhook::new()).await;
    let query = format!("delivery_id={DELIVERY}&tenant=acme&event_id={EVENT}&category=orders");
    let url = format!("{CALLBACK}?{query}");
    let form = twilio_form("undelivered");
    let tampered = query.replace("tenant=acme", "tenant=other");
    assert_eq!(
        post_callback(&h, &tampered, &form, &url).await,
        StatusCode::FORBIDDEN
    );
    let elsewhere = url.replace("notify.example.com", "evil.example");
    assert_eq!(
        post_callback(&h, &query, &form, &elsewhere).await,
        StatusCode::FORBIDDEN
    );
    assert!(h.statuses().is_empty());

    // progress is taken and ignored
    let sent = twilio_form("sent");
    assert_eq!(
        post_callback(&h, &query, &sent, &url).await,
        StatusCode::NO_CONTENT
    );
    assert!(h.statuses().is_empty());

    assert_eq!(
        post_callback(&h, &query, &form, &url).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post_callback(&h, &query, &form, &url).await,
        StatusCode::NO_CONTENT
    );
    let published = h.statuses();
    assert_eq!(published.len(), 1, "the replay reports nothing");
    assert_eq!(published[0].receipt, Some(Receipt::Undelivered));
    assert_eq!(published[0].reason.as_deref(), Some("twilio_30003"));
    assert_eq!(published[0].category.as_deref(), Some("orders"));
}

#[tokio::test]
async fn hard_bounces_complaints_and_stopped_numbers_go_on_the_suppression_list() {
    let signer = EventWebhook::new();
    let h = gateway(&signer).await;
    let list = h.suppressions.clone();
    let now = (now_ms() / 1000).to_string();
    let listed = |channel, address: &'static str| {
        let list = list.clone();
        async move { list.lookup(channel, address).await.unwrap() }
    };

    // a `blocked` bounce is temporary: reported, not suppressed
    let blocked = events_typed("bounce", Some("blocked"));
    let status = post_events(&h, &blocked, &now, &signer.sign(&now, &blocked)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h.statuses().len(), 1);
    assert!(listed(Channel::Email, "jane@example.com").await.is_empty());

    for (kind, reason) in [
        ("bounce", SuppressionReason::Bounced),
        ("spamreport", SuppressionReason::Complained),
    ] {
        let body = events_typed(kind, (kind == "bounce").then_some("bounce"));
        let status = post_events(&h, &body, &now, &signer.sign(&now, &body)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{kind}");
        let entries = listed(Channel::Email, "jane@example.com").await;
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(
            (entries[0].scope.as_str(), entries[0].reason),
            ("acme", reason)
        );
        assert_eq!(entries[0].delivery_id.as_deref(), Some(DELIVERY));
    }

    // Twilio refusing a send because the number texted STOP: suppressed for every tenant
    let query = format!("delivery_id={DELIVERY}&tenant=acme&event_id={EVENT}");
    let mut form = twilio_form("failed");
    form[2].1 = twilio::OPTED_OUT_ERROR.into();
    let url = format!("{CALLBACK}?{query}");
    assert_eq!(
        post_callback(&h, &query, &form, &url).await,
        StatusCode::NO_CONTENT
    );
    let entries = listed(Channel::Sms, "+821012345678").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0].scope.as_str(), entries[0].reason),
        (EVERY_TENANT, SuppressionReason::Stopped)
    );
}

async fn post_inbound(h: &Harness, from: &str, text: &str, token: &str) -> (StatusCode, String) {
    let url = format!("{CALLBACK}/inbound");
    let form: Vec<(String, String)> = [
        ("AccountSid", "ACsim"),
        ("MessageSid", "SMin1"),
        ("From", from),
        ("To", "+15005550006"),
        ("Body", text),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let request = Request::post("/v1/receipts/twilio/inbound")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", twilio::signature(token, &url, &form))
        .body(Body::from(body))
        .unwrap();
    let (status, _, body) = h.send(request).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn an_inbound_stop_suppresses_the_number_and_start_lifts_it() {
    let h = gateway(&EventWebhook::new()).await;
    let list = h.suppressions.clone();
    let phone = "+821055501234";
    let listed = || async { list.lookup(Channel::Sms, phone).await.unwrap() };

    let forged = post_inbound(&h, phone, "STOP", "not-the-token").await;
    assert_eq!(forged.0, StatusCode::FORBIDDEN);
    let chat = post_inbound(&h, phone, "please stop calling me later", TOKEN).await;
    assert_eq!(chat.0, StatusCode::OK);
    assert!(listed().await.is_empty(), "only a keyword opts out");

    let (status, twiml) = post_inbound(&h, phone, " Stop ", TOKEN).await;
    assert_eq!(status, StatusCode::OK);
    assert!(twiml.contains("<Response></Response>"), "{twiml}");
    let entries = listed().await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0].scope.as_str(), entries[0].reason),
        (EVERY_TENANT, SuppressionReason::Stopped)
    );
    assert_eq!(
        post_inbound(&h, phone, "START", TOKEN).await.0,
        StatusCode::OK
    );
    assert!(listed().await.is_empty(), "START lifts it");
    assert!(h.statuses().is_empty(), "no delivery, no status");
}

/// A Vonage delivery receipt for `msisdn` about the delivery of `tenant`'s event, signed as the
/// simulator signs (its own implementation of Vonage's scheme) with `secret`.
fn vonage_receipt(msisdn: &str, status: &str, err: &str, secret: &str, ts: i64) -> String {
    let delivery = notify_schemas::id::delivery_id(
        "acme",
        EVENT.parse().unwrap(),
        Channel::Sms,
        &format!("+{msisdn}"),
    );
    let mut params: Vec<(String, String)> = [
        ("msisdn", msisdn),
        ("to", "Notify"),
        ("messageId", "0A00000001"),
        ("status", status),
        ("err-code", err),
        ("client-ref", &delivery.to_string()),
        ("timestamp", &ts.to_string()),
        ("nonce", "a&b=c"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    let sig = notify_sim::vonage::vonage_signature(secret, &params);
    params.push(("sig".into(), sig));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish()
}

async fn post_vonage(h: &Harness, query: &str, body: String) -> StatusCode {
    let request = Request::post(format!("/v1/receipts/vonage?{query}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    h.send(request).await.0
}

#[tokio::test]
async fn a_signed_vonage_receipt_is_reported_and_forgeries_refused() {
    let h = gateway(&EventWebhook::new()).await;
    let msisdn = "447700900001";
    let delivery = notify_schemas::id::delivery_id(
        "acme",
        EVENT.parse().unwrap(),
        Channel::Sms,
        &format!("+{msisdn}"),
    );
    let query = format!("delivery_id={delivery}&tenant=acme&event_id={EVENT}&category=orders");
    let now = now_ms() / 1000;
    let genuine = vonage_receipt(msisdn, "delivered", "0", VONAGE_SECRET, now);
    let refused = [
        post_vonage(
            &h,
            &query,
            vonage_receipt(msisdn, "delivered", "0", "wrong", now),
        )
        .await,
        post_vonage(&h, &query, genuine.replace("delivered", "failed")).await,
        post_vonage(
            &h,
            &query,
            vonage_receipt(msisdn, "delivered", "0", VONAGE_SECRET, now - 301),
        )
        .await,
        // a genuine receipt under another tenant's ids, or for another number
        post_vonage(
            &h,
            &query.replace("tenant=acme", "tenant=other"),
            genuine.clone(),
        )
        .await,
        post_vonage(
            &h,
            &query,
            vonage_receipt("447700900002", "delivered", "0", VONAGE_SECRET, now),
        )
        .await,
    ];
    assert_eq!(refused, [StatusCode::FORBIDDEN; 5]);
    assert!(h.statuses().is_empty());

    assert_eq!(
        post_vonage(&h, &query, genuine).await,
        StatusCode::NO_CONTENT
    );
    let published = h.statuses();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].receipt, Some(Receipt::Delivered));
    assert_eq!(published[0].provider.as_deref(), Some("vonage"));
    assert_eq!(published[0].delivery_id, Some(delivery));

    // a number that opted out (err-code 9) is suppressed for every tenant
    let opted_out = vonage_receipt(msisdn, "failed", "9", VONAGE_SECRET, now);
    assert_eq!(
        post_vonage(&h, &query, opted_out).await,
        StatusCode::NO_CONTENT
    );
    let entries = h
        .suppressions
        .lookup(Channel::Sms, &format!("+{msisdn}"))
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].scope, EVERY_TENANT);
    assert_eq!(h.statuses()[1].reason.as_deref(), Some("vonage_9"));
}
