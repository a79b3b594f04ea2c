//! Categories and templates.

use std::collections::BTreeSet;

use crate::directory::{Channel, Directory, DirectoryError};

use super::{category, variant};

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
    assert_no_versions(dir, t, "order", &[Some(3), Some(0)], "never written").await;

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
    assert_no_versions(dir, t, "order", &[None, Some(1)], "after the delete").await;
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

/// Panics unless every one of `versions` of the template reads empty; `when` says why it should.
async fn assert_no_versions(
    dir: &dyn Directory,
    tenant: &str,
    template_id: &str,
    versions: &[Option<u32>],
    when: &str,
) {
    for version in versions {
        assert!(
            dir.get_template(tenant, template_id, *version)
                .await
                .expect("get")
                .is_empty(),
            "version {version:?} of {template_id} {when}"
        );
    }
}
