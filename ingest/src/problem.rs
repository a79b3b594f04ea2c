//! Error responses as RFC 9457 problem documents (`application/problem+json`).
//!
//! Every 4xx names what was wrong and, for validation, the JSON path of the offending field, so
//! a client can fix the request without reading our logs. 5xx responses never carry internals:
//! the cause is logged once here, the client gets a generic detail.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `/content/sms/text` or `/items/3/user_id`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error at `field` (a JSON pointer) with `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A problem document; also the error type of every handler.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:notify:problem:<kind>`).
    // Both static: every kind is one of the constructors below, and a small `Problem` keeps
    // every handler's `Result` small.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Short summary of the kind.
    pub title: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// What happened to this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Invalid fields, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before retrying (also sent as the `Retry-After` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// For 403: the scope the app key lacks (`send`, `status` or `admin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<&'static str>,
}

impl Problem {
    fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: Option<String>,
    ) -> Self {
        Self {
            kind,
            title,
            status: status.as_u16(),
            detail,
            errors: Vec::new(),
            retry_after_s: None,
            required_scope: None,
        }
    }

    /// 422: the body parsed but breaks a rule; `errors` lists every offending field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut problem = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "urn:notify:problem:validation",
            "the request is invalid",
            None,
        );
        problem.errors = errors;
        problem
    }

    /// 400: the body could not be parsed at all (malformed JSON, wrong content type).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "urn:notify:problem:bad-request",
            "the request could not be read",
            Some(detail.into()),
        )
    }

    /// 401: no or wrong credentials. The detail never says which part was wrong.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "urn:notify:problem:unauthorized",
            "authentication required",
            Some("send HTTP Basic appKey:appSecret or a bearer token".into()),
        )
    }

    /// 403: the credentials are good but the app key lacks `scope`, which the route needs.
    /// Names the scope, in the detail and in `required_scope`; a retry with the same key cannot
    /// succeed.
    pub fn forbidden(scope: &'static str) -> Self {
        let mut problem = Self::new(
            StatusCode::FORBIDDEN,
            "urn:notify:problem:forbidden",
            "missing scope",
            Some(format!(
                "this app key lacks the {scope} scope; use a key created with it \
                 (notify apps create --scopes ...)"
            )),
        );
        problem.required_scope = Some(scope);
        problem
    }

    /// 404: not found, also for another tenant's ids (no existence leak).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "urn:notify:problem:not-found",
            "not found",
            Some(format!("{what} not found")),
        )
    }

    /// 409: conflicts with the current state (e.g. an idempotency key reused with another body).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "urn:notify:problem:conflict",
            "conflict",
            Some(detail.into()),
        )
    }

    /// 413: the body is over the size cap.
    pub fn too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "urn:notify:problem:too-large",
            "request body too large",
            Some(format!("the body may be at most {limit_bytes} bytes")),
        )
    }

    /// 429: one of the tenant's quotas is exhausted; `detail` says which.
    pub fn rate_limited(retry_after_s: u64, detail: impl Into<String>) -> Self {
        let mut problem = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "urn:notify:problem:rate-limited",
            "too many requests",
            Some(detail.into()),
        );
        problem.retry_after_s = Some(retry_after_s.max(1));
        problem
    }

    /// 503: a dependency (Kafka, the database) cannot take the request now; nothing was accepted.
    pub fn unavailable(retry_after_s: u64, detail: impl Into<String>) -> Self {
        let mut problem = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "urn:notify:problem:unavailable",
            "temporarily unavailable",
            Some(detail.into()),
        );
        problem.retry_after_s = Some(retry_after_s.max(1));
        problem
    }

    /// 503 for a dependency that failed (`what` says which, for the log): the log line is paced
    /// (at most [`OUTAGE_LOG_LINES_PER_S`] a second, then one saying how many were held back),
    /// since during an outage every request fails the same way.
    pub fn outage(what: &'static str, cause: &dyn std::fmt::Display, detail: &'static str) -> Self {
        static PACER: std::sync::LazyLock<notify_common::log_pacer::LogPacer> =
            std::sync::LazyLock::new(|| {
                notify_common::log_pacer::LogPacer::new(OUTAGE_LOG_LINES_PER_S)
            });
        if let Some(held_back) = PACER.allow() {
            tracing::warn!(error = %cause, suppressed = held_back, "{what}");
        }
        Self::unavailable(1, detail)
    }

    /// 500: logs `cause` once and answers without internals.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "urn:notify:problem:internal",
            "internal error",
            None,
        )
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry_after = self.retry_after_s;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"notify\", Bearer realm=\"notify\""),
            );
        }
        response
    }
}

/// Most log lines a second about requests failing on an unavailable dependency.
pub const OUTAGE_LOG_LINES_PER_S: u32 = 5;
