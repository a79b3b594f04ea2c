//! Users, their paging, devices and preferences.

use crate::directory::{
    device_id_for, user_bucket, Channel, DeviceState, Directory, DirectoryError, Invalidation,
    PushTarget, User, MAX_DEVICES_PER_USER, MAX_PAGE_SIZE,
};

use super::{apns, preference, user, user_with_device, webpush};

/// Get, create, replace and delete one user; timestamps are kept and set by the store.
pub async fn users(dir: &dyn Directory) {
    let t = "users-a";
    assert_eq!(dir.get_user(t, "u1").await.expect("get"), None);

    let created = dir.put_user(t, &user("u1")).await.expect("put");
    assert!(created.created);
    assert!(created.record.created_at_ms > 0);
    assert_eq!(created.record.created_at_ms, created.record.updated_at_ms);
    assert_eq!(created.record.email.as_deref(), Some("u1@example.com"));
    let got = dir.get_user(t, "u1").await.expect("get").expect("stored");
    assert_eq!(got, created.record);

    // A replace clears what it does not carry and keeps the creation time.
    let replaced = dir
        .put_user(
            t,
            &User {
                opted_out: true,
                created_at_ms: 1,
                ..User::new("u1")
            },
        )
        .await
        .expect("put again");
    assert!(!replaced.created);
    assert_eq!(replaced.record.created_at_ms, created.record.created_at_ms);
    assert!(replaced.record.updated_at_ms >= created.record.updated_at_ms);
    let got = dir.get_user(t, "u1").await.expect("get").expect("stored");
    assert_eq!(got, replaced.record);
    assert!(got.opted_out);
    assert_eq!((got.email, got.phone, got.quiet_hours), (None, None, None));

    assert!(dir.delete_user(t, "u1").await.expect("delete"));
    assert_eq!(dir.get_user(t, "u1").await.expect("get"), None);
    assert!(!dir.delete_user(t, "u1").await.expect("delete again"));
}

/// Walks every page of `tenant`'s users with `limit`; checks page sizes and returns the ids.
async fn all_user_ids(dir: &dyn Directory, tenant: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let page = dir
            .list_users(tenant, cursor.as_deref(), limit)
            .await
            .expect("list users");
        assert!(page.items.len() <= limit);
        ids.extend(page.items.into_iter().map(|u| u.user_id));
        match page.next {
            Some(next) => {
                assert_eq!(ids.len() % limit, 0, "short page before the last one");
                cursor = Some(next);
            }
            None => return ids,
        }
    }
    panic!("listing of {tenant} did not end");
}

/// Paging through users: every user exactly once, in (bucket, id) order, full pages until the
/// last, no cursor after the last item, limits cut to 1..=MAX_PAGE_SIZE.
pub async fn user_paging(dir: &dyn Directory) {
    let t = "paging-a";
    let empty = dir.list_users(t, None, 10).await.expect("list empty");
    assert!(empty.items.is_empty());
    assert_eq!(empty.next, None);

    let mut expected: Vec<String> = (0..23).map(|i| format!("user-{i:02}")).collect();
    for id in &expected {
        dir.put_user(t, &user(id)).await.expect("put");
    }
    expected.sort_by_key(|id| (user_bucket(id), id.clone()));

    for limit in [1, 5, 7, 23] {
        assert_eq!(all_user_ids(dir, t, limit).await, expected, "limit {limit}");
    }
    let one = dir.list_users(t, None, 0).await.expect("limit 0");
    assert_eq!(one.items.len(), 1, "limit 0 is cut to 1");
    let all = dir
        .list_users(t, None, MAX_PAGE_SIZE * 10)
        .await
        .expect("huge limit");
    assert_eq!(all.items.len(), expected.len());
    assert_eq!(all.next, None);

    // A last page that is exactly full carries no cursor.
    let t = "paging-b";
    for i in 0..10 {
        dir.put_user(t, &user(&format!("b{i}"))).await.expect("put");
    }
    let first = dir.list_users(t, None, 5).await.expect("page 1");
    let second = dir
        .list_users(t, first.next.as_deref(), 5)
        .await
        .expect("page 2");
    assert_eq!((first.items.len(), second.items.len()), (5, 5));
    assert!(first.next.is_some());
    assert_eq!(second.next, None);

    // Deleted users drop out of the listing.
    for id in expected.iter().take(3) {
        assert!(dir.delete_user("paging-a", id).await.expect("delete"));
    }
    assert_eq!(
        all_user_ids(dir, "paging-a", 4).await,
        expected[3..].to_vec()
    );
}

