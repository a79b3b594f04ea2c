//! An HTTP client of the Confluent schema registry API (subjects, versions, ids,
//! compatibility), as Confluent's registry, Apicurio's `/apis/ccompat/v7` and Karapace serve it.
//!
//! Guarantees: every call has a timeout; a call the registry could not answer (connection
//! refused or cut, timeout, 5xx, 429) is tried again `retries` times with a doubling pause and
//! then reported as [`RegistryError::Unavailable`], the one transient error; every other answer
//! is classified (absent, incompatible, invalid, refused). Errors name the URL path and the
//! registry's message, never the credentials.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::json;

use crate::registry::compatibility::Compatibility;

/// Confluent's `error_code` for an unknown subject.
const SUBJECT_NOT_FOUND: u32 = 40401;
/// Confluent's `error_code` for an unknown version.
const VERSION_NOT_FOUND: u32 = 40402;
/// Confluent's `error_code` for an unknown schema (by id, or under a subject).
const SCHEMA_NOT_FOUND: u32 = 40403;
/// Media type of the Confluent API.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Why a registry call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or answered 5xx/429, after the retries: transient.
    #[error("schema registry unavailable ({path}): {reason}")]
    Unavailable {
        /// The API path called.
        path: String,
        /// What went wrong on the last try.
        reason: String,
    },
    /// The schema breaks the subject's compatibility rule (HTTP 409).
    #[error("schema for {subject} is incompatible with its registered versions: {message}")]
    Incompatible {
        /// The subject registered under.
        subject: String,
        /// The registry's explanation.
        message: String,
    },
    /// The registry refused the schema as invalid (HTTP 422).
    #[error("schema registry refused the schema for {subject} as invalid: {message}")]
    Invalid {
        /// The subject registered under.
        subject: String,
        /// The registry's explanation.
        message: String,
    },
    /// Any other refusal (401, 403, 400, ...): a configuration problem, not a passing one.
    #[error("schema registry answered {status} to {path}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The API path called.
        path: String,
        /// The registry's message.
        message: String,
    },
    /// The answer was not the JSON the API documents.
    #[error("schema registry gave an unreadable answer to {path}: {reason}")]
    BadAnswer {
        /// The API path called.
        path: String,
        /// What could not be read.
        reason: String,
    },
    /// The configured URL cannot be used.
    #[error("schema registry url {0:?} is not a usable http(s) URL")]
    BadUrl(String),
}

impl RegistryError {
    /// True only for [`RegistryError::Unavailable`]: waiting may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

/// How to reach the registry.
#[derive(Clone)]
pub struct RegistrySettings {
    /// Base URL of the Confluent API, e.g. `http://127.0.0.1:8081/apis/ccompat/v7`.
    pub url: String,
    /// Timeout of one HTTP call.
    pub timeout: Duration,
    /// Further tries of a call the registry could not answer.
    pub retries: u32,
    /// Basic-auth user and password, if the registry asks for them.
    pub basic_auth: Option<(String, String)>,
}

impl std::fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field(
                "basic_auth_user",
                &self.basic_auth.as_ref().map(|(user, _)| user),
            )
            .finish()
    }
}

