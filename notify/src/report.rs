//! `notify report`: engagement per category and per template, from `notify.status` alone.
//!
//! Reads the topic from its start through the configured codec (Confluent-framed statuses via
//! the schema registry when one is configured) and counts distinct deliveries: sent (the
//! dispatcher's `SENT`), delivered, opened and clicked (receipts of stage `TRACKER`). A
//! delivery's template is the `template_id` any of its statuses carries. Rates are over sent
//! deliveries, so channels without delivery receipts (SMTP) compare with those that have them.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use notify_common::schema_registry;
use notify_common::topics::Topics;
use notify_common::Config;
use notify_schemas::{DeliveryStatus, Receipt, Stage, Status, Uuid};

use crate::out::outln;

/// The distinct deliveries of one group that reached each step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Accepted by the provider.
    pub sent: BTreeSet<Uuid>,
    /// Reported delivered by the provider.
    pub delivered: BTreeSet<Uuid>,
    /// Opened (the pixel was loaded).
    pub opened: BTreeSet<Uuid>,
    /// Clicked (a tracked link was followed).
    pub clicked: BTreeSet<Uuid>,
}

impl Counts {
    /// `part` of the sent deliveries, in percent; `None` before any was sent.
    fn rate(&self, part: &BTreeSet<Uuid>) -> Option<f64> {
        let sent = self.sent.len();
        (sent > 0).then(|| 100.0 * part.intersection(&self.sent).count() as f64 / sent as f64)
    }
}

/// Counts by category and by template (`(none)` for inline content).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// By category.
    pub categories: BTreeMap<String, Counts>,
    /// By template.
    pub templates: BTreeMap<String, Counts>,
}

/// The label of deliveries rendered from inline content.
pub const NO_TEMPLATE: &str = "(none)";

impl Report {
    /// The report of `statuses` (of `tenant` only, when given), in any order, repeats allowed.
    pub fn of(statuses: &[DeliveryStatus], tenant: Option<&str>) -> Self {
        let mine = || {
            statuses
                .iter()
                .filter(move |s| tenant.is_none_or(|t| s.tenant == t))
                .filter_map(|s| Some((s.delivery_id?, s)))
        };
        let mut template = BTreeMap::new();
        for (delivery, status) in mine() {
            if let Some(id) = &status.template_id {
                template.insert(delivery, id.clone());
            }
        }
        let mut report = Self::default();
        for (delivery, status) in mine() {
            let Some(step) = step(status) else { continue };
            let category = status.category.clone().unwrap_or_default();
            let template = template
                .get(&delivery)
                .cloned()
                .unwrap_or_else(|| NO_TEMPLATE.to_owned());
            for counts in [
                report.categories.entry(category).or_default(),
                report.templates.entry(template).or_default(),
            ] {
                let set = match step {
                    Step::Sent => &mut counts.sent,
                    Step::Delivered => &mut counts.delivered,
                    Step::Opened => &mut counts.opened,
                    Step::Clicked => &mut counts.clicked,
                };
                set.insert(delivery);
            }
        }
        report
    }

    /// The report as text: one table per grouping.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (title, groups) in [
            ("category", &self.categories),
            ("template", &self.templates),
        ] {
            out.push_str(&format!(
                "{title:<24} {:>8} {:>10} {:>8} {:>8} {:>10} {:>10}\n",
                "sent", "delivered", "opened", "clicked", "open rate", "click rate"
            ));
            for (name, counts) in groups {
                let rate = |part| {
                    counts
                        .rate(part)
                        .map_or_else(|| "-".to_owned(), |r| format!("{r:.1} %"))
                };
                out.push_str(&format!(
                    "{name:<24} {:>8} {:>10} {:>8} {:>8} {:>10} {:>10}\n",
                    counts.sent.len(),
                    counts.delivered.len(),
                    counts.opened.len(),
                    counts.clicked.len(),
                    rate(&counts.opened),
                    rate(&counts.clicked),
                ));
            }
            out.push('\n');
        }
        out
    }
}

enum Step {
    Sent,
    Delivered,
    Opened,
    Clicked,
}

fn step(status: &DeliveryStatus) -> Option<Step> {
    match (status.stage, status.receipt, status.status) {
        (Stage::Dispatcher, None, Status::Sent) => Some(Step::Sent),
        (Stage::Tracker, Some(Receipt::Delivered), _) => Some(Step::Delivered),
        (Stage::Tracker, Some(Receipt::Opened), _) | (Stage::Tracker, None, Status::Opened) => {
            Some(Step::Opened)
        }
        (Stage::Tracker, Some(Receipt::Clicked), _) | (Stage::Tracker, None, Status::Clicked) => {
            Some(Step::Clicked)
        }
        _ => None,
    }
}

/// Reads `notify.status` from its start and prints the report.
pub async fn run(config: &Config, tenant: Option<&str>) -> anyhow::Result<()> {
    let topics = Topics::new(&config.kafka.topic_prefix);
    let schemas = schema_registry::stage_schemas(&config.schema_registry, &topics, &[])
        .await
        .context("schema registry")?;
    let codec = schemas.codec::<DeliveryStatus>()?;
    let records = notify_dispatchers::dead_letter_tools::read_topic(&config.kafka, topics.status())
        .await
        .context("cannot read the status topic")?;
    let mut statuses = Vec::with_capacity(records.len());
    let mut unreadable = 0usize;
    for record in &records {
        // an unreadable record is counted, not fatal: the report covers what it can read
        let _ = schemas.prefetch(&record.value).await;
        match codec.decode(&record.value) {
            Ok(status) => statuses.push(status),
            Err(_) => unreadable += 1,
        }
    }
    outln!("{}", Report::of(&statuses, tenant).render().trim_end())?;
    eprintln!(
        "{} status(es) read from {}{}; rates are distinct deliveries over sent",
        statuses.len(),
        topics.status(),
        if unreadable > 0 {
            format!(", {unreadable} unreadable")
        } else {
            String::new()
        }
    );
    Ok(())
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
