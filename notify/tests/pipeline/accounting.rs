//! The stages' own counters, scraped from every `/metrics` after a run, against what the run
//! observed: what an operator reads on the dashboard must add up to what really happened.
//!
//! Checked, per channel: every delivery the router produced ended in exactly one terminal
//! outcome at its dispatcher (sent, failed, invalid recipient, dead-lettered, expired) or is
//! still pending there; the dispatchers' `sent` equals the simulators' ledger entries; every
//! `sent` has its end-to-end latency observed. Per reason: the router's suppressions equal the
//! `suppressed` statuses. Overall: the gateway's accepted requests plus the schedule's
//! re-emissions equal the requests the router routed.

use std::collections::BTreeMap;

use anyhow::{ensure, Context};

use crate::harness::Pipeline;
use crate::observe::Figures;

/// One sample: metric name, labels, value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of every stage process with an admin endpoint, with the process's name.
pub async fn scrape(pipeline: &Pipeline) -> anyhow::Result<Vec<(String, Vec<Sample>)>> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for proc in &pipeline.procs {
        let Some(admin) = proc.admin else { continue };
        let text = client
            .get(format!("http://{admin}/metrics"))
            .send()
            .await
            .with_context(|| format!("scrape {}", proc.name))?
            .text()
            .await?;
        out.push((proc.name.clone(), parse(&text)?));
    }
    Ok(out)
}

/// The samples of a Prometheus text exposition.
pub fn parse(text: &str) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').context("sample without a value")?;
        let value: f64 = value
            .parse()
            .with_context(|| format!("value of {line:?}"))?;
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').context("unclosed labels")?),
            None => (series, ""),
        };
        let mut parsed = BTreeMap::new();
        // label values here never hold `",` (fixed sets, topic names, numbers)
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once("=\"").context("label without a value")?;
            parsed.insert(key.to_owned(), value.trim_end_matches('"').to_owned());
        }
        samples.push(Sample {
            name: name.to_owned(),
            labels: parsed,
            value,
        });
    }
    Ok(samples)
}

/// The sum of the samples named `name` (over every process) whose labels include `with`.
pub fn sum(all: &[(String, Vec<Sample>)], name: &str, with: &[(&str, &str)]) -> f64 {
    all.iter()
        .flat_map(|(_, samples)| samples)
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// Whether any channel of the run has a secondary provider (and so a circuit breaker).
fn has_failover(pipeline: &Pipeline) -> bool {
    std::fs::read_to_string(&pipeline.config).is_ok_and(|c| c.contains("secondary"))
}

/// Which channel a simulator's ledger counts for.
fn channel_of_sim(sim: &str) -> Option<&'static str> {
    Some(match sim {
        "apns" => "apns",
        "fcm" => "fcm",
        "webpush" => "webpush",
        "twilio" | "vonage" => "sms",
        "sendgrid" | "mailgun" | "smtp" => "email",
        _ => return None,
    })
}

/// Ledger entries per channel.
async fn ledger_by_channel(pipeline: &Pipeline) -> anyhow::Result<BTreeMap<&'static str, f64>> {
    let mut out = BTreeMap::new();
    for name in pipeline.sims.keys() {
        let entries = pipeline.ledger_len(name).await?;
        let channel =
            channel_of_sim(name).with_context(|| format!("which channel is simulator {name}?"))?;
        #[allow(clippy::cast_precision_loss)]
        {
            *out.entry(channel).or_insert(0.0) += entries as f64;
        }
    }
    Ok(out)
}

