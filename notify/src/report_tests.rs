use notify_schemas::samples;

use super::*;

fn status(delivery: u128, category: &str, template: Option<&str>, stage: Stage) -> DeliveryStatus {
    DeliveryStatus {
        delivery_id: Some(Uuid::from_u128(delivery)),
        category: Some(category.into()),
        template_id: template.map(str::to_owned),
        stage,
        receipt: None,
        ..samples::status_sent()
    }
}

fn receipt(delivery: u128, category: &str, receipt: Receipt) -> DeliveryStatus {
    DeliveryStatus {
        receipt: Some(receipt),
        status: receipt.status(),
        // tracker statuses of an older gateway carry no template: the SENT one tells it
        ..status(delivery, category, None, Stage::Tracker)
    }
}

#[test]
fn rates_count_distinct_deliveries_over_sent_by_category_and_template() {
    let statuses = vec![
        status(1, "orders", Some("shipped"), Stage::Dispatcher),
        status(2, "orders", Some("shipped"), Stage::Dispatcher),
        status(3, "orders", None, Stage::Dispatcher),
        status(4, "news", Some("weekly"), Stage::Dispatcher),
        receipt(1, "orders", Receipt::Delivered),
        receipt(1, "orders", Receipt::Opened),
        receipt(1, "orders", Receipt::Opened), // a repeat counts once
        receipt(1, "orders", Receipt::Clicked),
        receipt(2, "orders", Receipt::Opened),
        receipt(4, "news", Receipt::Clicked),
        status(5, "orders", None, Stage::Router), // suppressed etc.: not sent
        DeliveryStatus {
            tenant: "someone else".into(),
            ..status(6, "orders", Some("shipped"), Stage::Dispatcher)
        },
    ];
    let report = Report::of(&statuses, Some("acme"));
    let orders = &report.categories["orders"];
    assert_eq!(
        (
            orders.sent.len(),
            orders.delivered.len(),
            orders.opened.len(),
            orders.clicked.len()
        ),
        (3, 1, 2, 1)
    );
    let shipped = &report.templates["shipped"];
    assert_eq!((shipped.sent.len(), shipped.opened.len()), (2, 2));
    assert_eq!(report.templates[NO_TEMPLATE].sent.len(), 1);
    assert_eq!(report.categories["news"].clicked.len(), 1);
    let text = report.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("orders") && l.contains("66.7 %") && l.contains("33.3 %")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("shipped") && l.contains("100.0 %") && l.contains("50.0 %")),
        "{text}"
    );
    assert_eq!(
        Report::of(&statuses, None).categories["orders"].sent.len(),
        4
    );
}
