//! The problem responses each route documents, one set per kind of route, so that routes with
//! the same failure modes describe them with the same words.
//!
//! A set is a list of `(status, description)`; every entry is documented as a [`Problem`] in
//! `application/problem+json`. Routes name a set in `responses(...)` as `Problems<Set>` next to
//! their own success responses. What a handler actually answers is decided by the handler; these
//! sets only describe it.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

use crate::problem::Problem;

/// One documented problem response: status and description.
pub type Entry = (u16, &'static str);

/// A named set of problem responses.
pub trait ProblemSet {
    /// Every problem response of the set.
    const ENTRIES: &'static [Entry];
}

/// The OpenAPI responses of a [`ProblemSet`].
pub struct Problems<S>(PhantomData<S>);

impl<S: ProblemSet> IntoResponses for Problems<S> {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        S::ENTRIES
            .iter()
            .map(|&(status, description)| {
                let content = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(Problem::name())))
                    .build();
                let response = ResponseBuilder::new()
                    .description(description)
                    .content("application/problem+json", content)
                    .build();
                (status.to_string(), RefOr::T(response))
            })
            .collect()
    }
}

const MALFORMED: Entry = (400, "malformed JSON");
const UNAUTHORIZED: Entry = (401, "no or wrong credentials");
const FORBIDDEN: Entry = (403, "the app key lacks the scope this route needs");
const NO_SUCH_USER: Entry = (404, "no such user");
const TOO_LARGE: Entry = (413, "body over the size cap");
const INVALID_FIELDS: Entry = (422, "invalid fields");
const INVALID_ID: Entry = (422, "invalid id");
const RATE_LIMITED: Entry = (429, "a tenant quota (requests or notifications per second)");
const DIRECTORY_DOWN: Entry = (503, "directory unavailable, retry");

/// Defines each named set as an uninhabited type with its entries.
macro_rules! problem_sets {
    ($($(#[$doc:meta])* $name:ident = [$($entry:expr),+ $(,)?];)+) => {$(
        $(#[$doc])*
        pub enum $name {}

        impl ProblemSet for $name {
            const ENTRIES: &'static [Entry] = &[$($entry),+];
        }
    )+};
}

problem_sets! {
    /// Registering a webhook endpoint.
    RegisterWebhook = [
        MALFORMED,
        UNAUTHORIZED,
        FORBIDDEN,
        (409, "the tenant has the most endpoints allowed"),
        (422, "invalid fields, or a url the SSRF guard refuses"),
        (503, "no secrets key configured, or the database is unavailable"),
    ];
    /// Reading, rotating or deleting one webhook endpoint.
    WebhookLookup = [
        UNAUTHORIZED,
        FORBIDDEN,
        (404, "no such endpoint"),
        INVALID_ID,
        (503, "no secrets key configured, or the database is unavailable"),
    ];
    /// `POST /v1/notifications`.
    CreateNotification = [
        MALFORMED,
        UNAUTHORIZED,
        FORBIDDEN,
        (409, "idempotency key in use or reused"),
        TOO_LARGE,
        INVALID_FIELDS,
        RATE_LIMITED,
        (503, "not accepted, retry"),
    ];
    /// `POST /v1/notifications/batch`: item failures are in the 207 body.
    CreateBatch = [
        MALFORMED,
        UNAUTHORIZED,
        FORBIDDEN,
        TOO_LARGE,
        (422, "not a batch, or too many items"),
        RATE_LIMITED,
    ];
    /// `GET /v1/notifications/{event_id}`.
    NotificationLookup = [
        UNAUTHORIZED,
        FORBIDDEN,
        (404, "unknown, another tenant's, or not yet routed"),
    ];
    /// A listing page of the directory.
    Listing = [UNAUTHORIZED, FORBIDDEN, (422, "invalid cursor or limit"), DIRECTORY_DOWN];
    /// A read or delete under `/v1/users/{user_id}` that needs the user.
    UserLookup = [UNAUTHORIZED, FORBIDDEN, NO_SUCH_USER, (422, "invalid user id"), DIRECTORY_DOWN];
    /// A `PUT` that creates or replaces one object.
    Upsert = [MALFORMED, UNAUTHORIZED, FORBIDDEN, INVALID_FIELDS, DIRECTORY_DOWN];
    /// A read or delete of one device.
    DeviceLookup = [
        UNAUTHORIZED,
        FORBIDDEN,
        (404, "no such user or device"),
        INVALID_ID,
        DIRECTORY_DOWN,
    ];
    /// Registering a device.
    RegisterDevice = [
        MALFORMED,
        UNAUTHORIZED,
        FORBIDDEN,
        NO_SUCH_USER,
        (409, "the user has the most devices allowed"),
        INVALID_FIELDS,
        DIRECTORY_DOWN,
    ];
    /// Setting preferences.
    PutPreferences = [
        MALFORMED,
        UNAUTHORIZED,
        FORBIDDEN,
        NO_SUCH_USER,
        (409, "the user has the most preferences allowed"),
        INVALID_FIELDS,
        DIRECTORY_DOWN,
    ];
    /// A read or delete of one address on the suppression list.
    SuppressionLookup = [
        UNAUTHORIZED,
        FORBIDDEN,
        (404, "the address is not on the tenant's suppression list"),
        (409, "the number texted STOP: only the user can lift it, by texting START"),
        (422, "the channel is not sms or email, or the address is empty"),
        (503, "database unavailable, retry"),
    ];
    /// A read or delete of one category.
    CategoryLookup = [
        UNAUTHORIZED,
        FORBIDDEN,
        (404, "no such category"),
        INVALID_ID,
        DIRECTORY_DOWN,
    ];
    /// Reading a template version, possibly narrowed to some variants.
    TemplateRead = [
        UNAUTHORIZED,
        FORBIDDEN,
        (404, "no such template, version or variant"),
        (422, "invalid id or parameters"),
        DIRECTORY_DOWN,
    ];
    /// Writing a new template version.
    TemplateWrite = [
        MALFORMED,
        UNAUTHORIZED,
        FORBIDDEN,
        (409, "too many concurrent writers, retry"),
        INVALID_FIELDS,
        DIRECTORY_DOWN,
    ];
    /// Deleting a template.
    TemplateDelete = [
        UNAUTHORIZED,
        FORBIDDEN,
        (404, "no such template"),
        INVALID_ID,
        DIRECTORY_DOWN,
    ];
}
