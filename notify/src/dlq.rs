//! `notify dlq inspect|replay`: the operator's view of `notify.dlq`. The logic lives in
//! `notify_dispatchers::dead_letter_tools`; this module parses filters and prints.

use anyhow::Context;
use notify_common::topics::Topics;
use notify_common::Config;
use notify_dispatchers::dead_letter_tools::{self as dlq, Filter};
use notify_schemas::{Codec, Delivery};

use crate::cli::{DlqAction, DlqFilterArgs};
use crate::out::outln;

fn instant_ms(flag: &str, text: &Option<String>) -> anyhow::Result<Option<i64>> {
    text.as_deref()
        .map(|t| {
            t.parse::<jiff::Timestamp>()
                .map(|ts| ts.as_millisecond())
                .with_context(|| format!("--{flag} {t:?} is not an RFC 3339 instant"))
        })
        .transpose()
}

fn filter(args: &DlqFilterArgs) -> anyhow::Result<Filter> {
    Ok(Filter {
        error: args.reason.clone(),
        channel: args.channel.clone(),
        stage: args.stage.clone(),
        since_ms: instant_ms("since", &args.since)?,
        until_ms: instant_ms("until", &args.until)?,
    })
}

/// Runs one DLQ command.
pub async fn run(config: &Config, action: DlqAction) -> anyhow::Result<()> {
    let topics = Topics::new(&config.kafka.topic_prefix);
    let deliveries = Codec::<Delivery>::new()?;
    match action {
        DlqAction::Inspect {
            filter: args,
            limit,
        } => {
            let letters = dlq::read(&config.kafka, &topics, &filter(&args)?).await?;
            for letter in letters.iter().take(limit) {
                outln!("{}", letter.summary(&deliveries))?;
            }
            eprintln!(
                "{} dead letter(s) matched{}",
                letters.len(),
                if letters.len() > limit {
                    format!(", {limit} shown (--limit)")
                } else {
                    String::new()
                }
            );
        }
        DlqAction::Replay {
            filter: args,
            dry_run,
        } => {
            let letters = dlq::read(&config.kafka, &topics, &filter(&args)?).await?;
            if dry_run {
                for letter in &letters {
                    let target = dlq::replay_target(letter, &topics, &deliveries)
                        .map_or_else(|| "cannot be replayed".to_owned(), |(t, _)| t);
                    outln!("{} -> {target}", letter.summary(&deliveries))?;
                }
                eprintln!(
                    "{} dead letter(s) would be replayed (dry run)",
                    letters.len()
                );
                return Ok(());
            }
            let done = dlq::replay(&config.kafka, &topics, &letters).await?;
            outln!("replayed: {}", done.produced)?;
            outln!("skipped: {}", done.skipped)?;
            eprintln!(
                "replayed records keep their delivery ids: anything delivered meanwhile is not sent again; \
                 the dead letters stay on the topic (filter by --since next time)"
            );
        }
    }
    Ok(())
}
