//! A started pipeline with its users and observer, and the checks every test ends with.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::ensure;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::api::Api;
use crate::harness::{Pipeline, Settings};
use crate::observe::{self, Figures, Observer};
use crate::workload::{self, Sent, Shape, User};

/// How many pipelines may run at once (`NOTIFY_E2E_PARALLEL`, default 2). A test spends most
/// of its time waiting (for quiet hours to end, a retry to fall due, a server to come back), not
/// computing: the mixed workload used about a quarter of the two cores over its 66 s.
const TURNS: u32 = 2;

fn turns() -> &'static Semaphore {
    static TURNS_NOW: OnceLock<Semaphore> = OnceLock::new();
    TURNS_NOW.get_or_init(|| Semaphore::new(parallel() as usize))
}

fn parallel() -> u32 {
    std::env::var("NOTIFY_E2E_PARALLEL")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(TURNS)
}

/// Held by a test for its whole run: one of the pipelines that may run at once.
pub async fn turn() -> SemaphorePermit<'static> {
    turns().acquire().await.expect("the turns are never closed")
}

/// Held for its whole run by a test that stops a server of the shared stack: no other pipeline
/// runs meanwhile (the semaphore is fair, so tests that ask later wait behind it).
pub async fn whole_stack() -> SemaphorePermit<'static> {
    turns()
        .acquire_many(parallel())
        .await
        .expect("the turns are never closed")
}

/// A started pipeline with its seeded users and the test's observer.
#[derive(Debug)]
pub struct Run {
    /// The processes.
    pub pipeline: Pipeline,
    /// The HTTP API.
    pub api: Api,
    /// Status and DLQ records.
    pub observer: Observer,
    /// Seeded users.
    pub users: Vec<User>,
    /// Workload shape.
    pub shape: Shape,
}

impl Run {
    /// Starts the simulators and the gateway, seeds users, starts the observer, then the router
    /// and one dispatcher per channel.
    pub async fn start(settings: Settings, shape: Shape) -> anyhow::Result<Self> {
        let mut pipeline = Pipeline::start(settings).await?;
        let api = Api::new(&pipeline);
        let users = crate::seed::seed(&pipeline, &api, shape).await?;
        let observer = Observer::start(&pipeline);
        pipeline.start_stages().await?;
        Ok(Self {
            pipeline,
            api,
            observer,
            users,
            shape,
        })
    }

    /// Sends notifications `range` in batches of 100, with idempotency keys under `run`.
    pub async fn send(
        &self,
        run: &str,
        range: std::ops::Range<usize>,
    ) -> anyhow::Result<Vec<Sent>> {
        workload::send_range(
            &self.api,
            &self.pipeline.app.tenant,
            &self.users,
            self.shape,
            run,
            100,
            range,
        )
        .await
    }

    /// The user notification `j` of the workload goes to.
    pub fn user_of(&self, j: usize) -> &User {
        &self.users[j % self.users.len()]
    }

    /// Notification `j` of the workload, without a `send_at`.
    pub fn item(&self, j: usize) -> serde_json::Value {
        workload::item(j, self.user_of(j), None)
    }

    /// Notification `j`, accepted as `event_id`, with what it must end as.
    pub fn accepted(&self, j: usize, event_id: notify_schemas::Uuid) -> Sent {
        let tenant = &self.pipeline.app.tenant;
        Sent {
            event_id,
            expected: workload::expected(tenant, event_id, j, self.user_of(j)),
            scheduled: false,
        }
    }

    /// Waits for every outcome (at most `limit`), lets late duplicates arrive, and judges.
    pub async fn finish_and_judge(
        &self,
        sent: &[Sent],
        limit: Duration,
        since: std::time::Instant,
    ) -> anyhow::Result<Figures> {
        let left = observe::wait_for_outcomes(&self.observer, sent, limit).await;
        let recovered_in = since.elapsed();
        if left > 0 {
            eprintln!("{} events without all outcomes after {limit:?}", left);
        }
        // a duplicate sent late (a retry, a replay) would land now
        tokio::time::sleep(Duration::from_secs(3)).await;
        observe::judge(&self.pipeline, &self.observer, sent, recovered_in).await
    }

    /// Fails with the figures, the first wrong events and the processes' logs unless the run
    /// lost nothing, saw every outcome, sent nothing unexpected and at most `max_duplicates`
    /// duplicates.
    pub async fn check(
        &self,
        f: &Figures,
        sent: &[Sent],
        max_duplicates: usize,
    ) -> anyhow::Result<()> {
        let ok = f.lost == 0
            && f.unseen == 0
            && f.wrong_outcomes == 0
            && f.unexpected == 0
            && f.duplicates <= max_duplicates
            && f.delivered + f.dead_lettered == f.expected;
        ensure!(
            ok,
            "ledger not clean (duplicates allowed: {max_duplicates}): {f:?}\n{}\n{}\n{}",
            observe::explain(&self.observer, sent),
            observe::explain_duplicates(&self.pipeline, &self.observer, &f.duplicated).await,
            self.pipeline.logs()
        );
        Ok(())
    }

    /// Stops everything and drops the keyspace.
    pub async fn finish(self) {
        drop(self.observer);
        self.pipeline.finish().await;
    }
}

/// How long to wait for the outcomes of `n` events, beyond any deferral.
pub fn limit_for(n: usize) -> Duration {
    Duration::from_secs(120 + (n / 20) as u64)
}
