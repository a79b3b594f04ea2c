//! What an app key may do, through the whole router: each group of routes needs its scope
//! (`send`, `status`, `admin`), a key without it gets a 403 naming the scope, and the OpenAPI
//! document names the same scope for every operation.

mod support;

use axum::http::{Method, StatusCode};
use notify_ingest::auth::provision::create_app;
use notify_store::tenants::{AppRecord, AppStore, Scope, Scopes};
use serde_json::{json, Value};

/// The Basic credentials of a new app of the harness's first tenant with `scopes`.
async fn key_with(h: &support::Harness, scopes: Scopes) -> String {
    let app = create_app(h.tenants.as_ref(), &h.tenant, None, scopes, None)
        .await
        .expect("app");
    support::basic_auth(&app)
}

/// Asserts a 403 problem document naming `scope`.
#[track_caller]
fn assert_forbidden(reply: &(StatusCode, Value), scope: &str) {
    let (status, body) = reply;
    assert_eq!(*status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["type"], "urn:notify:problem:forbidden", "{body}");
    assert_eq!(body["required_scope"], scope, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&format!("{scope} scope")), "{body}");
}

/// Asserts `auth` can send neither one notification nor a batch, and nothing was published.
async fn assert_cannot_send(h: &support::Harness, auth: &str) {
    let one = support::notification();
    let reply = h
        .call(auth, Method::POST, "/v1/notifications", Some(&one))
        .await;
    assert_forbidden(&reply, "send");
    let batch = json!({"items": [support::notification()]});
    let reply = h
        .call(auth, Method::POST, "/v1/notifications/batch", Some(&batch))
        .await;
    assert_forbidden(&reply, "send");
    assert!(h.publisher.records().is_empty(), "a refused send published");
}

fn user() -> Value {
    json!({"email": "u1@example.com"})
}