/// Registering, re-registering, invalidating and deleting devices; the per-user limit.
pub async fn devices(dir: &dyn Directory) {
    let t = "devices-a";
    let err = dir
        .put_device(t, "nobody", &apns(1), None)
        .await
        .expect_err("no user");
    assert!(
        matches!(err, DirectoryError::NotFound { what: "user" }),
        "{err:?}"
    );
    dir.put_user(t, &user("u1")).await.expect("put user");
    assert!(dir.list_devices(t, "u1").await.expect("list").is_empty());

    let first = dir
        .put_device(t, "u1", &apns(1), Some("com.example.app"))
        .await
        .expect("register");
    assert!(first.created);
    assert_eq!(first.record.device_id, device_id_for(&apns(1)));
    assert_eq!(first.record.state, DeviceState::Active);
    assert_eq!(first.record.app_topic.as_deref(), Some("com.example.app"));

    // Same token again: same device, updated, creation time kept.
    let again = dir
        .put_device(t, "u1", &apns(1), Some("com.example.other"))
        .await
        .expect("register again");
    assert!(!again.created);
    assert_eq!(again.record.device_id, first.record.device_id);
    assert_eq!(again.record.created_at_ms, first.record.created_at_ms);
    assert_eq!(again.record.app_topic.as_deref(), Some("com.example.other"));

    let fcm = PushTarget::Fcm {
        token: "fcm-token:APA91b".into(),
    };
    dir.put_device(t, "u1", &fcm, None).await.expect("fcm");
    let web = dir
        .put_device(t, "u1", &webpush(), None)
        .await
        .expect("web");
    let listed = dir.list_devices(t, "u1").await.expect("list");
    let ids: Vec<&str> = listed.iter().map(|d| d.device_id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids, sorted, "devices list in id order");
    assert_eq!(
        dir.get_device(t, "u1", &web.record.device_id)
            .await
            .expect("get")
            .map(|d| d.target),
        Some(webpush())
    );

    let id = first.record.device_id.clone();
    assert_eq!(
        dir.mark_invalid(t, "u1", &id, "Unregistered", None)
            .await
            .expect("mark"),
        Invalidation::Marked
    );
    let invalid = dir
        .get_device(t, "u1", &id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        invalid.state,
        DeviceState::Invalid {
            reason: "Unregistered".into()
        }
    );
    assert_eq!(
        dir.mark_invalid(t, "u1", "0000000000000000", "Unregistered", None)
            .await
            .expect("mark unknown"),
        Invalidation::NotFound
    );
    assert!(dir
        .get_device(t, "u1", "0000000000000000")
        .await
        .expect("get")
        .is_none());
    // Registering the token again makes it active.
    let revived = dir
        .put_device(t, "u1", &apns(1), None)
        .await
        .expect("register");
    assert_eq!(revived.record.state, DeviceState::Active);

    assert!(dir.delete_device(t, "u1", &id).await.expect("delete"));
    assert!(!dir.delete_device(t, "u1", &id).await.expect("delete again"));
    assert_eq!(dir.list_devices(t, "u1").await.expect("list").len(), 2);

    // The per-user limit counts devices, not registrations.
    dir.put_user(t, &user("many")).await.expect("put user");
    for n in 0..MAX_DEVICES_PER_USER {
        dir.put_device(t, "many", &apns(n), None)
            .await
            .expect("under the limit");
    }
    let err = dir
        .put_device(t, "many", &apns(MAX_DEVICES_PER_USER), None)
        .await
        .expect_err("over the limit");
    assert!(matches!(err, DirectoryError::TooMany { .. }), "{err:?}");
    dir.put_device(t, "many", &apns(0), None)
        .await
        .expect("re-registering at the limit");
}

