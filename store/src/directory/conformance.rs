//! The behaviour every [`Directory`] implementation must show, written once and run against
//! [`super::MemoryDirectory`] (unit tests) and [`super::CassandraDirectory`]
//! (`store/tests/directory.rs`, against a real node), so the fake cannot drift from the real
//! thing. Each check panics on the first deviation.
//!
//! Every check works in tenants of its own (`<check>-a`, `<check>-b`), so all of them can run
//! one after another against one empty store; [`run_all`] does that.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    device_id_for, user_bucket, Category, Channel, DeviceState, Directory, DirectoryError,
    Preference, PushTarget, QuietHours, TemplateVariant, User, WebPushSubscription,
    MAX_DEVICES_PER_USER, MAX_PAGE_SIZE,
};

/// Runs every check, one after another.
pub async fn run_all(dir: &dyn Directory) {
    users(dir).await;
    user_paging(dir).await;
    devices(dir).await;
    preferences(dir).await;
    categories(dir).await;
    templates(dir).await;
    concurrent_template_versions(dir).await;
    cursors(dir).await;
    tenant_isolation(dir).await;
    user_deletion_cascades(dir).await;
}

fn user(id: &str) -> User {
    User {
        locale: Some("de-DE".into()),
        time_zone: Some("Europe/Berlin".into()),
        email: Some(format!("{id}@example.com")),
        phone: Some("+4915112345678".into()),
        quiet_hours: Some(QuietHours {
            start_minute: 22 * 60,
            end_minute: 7 * 60,
        }),
        ..User::new(id)
    }
}

fn apns(n: usize) -> PushTarget {
    PushTarget::Apns {
        token: format!("{n:064x}"),
    }
}

fn webpush() -> PushTarget {
    PushTarget::WebPush {
        subscription: WebPushSubscription {
            endpoint: "https://push.example.net/send/abc".into(),
            p256dh: "BOr0o0oTestKey".into(),
            auth: "c2VjcmV0".into(),
        },
    }
}

