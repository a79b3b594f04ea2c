//! Tests of the SSRF guard's address classifier, port rule and host allowlist, and of a
//! subscription refused by the provider before any request.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use notify_schemas::records::{Recipient, WebPushSubscription};

use super::config::WebPushConfig;
use super::crypto;
use super::endpoint::{check_url, forbidden_range, EndpointError, EndpointPolicy};
use super::service::WebPushProvider;
use super::tests::{strict, testing};
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::test_support::Scratch;

fn assert_allowed(policy: &EndpointPolicy, endpoints: &[&str]) {
    for endpoint in endpoints {
        let checked = check_url(endpoint, policy);
        assert!(checked.is_ok(), "{endpoint}: {checked:?}");
    }
}

fn allowlist(hosts: &[&str]) -> EndpointPolicy {
    EndpointPolicy {
        allowed_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        ..EndpointPolicy::default()
    }
}

/// Every address and the range it must be refused as (`None`: a public address, allowed).
const ADDRESSES: &[(&str, Option<&str>)] = &[
    // NAT64 (RFC 6052 well-known prefix, RFC 8215 local-use prefix), whatever IPv4 it carries
    ("64:ff9b::a00:1", Some("nat64")),
    ("64:ff9b::7f00:1", Some("nat64")),
    ("64:ff9b::808:808", Some("nat64")),
    ("64:ff9b:1::a9fe:a9fe", Some("nat64")),
    // 6to4 (RFC 3056) and Teredo (RFC 4380) tunnel to an IPv4 address we cannot vet
    ("2002:a00:1::1", Some("6to4")),
    ("2002:7f00:1::", Some("6to4")),
    ("2002:808:808::1", Some("6to4")),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Some("teredo")),
    ("2001::1", Some("teredo")),
    // IPv4-mapped, -compatible and -translated (SIIT) forms judged as the IPv4 they carry
    ("::ffff:10.0.0.1", Some("private")),
    ("::ffff:192.168.1.1", Some("private")),
    ("::ffff:127.0.0.1", Some("loopback")),
    ("::ffff:169.254.169.254", Some("link-local")),
    ("::ffff:100.64.0.1", Some("shared")),
    ("::10.0.0.1", Some("private")),
    ("::127.0.0.2", Some("loopback")),
    ("::169.254.169.254", Some("link-local")),
    ("::ffff:0:10.0.0.1", Some("private")),
    ("::ffff:0:127.0.0.1", Some("loopback")),
    ("::ffff:0:169.254.169.254", Some("link-local")),
    // other special IPv6 ranges
    ("100::1", Some("discard")),
    ("2001:2::1", Some("benchmarking")),
    ("2001:db8::1", Some("documentation")),
    ("::", Some("unspecified")),
    ("::1", Some("loopback")),
    ("fe80::1", Some("link-local")),
    ("fd00::1", Some("unique-local")),
    // IPv4
    ("10.1.2.3", Some("private")),
    ("127.0.0.1", Some("loopback")),
    ("169.254.169.254", Some("link-local")),
    ("100.64.0.1", Some("shared")),
    ("0.0.0.0", Some("unspecified")),
    // public: allowed
    ("8.8.8.8", None),
    ("142.250.1.1", None),
    ("::ffff:8.8.8.8", None),
    ("2001:4860:4860::8888", None),
    ("2606:4700::1111", None),
    ("2a00:1450:4001::200e", None),
    ("2001:67c:2e8::1", None),
];

#[test]
fn the_classifier_names_the_range_of_every_address() {
    for (address, range) in ADDRESSES {
        let ip: IpAddr = address.parse().expect(address);
        assert_eq!(forbidden_range(ip), *range, "{address}");
    }
}

#[test]
fn forbidden_ipv6_literals_are_refused_in_urls() {
    for (address, range) in ADDRESSES {
        let ip: IpAddr = address.parse().expect(address);
        let host = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let checked = check_url(&format!("https://{host}/push/abc"), &strict());
        match range {
            Some(range) => assert_eq!(checked, Err(EndpointError::Forbidden(range)), "{address}"),
            None => assert!(checked.is_ok(), "{address}: {checked:?}"),
        }
    }
}

#[test]
fn only_port_443_is_allowed_by_default() {
    for (endpoint, port) in [
        ("https://push.example.com:8443/x", 8443),
        ("https://push.example.com:22/x", 22),
        ("https://push.example.com:80/x", 80),
        ("https://[2606:4700::1111]:8080/x", 8080),
    ] {
        assert_eq!(
            check_url(endpoint, &strict()),
            Err(EndpointError::Port(port)),
            "{endpoint}"
        );
    }
    assert_allowed(
        &strict(),
        &[
            "https://push.example.com/x",
            "https://push.example.com:443/x",
        ],
    );
    let wider = EndpointPolicy {
        allowed_ports: vec![443, 8443],
        ..EndpointPolicy::default()
    };
    assert!(check_url("https://push.example.com:8443/x", &wider).is_ok());
    assert_eq!(
        check_url("https://push.example.com:9443/x", &wider),
        Err(EndpointError::Port(9443))
    );
}

