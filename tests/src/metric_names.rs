//! Metric names the monitoring files use (`deploy/monitoring`: the Grafana dashboard and the
//! Prometheus alert rules), set against the names the stages declare and export, so a renamed
//! or dropped metric cannot leave a panel or an alert silently empty.
//!
//! Guarantees: every `notify_…` word of a monitoring file counts as a metric name (the
//! pipeline's label values and job names use `-`, never `notify_`), so nothing that names a
//! metric is missed, in an expression, a legend or a description alike. A histogram's
//! `_bucket`, `_sum` and `_count` count as declared with their family.

use std::collections::BTreeSet;

/// Prefix of every metric the pipeline exports; other names (`up`, ...) are not ours.
const PREFIX: &str = "notify_";

/// Suffixes a histogram family's samples carry in the text exposition.
const HISTOGRAM_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

/// The `notify_` words of `text` (`[a-z0-9_]` after the prefix).
fn words(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && end > PREFIX.len() {
            names.insert(tail[..end].to_owned());
        }
        rest = &tail[end.max(1)..];
    }
    names
}

/// Every `notify_` metric name in a Grafana dashboard (JSON) or a Prometheus rules file
/// (YAML), as written.
pub fn referenced(text: &str) -> BTreeSet<String> {
    words(text)
}

/// The sample names of a Prometheus text exposition: each line that is not a comment, up to
/// its first `{` or space.
pub fn exported(prometheus_text: &str) -> BTreeSet<String> {
    prometheus_text
        .lines()
        .map(str::trim_start)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let end = line
                .find(|c: char| c == '{' || c.is_whitespace())
                .unwrap_or(line.len());
            (end > 0).then(|| line[..end].to_owned())
        })
        .collect()
}

/// The `referenced` names absent from `exported`, in order.
pub fn missing(referenced: &BTreeSet<String>, exported: &BTreeSet<String>) -> Vec<String> {
    referenced
        .iter()
        .filter(|name| !exported.contains(*name))
        .cloned()
        .collect()
}

/// The `notify_` strings a Rust source declares (`pub const NAME: &str = "notify_…";`).
pub fn declared(rust_source: &str) -> BTreeSet<String> {
    rust_source
        .lines()
        .filter(|line| line.trim_start().starts_with("pub const ") && line.contains("&str"))
        .flat_map(|line| words(line.split_once('=').map_or("", |(_, value)| value)))
        .collect()
}

/// The `referenced` names that are not `declared`, in order.
pub fn undeclared(referenced: &BTreeSet<String>, declared: &BTreeSet<String>) -> Vec<String> {
    referenced
        .iter()
        .filter(|name| {
            !declared.contains(*name)
                && !HISTOGRAM_SUFFIXES.iter().any(|suffix| {
                    name.strip_suffix(suffix)
                        .is_some_and(|family| declared.contains(family))
                })
        })
        .cloned()
        .collect()
}

/// The monitoring files of the repository, by name, with their text.
pub fn monitoring_files() -> Vec<(&'static str, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring");
    ["grafana-dashboard.json", "alerts.yml"]
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(root.join(name))
                .unwrap_or_else(|err| panic!("deploy/monitoring/{name}: {err}"));
            (name, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn names_are_read_wherever_they_are_and_nothing_else() {
        let text = r#"{"expr": "sum by (channel) (rate(notify_dispatch_sends_total{job=\"notify-dispatcher\"}[5m]))",
            "legendFormat": "{{channel}}", "description": "lag from notify_consumer_lag",
            "runbook": "docs/operations.md#alert-lag", "x": "mynotify_thing up"}"#;
        assert_eq!(
            referenced(text),
            set(&["notify_consumer_lag", "notify_dispatch_sends_total"])
        );
    }

    #[test]
    fn an_exposition_s_sample_names_are_read() {
        let text = "# HELP notify_x x\n# TYPE notify_x counter\nnotify_x{a=\"b\"} 1\n\
                    notify_h_bucket{le=\"0.5\"} 2\nup 1\n";
        assert_eq!(exported(text), set(&["notify_h_bucket", "notify_x", "up"]));
        assert_eq!(
            missing(&set(&["notify_x", "notify_y"]), &exported(text)),
            vec!["notify_y".to_owned()]
        );
    }

    #[test]
    fn histograms_count_as_declared_with_their_family() {
        let source = "/// doc notify_not_this\npub const A: &str = \"notify_a_seconds\";\n\
                      pub const B: u32 = 3;\npub const C: &str = \"other\";\n";
        let declared = declared(source);
        assert_eq!(declared, set(&["notify_a_seconds"]));
        let referenced = set(&[
            "notify_a_seconds_bucket",
            "notify_a_seconds_count",
            "notify_b_bucket",
        ]);
        assert_eq!(
            undeclared(&referenced, &declared),
            vec!["notify_b_bucket".to_owned()]
        );
    }

    #[test]
    fn the_dashboard_and_the_alerts_use_only_declared_metric_names() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut known = BTreeSet::new();
        for file in [
            "ingest/src/metrics.rs",
            "router/src/metrics.rs",
            "dispatchers/src/metrics.rs",
            "common/src/metrics.rs",
        ] {
            let source = std::fs::read_to_string(root.join(file)).expect(file);
            known.extend(declared(&source));
        }
        for (name, text) in monitoring_files() {
            let used = referenced(&text);
            assert!(used.len() >= 5, "{name} names almost no metric: {used:?}");
            let unknown = undeclared(&used, &known);
            assert!(
                unknown.is_empty(),
                "{name} uses undeclared metrics: {unknown:?}"
            );
        }
    }
}
