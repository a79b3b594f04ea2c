//! A batch body is parsed straight into typed items, not through a generic JSON tree first: the
//! memory a batch costs while it is parsed stays near what its items need. Measured with dhat's
//! heap statistics around `parse_batch` (this test binary's only test).

use notify_ingest::validate::parse_batch;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

#[test]
fn a_batch_costs_about_its_items_while_it_is_parsed() {
    let item = serde_json::json!({
        "user_id": "user-0001",
        "category": "orders",
        "channels": ["sms", "email"],
        "content": {
            "sms": {"text": "Your order 1234 has shipped and will arrive tomorrow."},
            "email": {"subject": "Shipped", "text": "Your order 1234 has shipped."}
        }
    });
    let items: Vec<_> = (0..1_000).map(|_| item.clone()).collect();
    let body = serde_json::to_vec(&serde_json::json!({ "items": items })).expect("body");

    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get().curr_bytes;
    let parsed = parse_batch(&body, 1_000).expect("batch");
    let stats = dhat::HeapStats::get();
    let peak = stats.max_bytes - before;
    let kept = stats.curr_bytes - before;
    assert!(parsed.iter().all(Result::is_ok), "{:?}", parsed.first());
    drop(parsed);
    println!(
        "body {} B, typed items {kept} B, peak while parsing {peak} B ({:.2}x the items)",
        body.len(),
        peak as f64 / kept as f64
    );
    // a tree of the whole body alongside the typed items would be more than half again
    assert!(
        peak < kept * 3 / 2,
        "parsing held {peak} B at its peak for {kept} B of typed items"
    );
}
