//! Paging cursors and the bucketing of a tenant's user ids.
//!
//! A cursor is the last key of the page it ends, so paging does not depend on the driver's
//! paging state and both implementations produce the same cursors. It is base64url (no padding)
//! over `[format, listing, bucket (u16 BE), key bytes]`: the listing byte keeps a cursor of one
//! listing from being used on another, and a user cursor's bucket must be the bucket of its key.
//! Cursors are not secret and not signed; a forged one only moves where a page of the caller's
//! own tenant starts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::model::Page;
use super::DirectoryError;

/// Buckets a tenant's user ids are spread over in `users_by_tenant`. Fixed forever: changing it
/// would move every user to another partition.
pub const USER_BUCKETS: u16 = 64;

/// The `users_by_tenant` bucket of `user_id`: the first two bytes of its SHA-256, modulo
/// [`USER_BUCKETS`]. Users list in (bucket, user id) order.
pub fn user_bucket(user_id: &str) -> u16 {
    let digest = Sha256::digest(user_id.as_bytes());
    u16::from_be_bytes([digest[0], digest[1]]) % USER_BUCKETS
}

const FORMAT: u8 = 1;
/// Longest cursor text accepted; keys are short ids, so real cursors are far below it.
const MAX_CURSOR_CHARS: usize = 1024;

/// Which listing a cursor belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Listing {
    Users = 1,
    Categories = 2,
    Templates = 3,
}

/// Where the next page of a listing starts: after `key` in `bucket` (always 0 for listings
/// that are not bucketed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    pub bucket: u16,
    pub key: String,
}

impl Position {
    /// The position after the user `user_id`.
    pub fn after_user(user_id: &str) -> Self {
        Self {
            bucket: user_bucket(user_id),
            key: user_id.to_owned(),
        }
    }

    /// The position after `key` of a listing that is not bucketed.
    pub fn after(key: &str) -> Self {
        Self {
            bucket: 0,
            key: key.to_owned(),
        }
    }
}

/// The cursor text of `position` in `listing`.
pub(crate) fn encode(listing: Listing, position: &Position) -> String {
    let mut bytes = Vec::with_capacity(4 + position.key.len());
    bytes.push(FORMAT);
    bytes.push(listing as u8);
    bytes.extend_from_slice(&position.bucket.to_be_bytes());
    bytes.extend_from_slice(position.key.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The page of `limit` items from `items`, fetched `limit + 1` at a time: an extra item only
/// says that more follow, so the page has a cursor (after its last item) exactly when one does.
/// Both implementations build their pages here, so their cursors are the same.
pub(crate) fn page<T>(
    mut items: Vec<T>,
    limit: usize,
    listing: Listing,
    position: impl Fn(&T) -> Position,
) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    let next = if more {
        items.last().map(|last| encode(listing, &position(last)))
    } else {
        None
    };
    Page { items, next }
}

/// The position of a cursor given to `listing`; `None` for the first page.
pub(crate) fn decode(
    listing: Listing,
    cursor: Option<&str>,
) -> Result<Option<Position>, DirectoryError> {
    let Some(text) = cursor else {
        return Ok(None);
    };
    if text.len() > MAX_CURSOR_CHARS {
        return Err(DirectoryError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| DirectoryError::InvalidCursor)?;
    let [format, kind, hi, lo, key @ ..] = bytes.as_slice() else {
        return Err(DirectoryError::InvalidCursor);
    };
    if *format != FORMAT || *kind != listing as u8 || key.is_empty() {
        return Err(DirectoryError::InvalidCursor);
    }
    let key = std::str::from_utf8(key).map_err(|_| DirectoryError::InvalidCursor)?;
    let bucket = u16::from_be_bytes([*hi, *lo]);
    let expected = match listing {
        Listing::Users => user_bucket(key),
        Listing::Categories | Listing::Templates => 0,
    };
    if bucket != expected {
        return Err(DirectoryError::InvalidCursor);
    }
    Ok(Some(Position {
        bucket,
        key: key.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let user = Position::after_user("user-17");
        let text = encode(Listing::Users, &user);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode(Listing::Users, Some(&text)).ok(), Some(Some(user)));
        let category = Position::after("billing");
        let text = encode(Listing::Categories, &category);
        assert_eq!(
            decode(Listing::Categories, Some(&text)).ok(),
            Some(Some(category))
        );
        assert_eq!(decode(Listing::Templates, None).ok(), Some(None));
    }

    #[test]
    fn foreign_and_forged_cursors_are_refused() {
        let users = encode(Listing::Users, &Position::after_user("u1"));
        let bad = [
            "".to_owned(),
            "not base64 !".to_owned(),
            "AQE".to_owned(),
            URL_SAFE_NO_PAD.encode([2u8, 1, 0, 0, b'a']),
            URL_SAFE_NO_PAD.encode([1u8, 1, 0xff, 0xff, b'a']),
            URL_SAFE_NO_PAD.encode([1u8, 2, 0, 0, 0xff, 0xfe]),
            "A".repeat(MAX_CURSOR_CHARS + 1),
        ];
        for text in &bad {
            assert!(
                matches!(
                    decode(Listing::Users, Some(text)),
                    Err(DirectoryError::InvalidCursor)
                ),
                "accepted {text:?}"
            );
        }
        assert!(matches!(
            decode(Listing::Categories, Some(&users)),
            Err(DirectoryError::InvalidCursor)
        ));
        // A user cursor whose bucket was edited no longer matches its key.
        let mut bytes = URL_SAFE_NO_PAD.decode(&users).expect("decodes");
        bytes[3] = u8::try_from((user_bucket("u1") + 1) % USER_BUCKETS).expect("small");
        assert!(matches!(
            decode(Listing::Users, Some(&URL_SAFE_NO_PAD.encode(bytes))),
            Err(DirectoryError::InvalidCursor)
        ));
    }

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(user_bucket("alice"), user_bucket("alice"));
        let mut used = std::collections::BTreeSet::new();
        for i in 0..2000 {
            let bucket = user_bucket(&format!("user-{i}"));
            assert!(bucket < USER_BUCKETS);
            used.insert(bucket);
        }
        assert_eq!(used.len(), usize::from(USER_BUCKETS));
    }
}