#[test]
fn an_allowlist_admits_only_its_hosts() {
    let policy = allowlist(&["fcm.googleapis.com", "*.push.services.mozilla.com"]);
    assert_allowed(
        &policy,
        &[
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://FCM.googleapis.com./fcm/send/abc",
            "https://updates.push.services.mozilla.com/wpush/v2/abc",
            "https://a.b.push.services.mozilla.com/x",
        ],
    );
    for endpoint in [
        "https://push.services.mozilla.com/x",
        "https://evilpush.services.mozilla.com/x",
        "https://fcm.googleapis.com.evil.example/x",
        "https://xfcm.googleapis.com/x",
        "https://push.example.com/x",
        "https://[2606:4700::1111]/x",
    ] {
        assert_eq!(
            check_url(endpoint, &policy),
            Err(EndpointError::HostNotAllowed),
            "{endpoint}"
        );
    }
    // no allowlist: any public host
    assert!(check_url("https://push.example.com/x", &strict()).is_ok());
}

/// The switch the simulator tests rely on still lets loopback through on any port and past an
/// allowlist, and nothing else.
#[test]
fn the_test_switch_admits_loopback_on_any_port_only() {
    let mut policy = testing();
    policy.allowed_hosts = vec!["fcm.googleapis.com".into()];
    assert_allowed(
        &policy,
        &[
            "http://127.0.0.1:47103/push/x",
            "https://localhost:47103/push/x",
            "http://[::1]:8090/push/x",
            "http://[::ffff:127.0.0.1]:8090/push/x",
        ],
    );
    assert_eq!(
        check_url("https://push.example.com:8443/x", &policy),
        Err(EndpointError::Port(8443))
    );
    assert_eq!(
        check_url("https://push.example.com/x", &policy),
        Err(EndpointError::HostNotAllowed)
    );
    for address in ["64:ff9b::7f00:1", "2002:7f00:1::", "2001::7f00:1"] {
        assert!(
            matches!(
                check_url(&format!("https://[{address}]/x"), &policy),
                Err(EndpointError::Forbidden(_))
            ),
            "{address}"
        );
    }
}

#[test]
fn config_validates_ports_and_hosts() {
    let parsed: WebPushConfig = serde_json::from_value(serde_json::json!({
        "vapid_key_file": "vapid.pem",
        "subject": "mailto:ops@example.com",
        "allowed_ports": [443, 8443],
        "allowed_hosts": ["FCM.googleapis.com", "*.notify.windows.com"]
    }))
    .unwrap();
    parsed.validate().unwrap();
    let policy = parsed.endpoint_policy();
    assert_eq!(policy.allowed_ports, [443, 8443]);
    assert_eq!(
        policy.allowed_hosts,
        ["fcm.googleapis.com", "*.notify.windows.com"]
    );
    assert_eq!(
        WebPushConfig::new("k", "mailto:a@b.c").endpoint_policy(),
        EndpointPolicy::default()
    );
    for ports in [vec![], vec![0], vec![443, 0]] {
        let mut config = WebPushConfig::new("k", "mailto:a@b.c");
        config.allowed_ports = ports;
        let err = config.validate().unwrap_err();
        assert!(err.to_string().contains("allowed_ports"), "{err}");
    }
    for host in [
        "",
        "push",
        "https://push.example.com",
        "push.example.com:443",
        "push.example.com/x",
        "*.com.",
        "*push.example.com",
        "push..example.com",
        "10.0.0.1:443",
    ] {
        let mut config = WebPushConfig::new("k", "mailto:a@b.c");
        config.allowed_hosts = vec![host.into()];
        let err = config.validate().unwrap_err();
        assert!(err.to_string().contains("allowed_hosts"), "{host}: {err}");
    }
}

/// A subscription whose endpoint the guard refuses ends as a failed delivery, with no request.
#[tokio::test]
async fn a_subscription_to_a_refused_endpoint_fails_without_a_request() {
    let scratch = Scratch::new("webpush-guard");
    let key = URL_SAFE_NO_PAD.encode(crypto::generate_secret().to_bytes());
    let key_file = scratch.write("vapid.key", &key);
    let mut config = WebPushConfig::new(&key_file, "mailto:ops@example.com");
    config.allowed_hosts = vec!["*.push.services.mozilla.com".into()];
    let provider = WebPushProvider::new(config).unwrap();
    let ua = crypto::generate_secret();
    let p256dh = URL_SAFE_NO_PAD.encode(crypto::encoded_public(&ua.public_key()));
    for (endpoint, why) in [
        ("https://[64:ff9b::a9fe:a9fe]/push/x", "nat64"),
        ("https://[2002:a9fe:a9fe::1]/push/x", "6to4"),
        ("https://[2001:0:a9fe:a9fe::1]/push/x", "teredo"),
        ("https://[::ffff:0:a9fe:a9fe]/push/x", "link-local"),
        ("https://[::ffff:10.0.0.1]/push/x", "private"),
        (
            "https://updates.push.services.mozilla.com:8443/push/x",
            "port 8443",
        ),
        ("https://push.example.com/push/x", "not on the allowlist"),
    ] {
        let mut delivery = notify_schemas::samples::full_webpush_delivery();
        delivery.expires_at = None;
        delivery.recipient = Recipient::WebPush(WebPushSubscription {
            endpoint: endpoint.into(),
            p256dh: p256dh.clone(),
            auth: URL_SAFE_NO_PAD.encode([7u8; 16]),
            device_id: None,
        });
        let outcome = provider.send(&delivery).await;
        let Outcome::Failed { reason, .. } = &outcome else {
            panic!("{endpoint}: {outcome:?}");
        };
        assert_eq!(*reason, Reason::Unsupported, "{endpoint}");
        assert!(
            format!("{outcome:?}").contains(why),
            "{endpoint}: {outcome:?}"
        );
    }
}
