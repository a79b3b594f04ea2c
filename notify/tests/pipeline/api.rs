//! The HTTP API of a running pipeline as the tenant's app: requests with its credentials, and
//! batches sent again with their idempotency key until every item is accepted.
//!
//! Guarantees: [`Api::send_batch`] with a key never gets an item accepted twice (a 503 item is
//! retried under the same key).

use std::time::Duration;

use anyhow::{bail, Context};
use notify_schemas::Uuid;
use serde_json::{json, Value};

use crate::harness::Pipeline;

/// The HTTP API as the tenant's app.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    /// The app's tenant.
    pub tenant: String,
    key: String,
    secret: String,
}

impl Api {
    /// A client for `pipeline`'s gateway.
    pub fn new(pipeline: &Pipeline) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: pipeline.api.clone(),
            tenant: pipeline.app.tenant.clone(),
            key: pipeline.app.key.clone(),
            secret: pipeline.app.secret.clone(),
        }
    }

    /// A request with the app's credentials; the answer's status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.key, Some(&self.secret))
            .json(body);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.context("call the API")?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// `POST /v1/notifications` of `body` with `headers`, which must be accepted; its event id.
    pub async fn accepted(&self, body: &Value, headers: &[(&str, &str)]) -> anyhow::Result<Uuid> {
        let mut request = self
            .client
            .post(format!("{}/v1/notifications", self.base))
            .basic_auth(&self.key, Some(&self.secret))
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.context("call the API")?;
        let status = response.status().as_u16();
        let answer = response.json::<Value>().await.unwrap_or(Value::Null);
        anyhow::ensure!(status == 202, "not accepted: {status} {answer}");
        Ok(answer["event_id"].as_str().context("event_id")?.parse()?)
    }

    /// `POST path` of `body` with `idempotency_key`; the answer's status and JSON body.
    pub async fn post_keyed(
        &self,
        path: &str,
        body: &Value,
        idempotency_key: &str,
    ) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, body, Some(idempotency_key))
            .await
    }

    /// `PUT path` of `body`; fails unless answered with a success.
    pub(crate) async fn put(&self, path: &str, body: Value) -> anyhow::Result<()> {
        self.succeed(reqwest::Method::PUT, path, body).await
    }

    /// `POST path` of `body`; fails unless answered with a success.
    pub(crate) async fn post(&self, path: &str, body: Value) -> anyhow::Result<()> {
        self.succeed(reqwest::Method::POST, path, body).await
    }

    async fn succeed(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<()> {
        let (status, answer) = self.call(method.clone(), path, &body, None).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path}: {status} {answer}");
        }
        Ok(())
    }

    /// Sends `items` as one batch with `key`, again and again until every item is accepted
    /// (a 503 item is retried with the same key, so it is never accepted twice); the event id of
    /// each item.
    pub async fn send_batch(
        &self,
        items: &[Value],
        key: Option<&str>,
    ) -> anyhow::Result<Vec<Uuid>> {
        for _attempt in 0..20 {
            let body = json!({ "items": items });
            let (status, answer) = self
                .call(reqwest::Method::POST, "/v1/notifications/batch", &body, key)
                .await?;
            if status != 207 {
                bail!("batch answered {status}: {answer}");
            }
            let results = answer["results"].as_array().context("results")?;
            let ids: Vec<Option<Uuid>> = results
                .iter()
                .map(|r| {
                    (r["status"] == 202)
                        .then(|| r["event_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()))
                        .flatten()
                })
                .collect();
            if ids.iter().all(Option::is_some) {
                return Ok(ids.into_iter().flatten().collect());
            }
            let failed: Vec<&Value> = results.iter().filter(|r| r["status"] != 202).collect();
            if key.is_none() {
                bail!("items not accepted in a batch without a key: {failed:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        bail!("batch items still not accepted after 20 attempts")
    }
}
