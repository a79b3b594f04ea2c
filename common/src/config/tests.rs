//! Loading and validation of the whole configuration.
#![allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type

use super::*;
use figment::Jail;

#[test]
fn defaults_are_valid() {
    Config::default().validate().expect("defaults validate");
}

#[test]
fn file_then_env_override_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "notify.toml",
            "[kafka]\nbrokers = \"k1:9092\"\n[kafka.partitions]\nrequests = 3\n",
        )?;
        jail.set_env("NOTIFY_KAFKA__BROKERS", "k2:9092");
        jail.set_env("NOTIFY_STORE__KEYSPACE", "notify_test");
        jail.set_env("NOTIFY_CONFIG", "ignored.toml");
        jail.set_env("NOTIFY_STACK_STATE", "/ignored");
        let config = Config::load(Some(Path::new("notify.toml"))).expect("loads");
        assert_eq!(config.kafka.brokers, "k2:9092");
        assert_eq!(config.kafka.partitions.requests, 3);
        assert_eq!(config.kafka.partitions.deliveries, 12);
        assert_eq!(config.store.keyspace, "notify_test");
        Ok(())
    });
}

#[test]
fn provider_tables_stay_raw_and_dispatch_keys_are_checked() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "notify.toml",
            "[dispatch]\nmax_in_flight = 16\n[dispatch.retry]\nmax_attempts = 4\n\
             [dispatch.providers.twilio]\naccount_sid = \"AC1\"\nanything = 1\n",
        )?;
        let config = Config::load(Some(Path::new("notify.toml"))).expect("loads");
        assert_eq!(config.dispatch.max_in_flight, 16);
        assert_eq!(config.dispatch.retry.max_attempts, 4);
        let twilio = config.dispatch.providers["twilio"]
            .as_table()
            .expect("table");
        assert_eq!(twilio["account_sid"].as_str(), Some("AC1"));
        jail.create_file("bad.toml", "[dispatch]\nmax_inflight = 16\n")?;
        let err = Config::load(Some(Path::new("bad.toml"))).expect_err("typo rejected");
        assert!(err.to_string().contains("max_inflight"), "{err}");
        Ok(())
    });
}

#[test]
fn unknown_keys_are_rejected() {
    Jail::expect_with(|jail| {
        jail.create_file("notify.toml", "[kafka]\nbroker = \"typo:9092\"\n")?;
        let err = Config::load(Some(Path::new("notify.toml"))).expect_err("typo rejected");
        assert!(err.to_string().contains("broker"), "{err}");
        Ok(())
    });
}

#[test]
fn unknown_env_keys_are_rejected() {
    Jail::expect_with(|jail| {
        jail.set_env("NOTIFY_KAFKA__BROKER", "typo:9092");
        let err = Config::load(None).expect_err("typo rejected");
        assert!(err.to_string().contains("broker"), "{err}");
        Ok(())
    });
}

