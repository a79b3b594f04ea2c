//! The suppression list through the admin API: a tenant reads the entry that holds for it on an
//! address and lifts its own entries, never another tenant's nor a STOP for every tenant.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use notify_schemas::Channel;
use notify_store::suppressions::conformance::entry;
use notify_store::suppressions::{
    MemorySuppressions, SuppressionList, SuppressionReason, EVERY_TENANT,
};
use serde_json::Value;
use support::{harness, Harness};

/// Status and JSON body of `method /v1/suppressions/{path}`, with `auth` or no credentials.
async fn suppression(
    h: &Harness,
    method: Method,
    path: &str,
    auth: Option<&str>,
) -> (StatusCode, Value) {
    let uri = format!("/v1/suppressions/{path}");
    if let Some(auth) = auth {
        return h.call(auth, method, &uri, None).await;
    }
    let request = Request::builder().method(method).uri(uri);
    let (status, _, bytes) = h.send(request.body(Body::empty()).unwrap()).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// How many entries `list` holds on `address`.
async fn held(list: &MemorySuppressions, channel: Channel, address: &str) -> usize {
    list.lookup(channel, address).await.unwrap().len()
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
    let (status, body) = suppression(&h, Method::GET, "email/Ann%40Example.org", auth).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reason"], "bounced");
    assert_eq!(body["scope"], "tenant");
    assert_eq!(body["address"], "ann@example.org");
    let (status, body) = suppression(&h, Method::GET, "sms/+821055501234", auth).await;
    assert_eq!(
        (status, &body["scope"]),
        (StatusCode::OK, &Value::from("every_tenant"))
    );
    let (status, _) = suppression(&h, Method::GET, "email/bob@example.org", auth).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's entry is not ours"
    );

    let mut refusals = Vec::new();
    for (method, path, auth) in [
        (Method::GET, "email/ann@example.org", None),
        (Method::GET, "apns/ann@example.org", auth),
        (Method::DELETE, "sms/+821055501234", auth),
        (Method::DELETE, "email/bob@example.org", auth),
    ] {
        refusals.push(suppression(&h, method, path, auth).await.0);
    }
    assert_eq!(
        refusals,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::CONFLICT,
            StatusCode::NOT_FOUND
        ]
    );
    assert_eq!(held(&list, Channel::Email, "bob@example.org").await, 1);
    assert_eq!(held(&list, Channel::Sms, "+821055501234").await, 1);

    let (status, _) = suppression(&h, Method::DELETE, "email/ANN@example.org", auth).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(held(&list, Channel::Email, "ann@example.org").await, 0);
    let (status, _) = suppression(&h, Method::GET, "email/ann@example.org", auth).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
