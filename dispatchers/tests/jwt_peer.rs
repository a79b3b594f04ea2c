//! The APNs provider tokens and FCM assertions checked by an independent JWT implementation:
//! PyJWT (with `cryptography`), run through `scripts/peers.d/jwt_verify.py`. The simulators
//! verify tokens with the same Rust library that signs them; this catches a format both sides
//! would get wrong together (a DER signature, a missing `kid`, a claim Apple or Google does not
//! expect). Install with `scripts/peers.d/pyjwt install` and set `NOTIFY_IT_PYJWT_PYTHON` to
//! the path `scripts/peers.d/pyjwt python` prints.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use notify_dispatchers::providers::apns::{ApnsConfig, ApnsProvider};
use notify_dispatchers::providers::fcm::{FcmConfig, FcmProvider};
use notify_dispatchers::{Outcome, Provider};
use notify_schemas::{samples, Channel, DeviceToken, Recipient};
use notify_sim::apns::ApnsSimSettings;
use notify_sim::fcm::FcmSimSettings;
use notify_sim::keys::KeyPair;
use notify_sim::scratch::Scratch;
use tokio::net::TcpListener;

fn python() -> String {
    std::env::var("NOTIFY_IT_PYJWT_PYTHON").unwrap_or_else(|_| {
        panic!(
            "NOTIFY_IT_PYJWT_PYTHON is not set: run `scripts/peers.d/pyjwt install` and set it \
             to the path that `scripts/peers.d/pyjwt python` prints"
        )
    })
}

/// Runs the verifier; `Ok` when PyJWT accepts the token, else its reason.
fn verify(kind: &str, public_key: &Path, args: [&str; 2], token: &str) -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers.d/jwt_verify.py");
    let mut child = Command::new(python())
        .arg(script)
        .arg(kind)
        .arg(public_key)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the pyjwt verifier");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() && said == "ok" {
        Ok(())
    } else {
        Err(said)
    }
}

#[tokio::test]
#[ignore = "needs PyJWT: scripts/peers.d/pyjwt install, NOTIFY_IT_PYJWT_PYTHON"]
async fn apns_provider_tokens_pass_pyjwt() {
    let key = KeyPair::generate_p256().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = notify_sim::apns::serve(
        listener,
        ApnsSimSettings::new("KEY1234567", "TEAM123456", key.public_pem()),
    )
    .unwrap();
    let scratch = Scratch::new("pyjwt-apns");
    let config = ApnsConfig {
        base_url: sim.base_url(),
        ca_file: Some(scratch.write("ca.pem", sim.ca_pem())),
        ..ApnsConfig::new(
            scratch.write("AuthKey.p8", key.private_pem()),
            "KEY1234567",
            "TEAM123456",
            "com.example.app",
        )
    };
    let provider = ApnsProvider::new(config).unwrap();
    let outcome = provider.send(&samples::full_push_delivery()).await;
    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    let token = sim
        .last_provider_token()
        .expect("the simulator saw a token");

    let public = scratch.write("public.pem", key.public_pem());
    verify("apns", &public, ["KEY1234567", "TEAM123456"], &token).unwrap();
    // The verifier can say no: another team, another key.
    assert!(verify("apns", &public, ["KEY1234567", "OTHERTEAM1"], &token).is_err());
    let other = scratch.write("other.pem", KeyPair::generate_p256().unwrap().public_pem());
    assert!(verify("apns", &other, ["KEY1234567", "TEAM123456"], &token).is_err());
}

#[tokio::test]
#[ignore = "needs PyJWT: scripts/peers.d/pyjwt install, NOTIFY_IT_PYJWT_PYTHON"]
async fn fcm_assertions_pass_pyjwt() {
    let key = KeyPair::generate_rsa().unwrap();
    let email = "sender@demo-project.iam.gserviceaccount.com";
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = notify_sim::fcm::serve(
        listener,
        FcmSimSettings::new(email, key.public_pem(), "demo-project"),
    )
    .unwrap();
    let scratch = Scratch::new("pyjwt-fcm");
    let account = scratch.write(
        "service-account.json",
        &sim.service_account_json(key.private_pem()),
    );
    let config = FcmConfig {
        base_url: sim.base_url().to_owned(),
        ..FcmConfig::new(account)
    };
    let provider = FcmProvider::new(config).unwrap();
    let mut delivery = samples::full_push_delivery();
    delivery.channel = Channel::Fcm;
    delivery.recipient = Recipient::DeviceToken(DeviceToken {
        token: "fcm-registration-token".into(),
        device_id: None,
    });
    let outcome = provider.send(&delivery).await;
    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    let assertion = sim
        .last_assertion()
        .expect("the simulator saw an assertion");

    let public = scratch.write("public.pem", key.public_pem());
    verify("fcm", &public, [email, sim.token_uri()], &assertion).unwrap();
    // The verifier can say no: another audience.
    let google = "https://oauth2.googleapis.com/token";
    assert!(verify("fcm", &public, [email, google], &assertion).is_err());
}