#[test]
fn missing_file_is_an_error() {
    let err = Config::load(Some(Path::new("/nonexistent/notify.toml"))).expect_err("missing");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn relations_are_validated() {
    let mut config = Config::default();
    config.kafka.partitions.status = 0;
    assert!(matches!(
        config.validate(),
        Err(ConfigError::Invalid {
            field: "kafka.partitions",
            ..
        })
    ));

    let mut config = Config::default();
    config.store.keyspace = "Notify; DROP".into();
    assert!(matches!(
        config.validate(),
        Err(ConfigError::Invalid {
            field: "store.keyspace",
            ..
        })
    ));
}

#[test]
fn cql_identifiers() {
    assert!(is_cql_identifier("notify"));
    assert!(is_cql_identifier("it_0f3a"));
    assert!(!is_cql_identifier("1abc"));
    assert!(!is_cql_identifier(""));
    assert!(!is_cql_identifier("a-b"));
    assert!(!is_cql_identifier(&"a".repeat(49)));
}

/// Asserts that the defaults changed by `change` are refused with an error naming `key`.
#[track_caller]
fn assert_refused(key: &str, change: impl FnOnce(&mut IngestConfig)) {
    let mut config = Config::default();
    change(&mut config.ingest);
    let err = config.validate().expect_err("refused");
    assert!(err.to_string().contains(key), "{key}: {err}");
}

#[test]
fn a_notification_burst_below_the_largest_batch_is_refused() {
    let key = "ingest.tenant_notification_burst";
    assert_refused(key, |i| {
        i.tenant_notifications_per_s = 100;
        i.tenant_notification_burst = 999;
    });
    let mut config = Config::default();
    config.ingest.tenant_notifications_per_s = 0;
    config.ingest.tenant_notification_burst = 999;
    config.validate().expect("no limit, no constraint");
}

#[test]
fn a_long_negative_auth_cache_is_refused() {
    assert_refused("ingest.auth_negative_cache_ttl_ms", |i| {
        i.auth_negative_cache_ttl_ms = 60_001;
    });
}

#[test]
fn a_ready_check_interval_out_of_range_is_refused() {
    for interval in [0, 99, 60_001] {
        assert_refused("ingest.ready_check_interval_ms", |i| {
            i.ready_check_interval_ms = interval;
        });
    }
}

#[test]
fn connection_limits_are_checked() {
    let store_wait = StoreConfig::default().request_timeout_ms;
    assert_refused("ingest.idle_timeout_ms", |i| i.idle_timeout_ms = store_wait);
    assert_refused("max_connections", |i| i.max_connections = 0);
    assert_refused("header_read_timeout_ms", |i| i.header_read_timeout_ms = 99);
}

#[test]
fn a_template_body_limit_outside_the_other_limits_is_refused() {
    for bytes in [1023, 8 * 1024 * 1024 + 1] {
        assert_refused("ingest.max_template_body_bytes", |i| {
            i.max_template_body_bytes = bytes;
        });
    }
}

#[test]
fn logins_and_secrets_are_checked_at_start() {
    Jail::expect_with(|jail| {
        jail.create_file("kafka-password", "s3cret\n")?;
        jail.create_file(
            "notify.toml",
            "[kafka.client_properties]\n\"security.protocol\" = \"SASL_SSL\"\n\
             [kafka.secret_properties]\n\"sasl.password\" = { file = \"kafka-password\" }\n\
             [store]\nusername = \"notify\"\npassword = { env = \"NOTIFY_TEST_STORE_PASSWORD\" }\n\
             [store.tls]\nca_file = \"ca.pem\"\n",
        )?;
        jail.set_env("NOTIFY_TEST_STORE_PASSWORD", "hunter2");
        let config = Config::load(Some(Path::new("notify.toml"))).expect("loads");
        assert_eq!(
            config.kafka.secret_properties["sasl.password"],
            SecretConfig::File("kafka-password".into())
        );
        assert_eq!(
            config.kafka.secret_properties["sasl.password"]
                .read()
                .unwrap(),
            "s3cret"
        );

        let mut missing = config.clone();
        missing.kafka.secret_properties.insert(
            "ssl.key.password".into(),
            SecretConfig::File("absent".into()),
        );
        let err = missing.validate().unwrap_err().to_string();
        assert!(
            err.contains("kafka.secret_properties: ssl.key.password"),
            "{err}"
        );
        assert!(err.contains("absent"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");

        let mut no_password = config.clone();
        no_password.store.password = None;
        let err = no_password.validate().unwrap_err().to_string();
        assert!(err.contains("store.password"), "{err}");
        let mut unset = config.clone();
        unset.store.password = Some(SecretConfig::Env("NOTIFY_TEST_SURELY_UNSET".into()));
        let err = unset.validate().unwrap_err().to_string();
        assert!(err.contains("NOTIFY_TEST_SURELY_UNSET"), "{err}");
        let mut half_cert = config.clone();
        if let Some(tls) = &mut half_cert.store.tls {
            tls.cert_file = Some("client.pem".into());
        }
        let err = half_cert.validate().unwrap_err().to_string();
        assert!(err.contains("store.tls"), "{err}");
        Ok(())
    });
}

#[test]
fn a_tenant_quota_is_read_and_checked_like_the_shared_one() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "notify.toml",
            "[ingest.tenant_quotas.tn_big]\nnotifications_per_s = 20000\nnotification_burst = 40000\n",
        )?;
        let config = Config::load(Some(Path::new("notify.toml"))).expect("loads");
        let quotas: Vec<_> = config.ingest.quota_overrides().collect();
        assert_eq!(quotas.len(), 1);
        assert_eq!(quotas[0].0, "tn_big");
        assert_eq!(quotas[0].1.notifications_per_s, 20_000);
        assert_eq!(
            quotas[0].1.rate_per_s, config.ingest.tenant_rate_per_s,
            "unset: shared"
        );
        jail.create_file(
            "small.toml",
            "[ingest.tenant_quotas.tn_small]\nnotifications_per_s = 10\nnotification_burst = 10\n",
        )?;
        let err = Config::load(Some(Path::new("small.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ingest.tenant_quotas") && err.contains("tn_small"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn links_need_a_clean_base_url_and_a_key() {
    let mut config = Config::default();
    assert!(config.validate().is_ok(), "links are off by default");
    config.links.public_base_url = Some("https://notify.example.com".into());
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("links.keys"), "{err}");
    config.links.keys = vec![SecretConfig::Env("LINK_KEY".into())];
    assert!(config.validate().is_ok());
    for bad in [
        "notify.example.com",
        "https://notify.example.com/",
        "https://x?y=1",
    ] {
        config.links.public_base_url = Some(bad.into());
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("links.public_base_url"), "{bad}: {err}");
    }
}
