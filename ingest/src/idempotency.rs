//! What the gateway derives from an `Idempotency-Key` request: the event id a key always maps
//! to and the hash that tells a retry from a reuse of the key. Pure; the claims themselves are
//! stored by `notify_store::idempotency`, which also describes the claim protocol.
//!
//! The event id of a request with a key is derived from (tenant, key): a retry that finds no
//! record of the first attempt (its claim expired after a crash) still produces the same event
//! id, which the later stages deduplicate.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Namespace of event ids derived from idempotency keys.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5f0e_8a8e_41c4_4d0b_9a7e_1c2f_6e63_a7d1);

/// The event id a (tenant, idempotency key) pair always maps to.
pub fn event_id_for_key(tenant: &str, key: &str) -> Uuid {
    let mut name = Vec::with_capacity(tenant.len() + key.len() + 8);
    name.extend_from_slice(&(tenant.len() as u64).to_be_bytes());
    name.extend_from_slice(tenant.as_bytes());
    name.extend_from_slice(key.as_bytes());
    Uuid::new_v5(&EVENT_ID_NAMESPACE, &name)
}

/// Hex SHA-256 of a request body, to tell a retry from a reuse of the key for another request.
pub fn request_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_from_keys_are_stable_and_tenant_scoped() {
        assert_eq!(event_id_for_key("a", "k1"), event_id_for_key("a", "k1"));
        assert_ne!(event_id_for_key("a", "k1"), event_id_for_key("b", "k1"));
        assert_ne!(event_id_for_key("a", "bk"), event_id_for_key("ab", "k"));
    }
}