/// Fails naming each sum that does not add up; returns the table it checked, for the log.
pub async fn check(pipeline: &Pipeline, figures: &Figures) -> anyhow::Result<String> {
    let all = scrape(pipeline).await?;
    let ledger = ledger_by_channel(pipeline).await?;
    let mut wrong = Vec::new();
    let mut table = String::from("channel  routed  terminal  pending  sent  ledger  e2e_count\n");
    for channel in notify_common::topics::CHANNELS {
        let ch = [("channel", channel)];
        let routed = sum(&all, "notify_router_deliveries_total", &ch);
        let terminal: f64 = [
            "sent",
            "failed",
            "invalid_recipient",
            "dead_lettered",
            "expired",
        ]
        .iter()
        .map(|outcome| {
            sum(
                &all,
                "notify_dispatch_deliveries_total",
                &[("channel", channel), ("outcome", outcome)],
            )
        })
        .sum();
        let pending = sum(&all, "notify_dispatch_pending_records", &ch);
        let sent = sum(
            &all,
            "notify_dispatch_deliveries_total",
            &[("channel", channel), ("outcome", "sent")],
        );
        let in_ledger = ledger.get(channel).copied().unwrap_or(0.0);
        let e2e = sum(&all, "notify_end_to_end_seconds_count", &ch);
        table.push_str(&format!(
            "{channel:<8} {routed:>6} {terminal:>9} {pending:>8} {sent:>5} {in_ledger:>7} {e2e:>10}\n"
        ));
        if routed != terminal + pending {
            wrong.push(format!(
                "{channel}: routed {routed} != terminal {terminal} + pending {pending}"
            ));
        }
        if sent != in_ledger {
            wrong.push(format!("{channel}: sent {sent} != ledger {in_ledger}"));
        }
        if e2e != sent {
            wrong.push(format!(
                "{channel}: end-to-end observed {e2e} times, sent {sent}"
            ));
        }
        for lane in ["main", "bulk"] {
            let present = all.iter().flat_map(|(_, s)| s).any(|s| {
                s.name == "notify_dispatch_pending_records"
                    && s.labels.get("channel").map(String::as_str) == Some(channel)
                    && s.labels.get("lane").map(String::as_str) == Some(lane)
            });
            if !present {
                wrong.push(format!(
                    "{channel}: no pending_records gauge of the {lane} lane"
                ));
            }
        }
    }
    for (reason, seen) in &figures.suppressed {
        let counted = sum(
            &all,
            "notify_router_suppressed_total",
            &[("reason", reason)],
        );
        #[allow(clippy::cast_precision_loss)]
        if counted != *seen as f64 {
            wrong.push(format!(
                "suppressed {reason}: counted {counted}, statuses {seen}"
            ));
        }
    }
    let accepted = sum(&all, "notify_ingest_accepted_total", &[]);
    let reemitted = sum(&all, "notify_router_scheduled_reemitted_total", &[]);
    let routed_requests = sum(&all, "notify_router_requests_total", &[]);
    table.push_str(&format!(
        "accepted {accepted} + re-emitted {reemitted} = routed requests {routed_requests}\n"
    ));
    if accepted + reemitted != routed_requests {
        wrong.push(format!(
            "accepted {accepted} + re-emitted {reemitted} != requests routed {routed_requests}"
        ));
    }
    // every metric the dashboard and the alerts read is one the stages export
    let exported: std::collections::BTreeSet<String> = all
        .iter()
        .flat_map(|(_, samples)| samples.iter().map(|s| s.name.clone()))
        .collect();
    for (file, text) in notify_it::metric_names::monitoring_files() {
        let absent = notify_it::metric_names::missing(
            &notify_it::metric_names::referenced(&text),
            &exported,
        );
        // a breaker exists only where a channel has a secondary provider configured
        let absent: Vec<_> = absent
            .into_iter()
            .filter(|name| name != "notify_dispatch_breaker_state" || has_failover(pipeline))
            .collect();
        if !absent.is_empty() {
            wrong.push(format!(
                "deploy/monitoring/{file} reads what no stage exports: {absent:?}"
            ));
        }
    }
    let lag_series = all
        .iter()
        .flat_map(|(_, s)| s)
        .filter(|s| s.name == "notify_consumer_lag")
        .count();
    if lag_series == 0 {
        wrong.push("no notify_consumer_lag series".to_owned());
    }
    ensure!(
        wrong.is_empty(),
        "the stages' counters do not add up:\n  {}\n{table}",
        wrong.join("\n  ")
    );
    Ok(table)
}
