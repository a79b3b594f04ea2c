//! Cassandra stopped for 30 s while the whole pipeline delivers, then started again: the stages
//! pause and resume, nothing is lost and nothing is sent twice (issue #6 §3).
//!
//! This binary stops the shared Cassandra of `scripts/stack`, so it holds a single test; a guard
//! starts Cassandra again even if the test fails.

#[path = "pipeline/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "pipeline/observe.rs"]
#[allow(dead_code)]
mod observe;
#[path = "pipeline/outage.rs"]
mod outage;
#[path = "pipeline/probe.rs"]
#[allow(dead_code)]
mod probe;
#[path = "pipeline/run.rs"]
#[allow(dead_code)]
mod run;
#[path = "pipeline/workload.rs"]
#[allow(dead_code)]
mod workload;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_stopped_for_30_s_during_load_loses_and_repeats_nothing() -> anyhow::Result<()> {
    outage::outage_during_load("cassandra", Duration::from_secs(30)).await
}