/// A client of one registry. Cheap to clone.
#[derive(Clone)]
pub struct RegistryClient {
    base: Url,
    http: reqwest::Client,
    retries: u32,
    basic_auth: Option<(String, String)>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("base", &self.base.as_str())
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct IdAnswer {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaAnswer {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
}

#[derive(Deserialize)]
struct CompatibilityAnswer {
    is_compatible: bool,
    #[serde(default)]
    messages: Vec<String>,
}

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    error_code: u32,
    #[serde(default)]
    message: String,
}

/// What one HTTP exchange gave, before classification.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl RegistryClient {
    /// A client for `settings.url`.
    pub fn new(settings: &RegistrySettings) -> Result<Self, RegistryError> {
        let trimmed = settings.url.trim_end_matches('/');
        let base = Url::parse(&format!("{trimmed}/"))
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base())
            .ok_or_else(|| RegistryError::BadUrl(settings.url.clone()))?;
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .build()
            .map_err(|_| RegistryError::BadUrl(settings.url.clone()))?;
        Ok(Self {
            base,
            http,
            retries: settings.retries,
            basic_auth: settings.basic_auth.clone(),
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    /// The schema text registered under `id`; `None` when the registry has no such id.
    pub async fn schema_by_id(&self, id: u32) -> Result<Option<String>, RegistryError> {
        let path = ["schemas", "ids", &id.to_string()];
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        match answer.status {
            StatusCode::OK => {
                let schema: SchemaAnswer = read(&path, &answer.body)?;
                match schema.schema_type.as_deref() {
                    None | Some("AVRO") => Ok(Some(schema.schema)),
                    // not an Avro schema: no Avro record can be written under it
                    Some(_) => Ok(None),
                }
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(refusal(&path, &answer)),
        }
    }

    /// The id of `schema` if it is registered under `subject`; `None` when the subject or the
    /// schema under it is unknown.
    pub async fn id_under(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<Option<u32>, RegistryError> {
        let path = ["subjects", subject];
        let body = json!({ "schema": schema });
        let answer = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        match answer.status {
            StatusCode::OK => Ok(Some(read::<IdAnswer>(&path, &answer.body)?.id)),
            StatusCode::NOT_FOUND => match error_of(&answer).error_code {
                SUBJECT_NOT_FOUND | SCHEMA_NOT_FOUND | 0 => Ok(None),
                _ => Err(refusal(&path, &answer)),
            },
            _ => Err(refusal(&path, &answer)),
        }
    }

    /// Registers `schema` under `subject` (a no-op answering the same id if it already is) and
    /// returns its id; refused with [`RegistryError::Incompatible`] when it breaks the subject's
    /// compatibility rule.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let path = ["subjects", subject, "versions"];
        let body = json!({ "schema": schema });
        let answer = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        match answer.status {
            StatusCode::OK => Ok(read::<IdAnswer>(&path, &answer.body)?.id),
            StatusCode::CONFLICT => Err(RegistryError::Incompatible {
                subject: subject.to_owned(),
                message: error_of(&answer).message,
            }),
            StatusCode::UNPROCESSABLE_ENTITY => Err(RegistryError::Invalid {
                subject: subject.to_owned(),
                message: error_of(&answer).message,
            }),
            _ => Err(refusal(&path, &answer)),
        }
    }

    /// Whether `schema` may be registered under `subject` next: `None` when the subject has no
    /// version yet (anything may), else the verdict with the registry's reasons.
    pub async fn check_compatibility(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<Option<(bool, Vec<String>)>, RegistryError> {
        let path = ["compatibility", "subjects", subject, "versions", "latest"];
        let body = json!({ "schema": schema });
        let answer = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        match answer.status {
            StatusCode::OK => {
                let verdict: CompatibilityAnswer = read(&path, &answer.body)?;
                Ok(Some((verdict.is_compatible, verdict.messages)))
            }
            StatusCode::NOT_FOUND => match error_of(&answer).error_code {
                SUBJECT_NOT_FOUND | VERSION_NOT_FOUND | 0 => Ok(None),
                _ => Err(refusal(&path, &answer)),
            },
            _ => Err(refusal(&path, &answer)),
        }
    }

    /// Sets `subject`'s compatibility rule.
    pub async fn set_compatibility(
        &self,
        subject: &str,
        level: Compatibility,
    ) -> Result<(), RegistryError> {
        let path = ["config", subject];
        let body = json!({ "compatibility": level.as_str() });
        let answer = self.call(reqwest::Method::PUT, &path, Some(&body)).await?;
        match answer.status {
            StatusCode::OK => Ok(()),
            _ => Err(refusal(&path, &answer)),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &[&str],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, RegistryError> {
        let mut url = self.base.clone();
        {
            // `new` checked the base can be one, so the segments are there
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| RegistryError::BadUrl(self.base.to_string()))?;
            segments.pop_if_empty().extend(path);
        }
        let mut pause = Duration::from_millis(100);
        let mut tries_left = self.retries;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(reqwest::header::ACCEPT, CONTENT_TYPE);
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
                    .body(body.to_string());
            }
            if let Some((user, password)) = &self.basic_auth {
                request = request.basic_auth(user, Some(password));
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    match response.bytes().await {
                        Ok(body) if !passing(status) => {
                            return Ok(Answer {
                                status,
                                body: body.to_vec(),
                            })
                        }
                        Ok(_) => format!("HTTP {status}"),
                        Err(err) => format!("answer cut: {}", plain(&err)),
                    }
                }
                Err(err) => plain(&err),
            };
            if tries_left == 0 {
                return Err(RegistryError::Unavailable {
                    path: path.join("/"),
                    reason: outcome,
                });
            }
            tries_left -= 1;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

/// 5xx and 429: the registry could not answer now.
fn passing(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// An HTTP error's text without the URL (which may carry credentials).
fn plain(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "answer cut"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {detail}")
    }
}

fn read<'a, T: Deserialize<'a>>(path: &[&str], body: &'a [u8]) -> Result<T, RegistryError> {
    serde_json::from_slice(body).map_err(|err| RegistryError::BadAnswer {
        path: path.join("/"),
        reason: err.to_string(),
    })
}

fn error_of(answer: &Answer) -> ErrorAnswer {
    serde_json::from_slice(&answer.body).unwrap_or_default()
}

fn refusal(path: &[&str], answer: &Answer) -> RegistryError {
    let error = error_of(answer);
    let message = if error.message.is_empty() {
        String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)]).into_owned()
    } else {
        error.message
    };
    RegistryError::Refused {
        status: answer.status.as_u16(),
        path: path.join("/"),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_accepted() {
        let settings = |url: &str| RegistrySettings {
            url: url.to_owned(),
            timeout: Duration::from_secs(1),
            retries: 0,
            basic_auth: None,
        };
        for bad in ["", "127.0.0.1:8081", "ftp://host/x", "mailto:a@b"] {
            assert!(
                matches!(
                    RegistryClient::new(&settings(bad)),
                    Err(RegistryError::BadUrl(_))
                ),
                "{bad}"
            );
        }
        let client =
            RegistryClient::new(&settings("http://127.0.0.1:8081/apis/ccompat/v7")).unwrap();
        assert_eq!(client.url(), "http://127.0.0.1:8081/apis/ccompat/v7/");
    }

    #[test]
    fn debug_never_shows_the_password() {
        let settings = RegistrySettings {
            url: "https://registry.example".into(),
            timeout: Duration::from_secs(1),
            retries: 0,
            basic_auth: Some(("notify".into(), "hunter2".into())),
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
        let client = RegistryClient::new(&settings).unwrap();
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}
