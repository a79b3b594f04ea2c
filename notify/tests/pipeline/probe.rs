//! What a test does to and reads from a running pipeline besides the HTTP API: the
//! simulators' control API (faults, ledgers), raw records produced straight to a topic, and the
//! stages' Prometheus metrics.

use std::time::{Duration, Instant};

use anyhow::Context;

use notify_common::publish::{KafkaPublisher, Publisher, Record};

use crate::harness::Pipeline;

impl Pipeline {
    /// An HTTP client that trusts the simulators' test CA (the APNs simulator serves TLS only).
    pub fn sim_client(&self) -> anyhow::Result<reqwest::Client> {
        let pem = std::fs::read(self.dir.join("sim/sim-ca.pem"))?;
        Ok(reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
            .build()?)
    }

    /// Setting `key` of provider `name` in the run's configuration, a string.
    pub fn provider_setting(&self, name: &str, key: &str) -> anyhow::Result<String> {
        let config = self.loaded_config()?;
        let value = config.dispatch.providers[name][key].as_str();
        Ok(value.with_context(|| format!("{name}.{key}"))?.to_owned())
    }

    /// Secret `key` of provider `name`, read from the file the run's configuration names.
    pub fn provider_secret(&self, name: &str, key: &str) -> anyhow::Result<String> {
        let config = self.loaded_config()?;
        let file = config.dispatch.providers[name][key]["file"].as_str();
        let file = file.with_context(|| format!("{name}.{key}.file"))?;
        Ok(std::fs::read_to_string(file)?.trim().to_owned())
    }

    /// Every entry of simulator `name`'s ledger, oldest first.
    pub async fn ledger(&self, name: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let url = self.sims.get(name).context("no such simulator")?;
        Ok(self
            .sim_client()?
            .get(format!("{url}/_sim/ledger"))
            .send()
            .await?
            .json()
            .await?)
    }

    /// Replaces the fault settings of simulator `name` (`PUT /_sim/faults`).
    pub async fn set_faults(&self, name: &str, faults: serde_json::Value) -> anyhow::Result<()> {
        let url = self.sims.get(name).context("no such simulator")?;
        let response = self
            .sim_client()?
            .put(format!("{url}/_sim/faults"))
            .json(&faults)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "PUT faults: {}",
            response.status()
        );
        Ok(())
    }

    /// How many messages simulator `name` has accepted so far.
    pub async fn ledger_len(&self, name: &str) -> anyhow::Result<usize> {
        Ok(self.ledger(name).await?.len())
    }

    /// Waits until simulator `name` has accepted at least `count` messages, for at most `limit`.
    pub async fn wait_for_ledger(
        &self,
        name: &str,
        count: usize,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while self.ledger_len(name).await? < count {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{name} accepted fewer than {count} messages within {limit:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Produces `records` (key, payload) to `topic` (a name under the run's prefix, e.g.
    /// `requests`), as a misbehaving producer or a replay would; waits for every
    /// acknowledgement.
    pub async fn produce_raw(
        &self,
        topic: &str,
        records: &[(String, Vec<u8>)],
    ) -> anyhow::Result<()> {
        let producer = notify_common::kafka::producer(&self.kafka(), "e2e")?;
        let topic = format!("{}.{topic}", self.prefix);
        let records: Vec<Record> = records
            .iter()
            .map(|(key, payload)| Record::new(topic.as_str(), key.as_str(), payload.clone()))
            .collect();
        KafkaPublisher::new(producer, Duration::from_secs(30))
            .publish(&records)
            .await
            .with_context(|| format!("produce to {topic}"))?;
        Ok(())
    }

    /// Each running stage's `/healthz`: its name, the status code and the body.
    pub async fn liveness(&self) -> Vec<(String, u16, String)> {
        let client = reqwest::Client::new();
        let mut answers = Vec::new();
        for proc in &self.procs {
            let Some(admin) = proc.admin else { continue };
            let answer = match client.get(format!("http://{admin}/healthz")).send().await {
                Ok(response) => (
                    response.status().as_u16(),
                    response.text().await.unwrap_or_default(),
                ),
                Err(err) => (0, err.to_string()),
            };
            answers.push((proc.name.clone(), answer.0, answer.1));
        }
        answers
    }

    /// The sum over every running process of the samples of metric `name` whose labels contain
    /// `label` (e.g. `outcome="duplicate"`).
    pub async fn metric_sum(&self, name: &str, label: &str) -> usize {
        let client = reqwest::Client::new();
        let mut sum = 0.0;
        for proc in &self.procs {
            let Some(admin) = proc.admin else { continue };
            let Ok(response) = client.get(format!("http://{admin}/metrics")).send().await else {
                continue;
            };
            let text = response.text().await.unwrap_or_default();
            for line in text.lines() {
                if line.starts_with(name) && line.contains(label) {
                    if let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok())
                    {
                        sum += value;
                    }
                }
            }
        }
        sum as usize
    }
}