fn category(id: &str, critical: bool) -> Category {
    Category {
        category_id: id.into(),
        description: Some(format!("about {id}")),
        critical,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn variant(locale: &str, channel: Channel, text: &str) -> TemplateVariant {
    let mut data = BTreeMap::new();
    data.insert(
        "deep_link".to_owned(),
        "app://orders/{{order_id}}".to_owned(),
    );
    TemplateVariant {
        locale: locale.into(),
        channel,
        title: Some(format!("{text} title")),
        body: Some(format!("{text} body")),
        subject: None,
        html: None,
        text: Some(text.into()),
        data,
    }
}

fn preference(category: &str, channel: Channel, enabled: bool) -> Preference {
    Preference {
        category: category.into(),
        channel,
        enabled,
    }
}

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
    assert!(dir
        .mark_invalid(t, "u1", &id, "Unregistered")
        .await
        .expect("mark"));
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
    assert!(!dir
        .mark_invalid(t, "u1", "0000000000000000", "Unregistered")
        .await
        .expect("mark unknown"));
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

/// Category CRUD and paging in id order.
pub async fn categories(dir: &dyn Directory) {
    let t = "categories-a";
    assert_eq!(dir.get_category(t, "security").await.expect("get"), None);
    let created = dir
        .put_category(t, &category("security", true))
        .await
        .expect("put");
    assert!(created.created);
    assert!(created.record.critical);
    assert_eq!(
        dir.get_category(t, "security").await.expect("get"),
        Some(created.record.clone())
    );
    let updated = dir
        .put_category(t, &category("security", false))
        .await
        .expect("put again");
    assert!(!updated.created);
    assert!(!updated.record.critical);
    assert_eq!(updated.record.created_at_ms, created.record.created_at_ms);

    for id in ["promo", "billing", "news", "alerts", "digest", "orders"] {
        dir.put_category(t, &category(id, false))
            .await
            .expect("put");
    }
    let mut ids = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = dir
            .list_categories(t, cursor.as_deref(), 3)
            .await
            .expect("list");
        pages += 1;
        ids.extend(page.items.into_iter().map(|c| c.category_id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        ids,
        ["alerts", "billing", "digest", "news", "orders", "promo", "security"]
    );

    assert!(dir.delete_category(t, "promo").await.expect("delete"));
    assert!(!dir.delete_category(t, "promo").await.expect("delete again"));
    assert_eq!(dir.get_category(t, "promo").await.expect("get"), None);
    let page = dir.list_categories(t, None, 100).await.expect("list");
    assert_eq!(page.items.len(), 6);
}

/// Template versions: each put is a complete new version; latest and given versions; delete
/// restarts the numbering; listing ids in order.
pub async fn templates(dir: &dyn Directory) {
    let t = "templates-a";
    assert!(dir
        .get_template(t, "order", None)
        .await
        .expect("get")
        .is_empty());

    let v1 = dir
        .put_template(
            t,
            "order",
            &[
                variant("en", Channel::Sms, "shipped"),
                variant("de", Channel::Sms, "versandt"),
                variant("en", Channel::Apns, "shipped"),
            ],
        )
        .await
        .expect("put v1");
    assert!(v1
        .iter()
        .all(|v| v.version == 1 && v.template_id == "order"));
    let order: Vec<(&str, Channel)> = v1.iter().map(|v| (v.locale.as_str(), v.channel)).collect();
    assert_eq!(
        order,
        [
            ("de", Channel::Sms),
            ("en", Channel::Apns),
            ("en", Channel::Sms)
        ]
    );
    assert_eq!(dir.get_template(t, "order", None).await.expect("get"), v1);

    let v2 = dir
        .put_template(t, "order", &[variant("en", Channel::Sms, "on its way")])
        .await
        .expect("put v2");
    assert_eq!(v2.len(), 1);
    assert_eq!(v2[0].version, 2);
    assert_eq!(v2[0].text.as_deref(), Some("on its way"));
    assert_eq!(
        v2[0].data.get("deep_link").map(String::as_str),
        Some("app://orders/{{order_id}}")
    );
    assert_eq!(
        dir.get_template(t, "order", None).await.expect("latest"),
        v2
    );
    assert_eq!(dir.get_template(t, "order", Some(1)).await.expect("v1"), v1);
    assert!(dir
        .get_template(t, "order", Some(3))
        .await
        .expect("v3")
        .is_empty());
    assert!(dir
        .get_template(t, "order", Some(0))
        .await
        .expect("v0")
        .is_empty());

    for (variants, what) in [
        (vec![], "no variants"),
        (
            vec![
                variant("en", Channel::Sms, "a"),
                variant("en", Channel::Sms, "b"),
            ],
            "duplicate variant",
        ),
    ] {
        let err = dir
            .put_template(t, "order", &variants)
            .await
            .expect_err(what);
        assert!(
            matches!(err, DirectoryError::InvalidInput(_)),
            "{what}: {err:?}"
        );
    }
    assert_eq!(
        dir.get_template(t, "order", None).await.expect("latest"),
        v2,
        "refused puts change nothing"
    );

    for id in ["welcome", "reset", "digest"] {
        dir.put_template(t, id, &[variant("en", Channel::Email, id)])
            .await
            .expect("put");
    }
    let first = dir.list_templates(t, None, 2).await.expect("list");
    assert_eq!(first.items, ["digest", "order"]);
    let second = dir
        .list_templates(t, first.next.as_deref(), 2)
        .await
        .expect("list");
    assert_eq!(second.items, ["reset", "welcome"]);
    assert_eq!(second.next, None);

    assert!(dir.delete_template(t, "order").await.expect("delete"));
    assert!(!dir.delete_template(t, "order").await.expect("delete again"));
    assert!(dir
        .get_template(t, "order", None)
        .await
        .expect("get")
        .is_empty());
    assert!(dir
        .get_template(t, "order", Some(1))
        .await
        .expect("get v1")
        .is_empty());
    let again = dir
        .put_template(t, "order", &[variant("en", Channel::Sms, "new")])
        .await
        .expect("put after delete");
    assert_eq!(again[0].version, 1, "numbering restarts after a delete");
    let page = dir.list_templates(t, None, 10).await.expect("list");
    assert_eq!(page.items, ["digest", "order", "reset", "welcome"]);
}

/// Concurrent puts of one template get distinct versions 1..=n.
pub async fn concurrent_template_versions(dir: &dyn Directory) {
    let t = "concurrent-a";
    let puts = (0..8).map(|i| async move {
        dir.put_template(
            t,
            "race",
            &[variant("en", Channel::Sms, &format!("take {i}"))],
        )
        .await
        .expect("put")
    });
    let results = futures::future::join_all(puts).await;
    let versions: BTreeSet<u32> = results.iter().map(|r| r[0].version).collect();
    assert_eq!(versions, (1..=8).collect::<BTreeSet<u32>>());
    let latest = dir.get_template(t, "race", None).await.expect("latest");
    assert_eq!(latest.first().map(|v| v.version), Some(8));
}

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
    dir.put_user(a, &user("u1")).await.expect("put user");
    let device = dir
        .put_device(a, "u1", &apns(7), None)
        .await
        .expect("device")
        .record;
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
    assert!(!dir
        .mark_invalid(b, "u1", id, "Unregistered")
        .await
        .expect("mark"));
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

/// Deleting a user deletes their devices and preferences; re-creating them starts empty.
pub async fn user_deletion_cascades(dir: &dyn Directory) {
    let t = "cascade-a";
    dir.put_user(t, &user("u1")).await.expect("put user");
    let device = dir
        .put_device(t, "u1", &webpush(), None)
        .await
        .expect("device")
        .record;
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
