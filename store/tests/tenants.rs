//! Tenants and apps against a real Cassandra node (`NOTIFY_IT_CASSANDRA`, default
//! 127.0.0.1:9042), in a keyspace of its own that the test migrates and drops; the same
//! scenario runs against the in-memory fake, so the two cannot drift apart.

mod common;

use notify_common::config::StoreConfig;
use notify_store::tenants::{
    AppRecord, AppStore, CassandraTenants, JwtKey, MemoryTenants, Scope, Scopes, TenantRecord,
};

/// Creates a tenant and three apps (Basic only, HS256 with a ciphertext, ES256), each with other
/// scopes, reads them back by key, disables one.
async fn scenario(store: &dyn AppStore) {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let tenant = TenantRecord {
        tenant_id: format!("tn_{}", &unique[..20]),
        name: "Acme Ltd.".into(),
    };
    assert_eq!(
        store.tenant_by_id(&tenant.tenant_id).await.expect("read"),
        None
    );
    store.create_tenant(&tenant).await.expect("create tenant");
    assert_eq!(
        store.tenant_by_id(&tenant.tenant_id).await.expect("read"),
        Some(tenant.clone())
    );

    let app = |suffix: &str, jwt: Option<JwtKey>, ciphertext: Option<Vec<u8>>, scopes| AppRecord {
        app_key: format!("ak_{}{suffix}", &unique[..16]),
        tenant_id: tenant.tenant_id.clone(),
        secret_hash: [0xa5; 32],
        secret_ciphertext: ciphertext,
        jwt,
        scopes,
        disabled: false,
    };
    let apps = [
        app("basic", None, None, Scopes::only(Scope::Status)),
        app(
            "hs",
            Some(JwtKey::Hs256),
            Some(vec![1, 0, 255, 7]),
            Scopes::DEFAULT,
        ),
        app(
            "es",
            Some(JwtKey::Es256 {
                public_key_pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
                    .into(),
            }),
            None,
            Scopes::only(Scope::Admin).with(Scope::Send),
        ),
    ];
    for app in &apps {
        store.create_app(app).await.expect("create app");
    }
    for app in &apps {
        let read = store.app_by_key(&app.app_key).await.expect("read");
        assert_eq!(read.as_ref(), Some(app), "{}", app.app_key);
    }
    assert_eq!(
        store.app_by_key("ak_never_created").await.expect("read"),
        None
    );

    assert!(store
        .set_app_disabled(&apps[0].app_key, true)
        .await
        .expect("disable"));
    let read = store
        .app_by_key(&apps[0].app_key)
        .await
        .expect("read")
        .expect("present");
    assert!(read.disabled);
    assert_eq!(read.scopes, apps[0].scopes, "disabling keeps the scopes");
    assert!(!store
        .set_app_disabled("ak_never_created", true)
        .await
        .expect("disable"));
    // Disabling a missing app must not create a partial row.
    assert_eq!(
        store.app_by_key("ak_never_created").await.expect("read"),
        None
    );
}

#[tokio::test]
async fn memory_tenants_pass_the_scenario() {
    scenario(&MemoryTenants::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_tenants_pass_the_scenario() {
    common::in_scratch_keyspace("it_tenants", |session, keyspace| async move {
        let store = CassandraTenants::new(session, &keyspace)
            .await
            .expect("prepare statements");
        scenario(&store).await;
    })
    .await;
}

/// An app row written before migration 3 has no scopes; it keeps every scope, as its key was a
/// tenant admin when it was made. Only Cassandra can hold such a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_app_without_scopes_keeps_every_scope() {
    common::in_scratch_keyspace("it_tenants", |session, keyspace| async move {
        let store = CassandraTenants::new(session.clone(), &keyspace)
            .await
            .expect("prepare statements");
        session
            .query_unpaged(
                format!(
                    "INSERT INTO {keyspace}.apps (app_key, tenant_id, secret_hash, disabled) \
                     VALUES ('ak_legacy', 'tn_legacy', '{}', false)",
                    "a5".repeat(32)
                ),
                (),
            )
            .await
            .expect("insert a row as written before scopes");
        let read = store
            .app_by_key("ak_legacy")
            .await
            .expect("read")
            .expect("present");
        assert_eq!(read.scopes, Scopes::LEGACY);
        assert_eq!(read.tenant_id, "tn_legacy");
    })
    .await;
}

/// A run cut short after adding `apps.scopes` but before recording version 3 is finished by the
/// next run, which finds the column and does not add it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn scopes_migration_finishes_a_run_cut_short() {
    common::in_scratch_keyspace("it_tenants", |session, keyspace| async move {
        session
            .query_unpaged(
                format!("DELETE FROM {keyspace}.schema_migrations WHERE version = 3"),
                (),
            )
            .await
            .expect("forget version 3");
        let config = StoreConfig {
            keyspace: keyspace.clone(),
            ..common::store_config("unused")
        };
        let report = notify_store::migrate(&session, &config)
            .await
            .expect("migrate again");
        assert_eq!(report.applied, [3]);
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn refuses_a_keyspace_that_is_not_an_identifier() {
    common::assert_keyspace_refused("it_tenants", CassandraTenants::new).await;
}
