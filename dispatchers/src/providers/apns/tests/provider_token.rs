//! APNs provider tokens in use: renewed once when APNs calls them expired, refused renewals
//! rate limited, a key APNs does not know, a replaced key file, a missing key file, and one
//! token shared by concurrent pushes.

use super::*;

#[tokio::test]
async fn an_expired_provider_token_is_renewed_once_and_the_push_goes_through() {
    let s = setup().await;
    // A token APNs considers expired: issued two hours ago (as after a clock jump).
    let key = crate::providers::apns::token::parse_key(s.key.private_pem().as_bytes()).unwrap();
    let two_hours_ago = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 7200;
    s.provider
        .tokens
        .install(&mint(&key, KEY_ID, TEAM_ID, two_hours_ago).unwrap());
    let outcome = s.provider.send(&delivery()).await;
    assert_sent(&outcome);
    assert_eq!(s.provider.tokens.minted(), 1);
    assert_eq!(s.sim.requests(), 2);
    assert_eq!(s.sim.ledger().len(), 1);
}

#[tokio::test]
async fn a_token_refused_after_renewal_is_a_provider_auth_retry_and_renewal_is_rate_limited() {
    let s = setup().await;
    set_rules(&s.sim, vec![rule(status(403, None), Some(3))]);
    let outcome = s.provider.send(&delivery()).await;
    let detail = assert_outcome(&outcome, Kind::Retry, Reason::ProviderAuth);
    assert!(detail.contains("ExpiredProviderToken"), "{detail}");
    assert_eq!(s.provider.tokens.minted(), 2);
    assert_eq!(s.sim.requests(), 2);
    // Within the renewal interval a further refusal does not mint yet another token.
    let outcome = s.provider.send(&delivery()).await;
    assert_outcome(&outcome, Kind::Retry, Reason::ProviderAuth);
    assert_eq!(s.provider.tokens.minted(), 2);
    assert_eq!(s.sim.requests(), 3);
}

#[tokio::test]
async fn a_key_apns_does_not_know_is_a_provider_auth_retry() {
    let other = KeyPair::generate_p256().unwrap();
    let s = setup_with(5_000, Some(&other)).await;
    let outcome = s.provider.send(&delivery()).await;
    let detail = assert_outcome(&outcome, Kind::Retry, Reason::ProviderAuth);
    assert!(detail.contains("InvalidProviderToken"), "{detail}");
    assert!(s.sim.ledger().is_empty());
}

#[tokio::test]
async fn a_replaced_key_file_is_used_without_a_restart() {
    let s = setup().await;
    assert_sent(&s.provider.send(&delivery()).await);
    let rotated = KeyPair::generate_p256().unwrap();
    s.sim.set_key(KEY_ID, rotated.public_pem()).unwrap();
    // A different length as well as a new mtime, so the change is seen on any file system.
    std::fs::write(&s.key_file, format!("{}\n", rotated.private_pem())).unwrap();
    let outcome = s.provider.send(&delivery()).await;
    assert_sent(&outcome);
    // The new key was used at once, not after a refusal.
    assert_eq!(s.sim.requests(), 2);
    assert_eq!(s.provider.tokens.minted(), 2);
    drop(s.scratch);
}

#[test]
fn a_missing_or_wrong_key_file_fails_at_construction() {
    let scratch = Scratch::new("apns");
    let missing = ApnsConfig::new(scratch.path().join("none.p8"), KEY_ID, TEAM_ID, TOPIC);
    assert!(matches!(
        ApnsProvider::new(missing),
        Err(crate::providers::apns::ApnsError::Credential(_))
    ));
    let rsa_like = scratch.write(
        "bad.p8",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let wrong = ApnsConfig::new(rsa_like, KEY_ID, TEAM_ID, TOPIC);
    let err = ApnsProvider::new(wrong).unwrap_err();
    assert!(!err.to_string().contains("AAAA"), "{err}");
}

#[tokio::test]
async fn many_concurrent_pushes_share_one_token_and_none_is_lost_or_doubled() {
    let s = setup().await;
    let deliveries = distinct_push_deliveries(200);
    let outcomes = futures::future::join_all(deliveries.iter().map(|d| s.provider.send(d))).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Sent { .. })));
    assert_eq!(s.provider.tokens.minted(), 1);
    assert_each_recorded_once(
        s.sim.ledger().entries().into_iter().map(|e| e.delivery_id),
        &deliveries,
    );
}
