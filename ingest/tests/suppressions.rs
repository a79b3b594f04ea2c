//! The suppression list through the admin API: a tenant reads the entry that holds for it on an
//! address and lifts its own entries, never another tenant's nor a STOP for every tenant.

mod support;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use notify_schemas::Channel;
use notify_store::suppressions::{Suppression, SuppressionList, SuppressionReason, EVERY_TENANT};
use serde_json::Value;
use support::{harness, Harness};

async fn call(h: &Harness, method: Method, uri: &str, auth: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    let (status, _, bytes) = h.send(request.body(Body::empty()).unwrap()).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn entry(scope: &str, channel: Channel, address: &str, reason: SuppressionReason) -> Suppression {
    Suppression {
        scope: scope.into(),
        channel,
        address: address.into(),
        reason,
        created_at_ms: 42,
        delivery_id: Some("d-1".into()),
    }
}

#[tokio::test]
async fn a_tenant_reads_and_lifts_its_own_entries_only() {
    let h = harness(Default::default()).await;
    let list = h.suppressions.clone();
    let bounced = entry(
        &h.tenant,
        Channel::Email,
        "ann@example.org",
        SuppressionReason::Bounced,
    );
    list.add(&bounced).await.unwrap();
    list.add(&entry(
        "someone-else",
        Channel::Email,
        "bob@example.org",
        SuppressionReason::Complained,
    ))
    .await
    .unwrap();
    list.add(&entry(
        EVERY_TENANT,
        Channel::Sms,
        "+821055501234",
        SuppressionReason::Stopped,
    ))
    .await
    .unwrap();
    let auth = Some(h.auth.as_str());

    // the path's address is compared as stored: email in lower case
    let (status, body) = call(
        &h,
        Method::GET,
        "/v1/suppressions/email/Ann%40Example.org",
        auth,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reason"], "bounced");
    assert_eq!(body["scope"], "tenant");
    assert_eq!(body["address"], "ann@example.org");
    let (status, body) = call(&h, Method::GET, "/v1/suppressions/sms/+821055501234", auth).await;
    assert_eq!(
        (status, &body["scope"]),
        (StatusCode::OK, &Value::from("every_tenant"))
    );
    let (status, _) = call(
        &h,
        Method::GET,
        "/v1/suppressions/email/bob@example.org",
        auth,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's entry is not ours"
    );

    let refusals = [
        call(
            &h,
            Method::GET,
            "/v1/suppressions/email/ann@example.org",
            None,
        )
        .await
        .0,
        call(
            &h,
            Method::GET,
            "/v1/suppressions/apns/ann@example.org",
            auth,
        )
        .await
        .0,
        call(
            &h,
            Method::DELETE,
            "/v1/suppressions/sms/+821055501234",
            auth,
        )
        .await
        .0,
        call(
            &h,
            Method::DELETE,
            "/v1/suppressions/email/bob@example.org",
            auth,
        )
        .await
        .0,
    ];
    assert_eq!(
        refusals,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::CONFLICT,
            StatusCode::NOT_FOUND
        ]
    );
    assert_eq!(
        list.lookup(Channel::Email, "bob@example.org")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        list.lookup(Channel::Sms, "+821055501234")
            .await
            .unwrap()
            .len(),
        1
    );

    let (status, _) = call(
        &h,
        Method::DELETE,
        "/v1/suppressions/email/ANN@example.org",
        auth,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(list
        .lookup(Channel::Email, "ann@example.org")
        .await
        .unwrap()
        .is_empty());
    let (status, _) = call(
        &h,
        Method::GET,
        "/v1/suppressions/email/ann@example.org",
        auth,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