/// Was the weakness `today_any_app_key_is_a_tenant_admin`: a key created with the default scopes
/// (send, status) no longer manages the tenant's directory.
#[tokio::test]
async fn a_default_key_is_not_a_tenant_admin() {
    let h = support::harness(support::config_with(|_| {})).await;
    let auth = key_with(&h, Scopes::DEFAULT).await;
    let reply = h
        .call(&auth, Method::PUT, "/v1/users/u1", Some(&user()))
        .await;
    assert_forbidden(&reply, "admin");
    // nothing was written: an admin key finds no such user
    let admin = key_with(&h, Scopes::only(Scope::Admin)).await;
    let (status, _) = h.call(&admin, Method::GET, "/v1/users/u1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_send_only_key_sends_but_neither_administers_nor_reads_status() {
    let h = support::harness(support::config_with(|_| {})).await;
    let auth = key_with(&h, Scopes::only(Scope::Send)).await;
    let notification = support::notification();
    let (status, body) = h
        .call(
            &auth,
            Method::POST,
            "/v1/notifications",
            Some(&notification),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let event_id = body["event_id"].as_str().expect("event id").to_owned();
    let batch = json!({"items": [notification]});
    let (status, body) = h
        .call(&auth, Method::POST, "/v1/notifications/batch", Some(&batch))
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");

    for (method, uri) in [
        (Method::GET, "/v1/users"),
        (Method::DELETE, "/v1/users/u1"),
        (Method::GET, "/v1/templates"),
        (Method::GET, "/v1/categories/orders"),
        (Method::GET, "/v1/users/u1/devices"),
        (Method::GET, "/v1/users/u1/preferences"),
    ] {
        assert_forbidden(&h.call(&auth, method, uri, None).await, "admin");
    }
    let status_uri = format!("/v1/notifications/{event_id}");
    assert_forbidden(
        &h.call(&auth, Method::GET, &status_uri, None).await,
        "status",
    );
}

#[tokio::test]
async fn a_status_key_reads_status_but_cannot_send() {
    let h = support::harness(support::config_with(|_| {})).await;
    let auth = key_with(&h, Scopes::only(Scope::Status)).await;
    // the route is reached: an unknown event is the handler's 404, not a 403
    let (status, body) = h
        .call(&auth, Method::GET, "/v1/notifications/ev_unknown", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_cannot_send(&h, &auth).await;
    assert_forbidden(
        &h.call(&auth, Method::GET, "/v1/users", None).await,
        "admin",
    );
}

#[tokio::test]
async fn an_admin_key_manages_the_directory() {
    let h = support::harness(support::config_with(|_| {})).await;
    let auth = key_with(&h, Scopes::only(Scope::Admin)).await;
    let (status, body) = h
        .call(&auth, Method::PUT, "/v1/users/u1", Some(&user()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = h.call(&auth, Method::GET, "/v1/users/u1", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = h.call(&auth, Method::DELETE, "/v1/users/u1", None).await;
    assert!(status.is_success(), "{status}");
    assert_cannot_send(&h, &auth).await;
}

/// An app stored before scopes existed reads back with every scope (see the store), and such a
/// key keeps working everywhere, as it did.
#[tokio::test]
async fn a_legacy_key_keeps_every_scope() {
    let h = support::harness(support::config_with(|_| {})).await;
    let app = create_app(h.tenants.as_ref(), &h.tenant, None, Scopes::DEFAULT, None)
        .await
        .expect("app");
    let stored = h
        .tenants
        .app_by_key(&app.app_key)
        .await
        .expect("read")
        .expect("present");
    // what the Cassandra store reads for a row with a null scopes column
    h.tenants
        .create_app(&AppRecord {
            scopes: Scopes::LEGACY,
            ..stored
        })
        .await
        .expect("overwrite");
    let auth = support::basic_auth(&app);
    let (status, body) = h
        .call(&auth, Method::PUT, "/v1/users/u1", Some(&user()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = h
        .call(
            &auth,
            Method::POST,
            "/v1/notifications",
            Some(&support::notification()),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

/// Bad credentials stay 401 on every group, whatever scope it needs.
#[tokio::test]
async fn bad_credentials_are_401_not_403() {
    let h = support::harness(support::config_with(|_| {})).await;
    for (method, uri) in [
        (Method::POST, "/v1/notifications"),
        (Method::GET, "/v1/notifications/ev_1"),
        (Method::GET, "/v1/users"),
    ] {
        let (status, body) = h.call("Basic bm9uZTpub25l", method, uri, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {body}");
    }
}

/// Every operation of `/openapi.json` behind credentials names exactly one scope, the same in
/// both security schemes, and the router enforces that scope: a key with every other scope gets
/// the 403 naming it, a key with only that scope gets past the check.
#[tokio::test]
async fn the_openapi_document_names_the_scope_each_route_enforces() {
    let h = support::harness(support::config_with(|_| {})).await;
    let doc = serde_json::to_value(notify_ingest::openapi::document()).expect("json");
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let Some(security) = operation["security"].as_array() else {
                assert!(
                    ["/healthz", "/readyz"].contains(&path.as_str()),
                    "{method} {path} has no security requirement"
                );
                continue;
            };
            let mut named: Vec<&str> = security
                .iter()
                .flat_map(|requirement| requirement.as_object().expect("requirement").values())
                .flat_map(|roles| roles.as_array().expect("roles"))
                .map(|role| role.as_str().expect("role"))
                .collect();
            assert_eq!(named.len(), 2, "{method} {path}: {security:?}");
            named.dedup();
            let [scope] = named[..] else {
                panic!("{method} {path} names {named:?}")
            };
            let scope: Scope = scope.parse().expect("a known scope");
            assert!(
                operation["responses"]["403"].is_object(),
                "{method} {path} does not document its 403"
            );

            let uri = path.replace('{', "x").replace('}', "");
            let others = Scopes::from_scopes(Scope::ALL.into_iter().filter(|s| *s != scope))
                .expect("two scopes");
            let without = key_with(&h, others).await;
            let reply = h
                .call(&without, method.clone(), &uri, Some(&json!({})))
                .await;
            assert_forbidden(&reply, scope.name());
            let with = key_with(&h, Scopes::only(scope)).await;
            let (status, body) = h.call(&with, method.clone(), &uri, Some(&json!({}))).await;
            assert_ne!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            checked += 1;
        }
    }
    assert_eq!(checked, 29, "operations behind credentials");
}
