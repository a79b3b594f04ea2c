//! Cursors and tenant isolation.

use crate::directory::{Channel, DeviceState, Directory, DirectoryError, Invalidation, User};

use super::{apns, category, preference, user, user_with_device, variant};

/// Cursors that a listing did not produce are refused with [`DirectoryError::InvalidCursor`].
pub async fn cursors(dir: &dyn Directory) {
    let t = "cursors-a";
    for id in ["a", "b", "c"] {
        dir.put_user(t, &user(id)).await.expect("put user");
        dir.put_category(t, &category(id, false))
            .await
            .expect("put category");
    }
    let users = dir.list_users(t, None, 1).await.expect("list");
    let categories = dir.list_categories(t, None, 1).await.expect("list");
    let user_cursor = users.next.expect("more users");
    let category_cursor = categories.next.expect("more categories");

    for bad in ["%%%", "", "AAAA", "not-a-cursor"] {
        let err = dir.list_users(t, Some(bad), 1).await.expect_err(bad);
        assert!(
            matches!(err, DirectoryError::InvalidCursor),
            "{bad}: {err:?}"
        );
        let err = dir.list_categories(t, Some(bad), 1).await.expect_err(bad);
        assert!(
            matches!(err, DirectoryError::InvalidCursor),
            "{bad}: {err:?}"
        );
        let err = dir.list_templates(t, Some(bad), 1).await.expect_err(bad);
        assert!(
            matches!(err, DirectoryError::InvalidCursor),
            "{bad}: {err:?}"
        );
    }
    let err = dir
        .list_users(t, Some(&category_cursor), 1)
        .await
        .expect_err("category cursor for users");
    assert!(matches!(err, DirectoryError::InvalidCursor), "{err:?}");
    let err = dir
        .list_templates(t, Some(&user_cursor), 1)
        .await
        .expect_err("user cursor for templates");
    assert!(matches!(err, DirectoryError::InvalidCursor), "{err:?}");
    dir.list_users(t, Some(&user_cursor), 1)
        .await
        .expect("own cursor");
}

/// Tenant B sees, changes and deletes nothing of tenant A's, even under the same ids.
pub async fn tenant_isolation(dir: &dyn Directory) {
    let (a, b) = ("isolation-a", "isolation-b");
    let device = user_with_device(dir, a, &apns(7)).await;
    dir.put_preferences(a, "u1", &[preference("news", Channel::Sms, false)])
        .await
        .expect("preferences");
    dir.put_category(a, &category("news", false))
        .await
        .expect("category");
    let template = dir
        .put_template(a, "welcome", &[variant("en", Channel::Sms, "hi")])
        .await
        .expect("template");
    let id = device.device_id.as_str();

    // Reads.
    assert_eq!(dir.get_user(b, "u1").await.expect("get"), None);
    assert!(dir
        .list_users(b, None, 100)
        .await
        .expect("list")
        .items
        .is_empty());
    assert_eq!(dir.get_device(b, "u1", id).await.expect("get"), None);
    assert!(dir.list_devices(b, "u1").await.expect("list").is_empty());
    assert!(dir.get_preferences(b, "u1").await.expect("get").is_empty());
    assert_eq!(dir.get_category(b, "news").await.expect("get"), None);
    assert!(dir
        .list_categories(b, None, 100)
        .await
        .expect("list")
        .items
        .is_empty());
    assert!(dir
        .get_template(b, "welcome", None)
        .await
        .expect("get")
        .is_empty());
    assert!(dir
        .list_templates(b, None, 100)
        .await
        .expect("list")
        .items
        .is_empty());
    // A's cursor used by B pages through B's (empty) data, not A's.
    dir.put_user(a, &user("u2")).await.expect("put user");
    let a_page = dir.list_users(a, None, 1).await.expect("list");
    let b_page = dir
        .list_users(b, a_page.next.as_deref(), 100)
        .await
        .expect("list with A's cursor");
    assert!(b_page.items.is_empty());

    // Writes and deletes.
    assert!(!dir.delete_device(b, "u1", id).await.expect("delete device"));
    assert_eq!(
        dir.mark_invalid(b, "u1", id, "Unregistered", None)
            .await
            .expect("mark"),
        Invalidation::NotFound
    );
    assert!(matches!(
        dir.put_device(b, "u1", &apns(8), None).await,
        Err(DirectoryError::NotFound { .. })
    ));
    assert!(matches!(
        dir.put_preferences(b, "u1", &[preference("news", Channel::Sms, true)])
            .await,
        Err(DirectoryError::NotFound { .. })
    ));
    dir.delete_preferences(b, "u1").await.expect("delete prefs");
    assert!(!dir.delete_category(b, "news").await.expect("delete"));
    assert!(!dir.delete_template(b, "welcome").await.expect("delete"));
    assert!(!dir.delete_user(b, "u1").await.expect("delete"));

    // B's own object with the same id is a different object.
    let b_user = dir
        .put_user(
            b,
            &User {
                email: Some("other@example.org".into()),
                ..User::new("u1")
            },
        )
        .await
        .expect("put b");
    assert!(b_user.created, "A's user must not count as B's");
    let b_template = dir
        .put_template(b, "welcome", &[variant("en", Channel::Sms, "yo")])
        .await
        .expect("put b template");
    assert_eq!(b_template[0].version, 1);
    assert!(dir.delete_user(b, "u1").await.expect("delete b"));

    // A is untouched.
    let a_user = dir.get_user(a, "u1").await.expect("get").expect("A's user");
    assert_eq!(a_user.email.as_deref(), Some("u1@example.com"));
    let a_device = dir
        .get_device(a, "u1", id)
        .await
        .expect("get")
        .expect("A's device");
    assert_eq!(a_device.state, DeviceState::Active);
    assert_eq!(dir.get_preferences(a, "u1").await.expect("get").len(), 1);
    assert!(dir.get_category(a, "news").await.expect("get").is_some());
    assert_eq!(
        dir.get_template(a, "welcome", None).await.expect("get"),
        template
    );
}
