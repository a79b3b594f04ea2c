//! Opens and clicks: `GET /t/c/{token}` records `clicked` and redirects to the link's
//! destination; `GET /t/o/{token}` records `opened` and answers a 1x1 transparent GIF.
//!
//! Both are recorded through [`Receipts::record`], like a provider's receipt: a status of stage
//! `TRACKER` on `notify.status` and the delivery's log row. The token is the only input: its
//! signature, purpose and expiry are checked ([`Tracker`]), the destination of a click is the
//! signed one, and the delivery's recipient is looked up in the log (tokens carry ids, no
//! address).
//!
//! Guarantees: a refused token (forged, tampered, expired, another route's, unreadable) gets a
//! 404 with no redirect and records nothing, counted in
//! `notify_ingest_tracking_refused_total{route, reason}`; the first open and the first click of
//! a delivery are reported, repeats within [`DEDUP_WINDOW`] on one gateway instance are not (and
//! [`Receipts::record`] drops a repeat of the row's state). A failure to record does not keep
//! the recipient from the destination or the pixel; it is logged and counted. Not guaranteed:
//! exactly one `opened` per delivery across instances or after the window (count distinct
//! delivery ids, as `notify report` does).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use notify_common::publish::Publisher;
use notify_common::tracking::{TrackError, TrackedDelivery, Tracker};
use notify_schemas::Receipt;

use crate::receipts::{CallbackIds, ProviderReport, Receipts, RecordError, Recorded};
use crate::state::AppState;

/// How long a delivery's open or click is remembered, so a repeat is not reported again.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Tracked opens and clicks recorded, labels `channel` and `event` = opened | clicked, and
/// `outcome` = reported | repeat | unknown_delivery | failed.
pub const TRACKED_TOTAL: &str = "notify_ingest_tracked_total";
/// Tracking links refused, labels `route` = click | open and `reason` = malformed |
/// unknown_key | bad_signature | expired | claims | destination.
pub const REFUSED_TOTAL: &str = "notify_ingest_tracking_refused_total";

/// A transparent 1x1 GIF.
pub const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The tracking routes' settings: the link tracker and the repeats already seen.
#[derive(Debug)]
pub struct Tracking {
    /// Reads the tokens.
    pub tracker: Tracker,
    /// `(delivery, event)` pairs reported within [`DEDUP_WINDOW`].
    pub seen: moka::future::Cache<String, ()>,
}

impl Tracking {
    /// Tracking with `tracker` and an empty repeat cache.
    pub fn new(tracker: Tracker) -> Self {
        Self {
            tracker,
            seen: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(DEDUP_WINDOW)
                .build(),
        }
    }
}

/// `GET /t/c/{token}`: records a click and redirects (303) to the signed destination.
pub async fn click(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some((tracking, receipts)) = configured(&state) else {
        return not_found();
    };
    let now_s = receipts.clock.now_ms().div_euclid(1_000);
    let (delivery, destination) = match tracking.tracker.verify_click(&token, now_s) {
        Ok(verified) => verified,
        Err(err) => return refused("click", &err),
    };
    note(&state, tracking, receipts, &delivery, Receipt::Clicked).await;
    let location = ascii_url(&destination);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location.as_str()),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
    )
        .into_response()
}

/// `GET /t/o/{token}`: records an open and answers the pixel, not to be cached.
pub async fn open(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some((tracking, receipts)) = configured(&state) else {
        return not_found();
    };
    let now_s = receipts.clock.now_ms().div_euclid(1_000);
    let delivery = match tracking.tracker.verify_open(&token, now_s) {
        Ok(delivery) => delivery,
        Err(err) => return refused("open", &err),
    };
    note(&state, tracking, receipts, &delivery, Receipt::Opened).await;
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/gif"),
            (
                header::CACHE_CONTROL,
                "no-store, no-cache, must-revalidate, max-age=0",
            ),
            (header::PRAGMA, "no-cache"),
            (header::EXPIRES, "0"),
        ],
        PIXEL,
    )
        .into_response()
}

