//! The report as markdown tables (`bench-report.md`, and what `notify loadgen` prints).

use std::fmt::Write;

use super::report::{Phase, Report};

fn mb(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.0}"))
}

impl Report {
    /// The tables: summary, search steps, latency per phase and channel, processes.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(
            md,
            "## Load run: {} cores, {} GiB, {} (Linux {})\n",
            m.cores, m.memory_gib, m.cpu, m.kernel
        );
        let _ = writeln!(
            md,
            "Mode `{:?}` (batch {}), {} users, channels {}, simulators answering after {} ms, {}.\n",
            self.mode,
            self.batch,
            self.users,
            self.channels.join(", "),
            self.sim_latency_ms,
            if self.quick { "quick" } else { "full" }
        );
        self.summary(&mut md);
        self.steps_table(&mut md);
        self.latency_table(&mut md);
        self.process_table(&mut md);
        self.lag_table(&mut md);
        md
    }

    fn summary(&self, md: &mut String) {
        let producer = self.ceiling_value("producer", "records_per_s");
        let consumer = self.ceiling_value("consumer", "records_per_s");
        let _ = writeln!(md, "| measure | value |\n|---|---|");
        if self.sustained_rate > 0.0 {
            let _ = writeln!(
                md,
                "| sustained ({} → provider simulator) | **{:.0} notifications/s** |",
                self.accept_name(),
                self.sustained_rate
            );
        } else {
            let _ = writeln!(md, "| sustained end to end | not searched (`--rate`) |");
        }
        if let Some(p) = producer {
            let _ = writeln!(
                md,
                "| Kafka's producer perf tool, same machine | {p:.0} records/s |"
            );
        }
        if let Some(c) = consumer {
            let _ = writeln!(
                md,
                "| Kafka's consumer perf tool, same machine | {c:.0} records/s |"
            );
        }
        if let Some(share) = self.share_of_kafka_producer {
            let _ = writeln!(
                md,
                "| sustained rate / Kafka producer ceiling | {:.1} % |",
                share * 100.0
            );
        }
        if let (Some(capacity), Some(share)) = (self.simulators_capacity, self.share_of_simulators)
        {
            let _ = writeln!(
                md,
                "| the simulators alone (`--mode providers`) | {capacity:.0} deliveries/s |\n\
                 | sustained rate / the simulators' capacity | {:.1} % |",
                share * 100.0
            );
        }
        let _ = writeln!(
            md,
            "| deliveries that arrived twice | {} |\n| arrivals no notification explains | {} |\n",
            self.duplicates, self.unexplained_arrivals
        );
    }

    /// What counts as accepted in this mode: the API's answer or the broker's acknowledgement.
    fn accept_name(&self) -> &'static str {
        match self.mode {
            super::Mode::Single | super::Mode::Batch => "API answer",
            super::Mode::Kafka | super::Mode::Deliveries => "broker ack",
            super::Mode::Providers => "simulator's answer",
        }
    }

    fn ceiling_value(&self, side: &str, field: &str) -> Option<f64> {
        self.ceiling.as_ref().and_then(|c| c[side][field].as_f64())
    }

    fn steps_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Search\n\n| offered /s | accepted /s | refused | skipped | pending at end | \
             drained in | p99 | held |\n|---|---|---|---|---|---|---|---|"
        );
        for step in &self.steps {
            let p = &step.phase;
            let p99 = p.latency_ms.get("all").map_or(0, |l| l.p99);
            let _ = writeln!(
                md,
                "| {:.0} | {:.0} | {} | {} | {} | {:.1} s | {} ms | {} |",
                p.target_rate,
                p.accepted_rate,
                p.failed,
                p.skipped,
                p.pending_at_end,
                p.drained_s,
                p99,
                if step.held { "yes" } else { "**no**" }
            );
        }
        md.push('\n');
    }

    fn measured(&self) -> impl Iterator<Item = &Phase> {
        self.phases.iter().filter(|p| p.label.ends_with("load"))
    }

    fn latency_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Latency, accepted → arrival at the simulator (ms)\n\n| load | channel | \
             deliveries | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|---|"
        );
        for phase in self.measured() {
            let load = format!("{} ({:.0}/s)", phase.label, phase.target_rate);
            for (channel, l) in &phase.latency_ms {
                let _ = writeln!(
                    md,
                    "| {load} | {channel} | {} | {} | {} | {} | {} | {} |",
                    l.count, l.p50, l.p90, l.p99, l.p999, l.max
                );
            }
            let a = phase.api_ms;
            let _ = writeln!(
                md,
                "| {load} | {} (due → accepted) | {} | {} | {} | {} | {} | {} |",
                self.accept_name(),
                a.count,
                a.p50,
                a.p90,
                a.p99,
                a.p999,
                a.max
            );
        }
        md.push('\n');
    }

    /// The phases the process table shows: the latency measurements, or (a run that measures
    /// none, `--mode providers`) the fastest step that held.
    fn usage_phases(&self) -> Vec<(String, &Phase)> {
        let measured: Vec<(String, &Phase)> =
            self.measured().map(|p| (p.label.clone(), p)).collect();
        if !measured.is_empty() {
            return measured;
        }
        self.steps
            .iter()
            .filter(|s| s.held)
            .max_by(|a, b| a.phase.target_rate.total_cmp(&b.phase.target_rate))
            .map(|s| (format!("{:.0}/s", s.phase.target_rate), &s.phase))
            .into_iter()
            .collect()
    }

    fn process_table(&self, md: &mut String) {
        let phases = self.usage_phases();
        let mut names: Vec<&String> = self.idle.keys().collect();
        for (_, phase) in &phases {
            names.extend(phase.processes.keys());
        }
        names.sort();
        names.dedup();
        let mut header = String::from("| process | threads | idle RSS MB |");
        let mut rule = String::from("|---|---|---|");
        for (label, _) in &phases {
            let _ = write!(
                header,
                " CPU % at {label} | peak RSS MB at {label} | switches/s at {label} |"
            );
            rule.push_str("---|---|---|");
        }
        let _ = writeln!(
            md,
            "### Processes (CPU and context switches: mean while sending; CPU in % of one \
             core)\n\n{header}\n{rule}"
        );
        for name in names {
            let idle = self.idle.get(name);
            let mut row = format!(
                "| {name} | {} | {} |",
                mb(idle.map(|u| u.threads)),
                mb(idle.map(|u| u.rss_mb))
            );
            for (_, phase) in &phases {
                let usage = phase.processes.get(name);
                let _ = write!(
                    row,
                    " {} | {} | {} |",
                    mb(usage.map(|u| u.cpu_pct)),
                    mb(usage.map(|u| u.rss_mb)),
                    mb(usage.map(|u| u.switches_per_s))
                );
            }
            let _ = writeln!(md, "{row}");
        }
    }

    fn lag_table(&self, md: &mut String) {
        let phases = self.usage_phases();
        let mut groups: Vec<&String> = phases.iter().flat_map(|(_, p)| p.lag_peak.keys()).collect();
        groups.sort();
        groups.dedup();
        if groups.is_empty() {
            return;
        }
        let mut header = String::from("| consumer group |");
        let mut rule = String::from("|---|");
        for (label, _) in &phases {
            let _ = write!(header, " at {label} |");
            rule.push_str("---|");
        }
        let _ = writeln!(
            md,
            "\n### Consumer lag (most records not yet committed, while sending and draining; the \
             whole series is in bench-report.json)\n\n{header}\n{rule}"
        );
        for group in groups {
            let mut row = format!("| {group} |");
            for (_, phase) in &phases {
                let peak = phase.lag_peak.get(group);
                let _ = write!(
                    row,
                    " {} |",
                    peak.map_or_else(|| "–".into(), i64::to_string)
                );
            }
            let _ = writeln!(md, "{row}");
        }
    }
}