/// The APNs timestamp rule: a token the provider reports gone since an instant is disabled only
/// if it was not registered again after that instant; marking keeps the registration time.
pub async fn invalidation_since(dir: &dyn Directory) {
    let t = "invalidation-a";
    let device = user_with_device(dir, t, &apns(7)).await;
    let id = device.device_id.as_str();
    let registered = device.updated_at_ms;

    let invalid = DeviceState::Invalid {
        reason: "Unregistered".into(),
    };
    for (since, outcome, state, why) in [
        (
            registered - 1,
            Invalidation::RegisteredSince,
            DeviceState::Active,
            "gone since before the registration: the app registered it again, it stays active",
        ),
        (
            registered,
            Invalidation::Marked,
            invalid,
            "gone since the registration or later: disabled",
        ),
    ] {
        assert_eq!(
            dir.mark_invalid(t, "u1", id, "Unregistered", Some(since))
                .await
                .expect("mark"),
            outcome,
            "{why}"
        );
        let stored = dir
            .get_device(t, "u1", id)
            .await
            .expect("get")
            .expect("kept");
        assert_eq!(stored.state, state, "{why}");
        // Marking never changes the registration time.
        assert_eq!(stored.updated_at_ms, registered, "{why}");
    }

    // Another tenant's user with the same ids is not touched.
    assert_eq!(
        dir.mark_invalid("invalidation-b", "u1", id, "Unregistered", None)
            .await
            .expect("mark"),
        Invalidation::NotFound
    );
}

/// Preferences merge by category x channel, list in order, and are deleted together.
pub async fn preferences(dir: &dyn Directory) {
    let t = "preferences-a";
    assert!(dir.get_preferences(t, "u1").await.expect("get").is_empty());
    let err = dir
        .put_preferences(t, "u1", &[preference("news", Channel::Email, false)])
        .await
        .expect_err("no user");
    assert!(matches!(err, DirectoryError::NotFound { .. }), "{err:?}");

    dir.put_user(t, &user("u1")).await.expect("put user");
    dir.put_preferences(
        t,
        "u1",
        &[
            preference("news", Channel::Sms, true),
            preference("news", Channel::Email, false),
            preference("billing", Channel::WebPush, false),
            preference("billing", Channel::Apns, true),
        ],
    )
    .await
    .expect("put");
    dir.put_preferences(t, "u1", &[preference("news", Channel::Sms, false)])
        .await
        .expect("put one");
    dir.put_preferences(t, "u1", &[]).await.expect("put none");
    assert_eq!(
        dir.get_preferences(t, "u1").await.expect("get"),
        vec![
            preference("billing", Channel::Apns, true),
            preference("billing", Channel::WebPush, false),
            preference("news", Channel::Email, false),
            preference("news", Channel::Sms, false),
        ],
        "(category, channel name) order, merged"
    );

    let err = dir
        .put_preferences(
            t,
            "u1",
            &[
                preference("news", Channel::Sms, true),
                preference("news", Channel::Sms, false),
            ],
        )
        .await
        .expect_err("duplicate");
    assert!(matches!(err, DirectoryError::InvalidInput(_)), "{err:?}");

    dir.delete_preferences(t, "u1").await.expect("delete");
    assert!(dir.get_preferences(t, "u1").await.expect("get").is_empty());
    assert!(dir.get_user(t, "u1").await.expect("get").is_some());
}

/// Deleting a user deletes their devices and preferences; re-creating them starts empty.
pub async fn user_deletion_cascades(dir: &dyn Directory) {
    let t = "cascade-a";
    let device = user_with_device(dir, t, &webpush()).await;
    dir.put_preferences(t, "u1", &[preference("news", Channel::Email, false)])
        .await
        .expect("preferences");
    assert!(dir.delete_user(t, "u1").await.expect("delete"));
    assert!(dir.list_devices(t, "u1").await.expect("list").is_empty());
    assert_eq!(
        dir.get_device(t, "u1", &device.device_id)
            .await
            .expect("get"),
        None
    );
    assert!(dir.get_preferences(t, "u1").await.expect("get").is_empty());

    dir.put_user(t, &user("u1")).await.expect("re-create");
    assert!(dir.list_devices(t, "u1").await.expect("list").is_empty());
    assert!(dir.get_preferences(t, "u1").await.expect("get").is_empty());
}