/// `url` with every byte outside printable ASCII percent-encoded, as a `Location` header
/// carries it (an author's `https://shop.example/ö` arrives as `/%C3%B6`).
fn ascii_url(url: &str) -> String {
    url.bytes()
        .map(|b| match b {
            0x21..=0x7e => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn configured(state: &AppState) -> Option<(&Tracking, &Receipts)> {
    Some((state.tracking.as_deref()?, state.receipts.as_deref()?))
}

/// Records `receipt` for `delivery` unless it was seen within the window; never fails the
/// request.
async fn note(
    state: &AppState,
    tracking: &Tracking,
    receipts: &Receipts,
    delivery: &TrackedDelivery,
    receipt: Receipt,
) {
    let key = format!("{}/{}", delivery.delivery_id, receipt.as_str());
    let first = tracking
        .seen
        .entry(key.clone())
        .or_insert(())
        .await
        .is_fresh();
    let outcome = if first {
        match record(state.publisher.as_ref(), receipts, delivery, receipt).await {
            Ok("unknown_delivery") => {
                // not logged yet (or no longer): a later load may still be the first one
                tracking.seen.invalidate(&key).await;
                "unknown_delivery"
            }
            Ok(outcome) => outcome,
            Err(err) => {
                tracking.seen.invalidate(&key).await;
                tracing::warn!(error = %err, event = receipt.as_str(), "tracked event not recorded");
                "failed"
            }
        }
    } else {
        "repeat"
    };
    metrics::counter!(TRACKED_TOTAL, "channel" => delivery.channel.as_str(),
        "event" => receipt.as_str(), "outcome" => outcome)
    .increment(1);
}

/// Records `receipt` for `delivery` through [`Receipts::record`]; the recipient and provider
/// come from the delivery's log row.
pub async fn record(
    publisher: &dyn Publisher,
    receipts: &Receipts,
    delivery: &TrackedDelivery,
    receipt: Receipt,
) -> Result<&'static str, RecordError> {
    let event_id = delivery.event_id.to_string();
    let delivery_id = delivery.delivery_id.to_string();
    let rows = receipts.log.entries(&delivery.tenant, &event_id).await?;
    let Some(row) = rows.into_iter().find(|row| {
        row.channel == delivery.channel.as_str()
            && row.delivery_id.as_deref() == Some(delivery_id.as_str())
    }) else {
        return Ok("unknown_delivery");
    };
    let ids = CallbackIds {
        delivery_id: delivery.delivery_id,
        tenant: delivery.tenant.clone(),
        event_id: delivery.event_id,
        user_id: Some(delivery.user_id.clone()),
        category: Some(delivery.category.clone()),
        template_id: delivery.template_id.clone(),
    };
    let report = ProviderReport {
        receipt,
        reason: None,
        suppress: None,
        provider: provider_name(row.provider.as_deref()),
        provider_message_id: row.provider_message_id,
        recipient: row.recipient,
    };
    let recorded = receipts
        .record(publisher, delivery.channel, &ids, &report)
        .await?;
    Ok(match recorded {
        Recorded::Reported => "reported",
        Recorded::Replay => "repeat",
    })
}

/// The provider that took the delivery, as a name of the fixed set the dispatchers use.
fn provider_name(logged: Option<&str>) -> &'static str {
    const KNOWN: [&str; 7] = [
        "sendgrid", "smtp", "twilio", "vonage", "apns", "fcm", "webpush",
    ];
    KNOWN
        .into_iter()
        .find(|known| Some(*known) == logged)
        .unwrap_or("tracking")
}

/// 404 for a refused token, counted by `reason`; the answer says nothing about why.
fn refused(route: &'static str, err: &TrackError) -> Response {
    metrics::counter!(REFUSED_TOTAL, "route" => route, "reason" => err.kind()).increment(1);
    not_found()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        "link not valid",
    )
        .into_response()
}

/// Tracking for the gateway, when `[links]` is on.
pub fn from_config(
    config: &notify_common::config::LinksConfig,
) -> Result<Option<Arc<Tracking>>, String> {
    Tracker::from_config(config)
        .map(|tracker| tracker.map(|t| Arc::new(Tracking::new(t))))
        .map_err(|e| e.to_string())
}
