//! The `notify` processes of a pipeline: each one the debug binary cargo built for this
//! package, its output in a log file of its own; run to completion (`notify migrate`, ...) or
//! kept running (a stage) until killed, terminated or dropped.
//!
//! Guarantees: a dropped [`Proc`] is killed and reaped, so a failing test leaves no process.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A loopback address nobody listens on right now, and never handed out before by this test
/// binary: the port is free again once this returns, and two tests running side by side once
/// gave the same port to one's gateway and to another's stage, whose admin endpoint then
/// answered the gateway's readiness probe and its first request (404).
///
/// The port comes from below the kernel's ephemeral range (32768 and up here), which no
/// outgoing connection and no `bind(0)` is given: a port from that range, free when checked, was
/// once taken before the gateway bound it ("Address already in use"), most likely as the source
/// port of one of the many Kafka connections the stages open meanwhile.
pub fn free_addr() -> SocketAddr {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
    // a random start per call, so two test binaries side by side rarely try the same ports
    let start = u16::try_from(uuid::Uuid::new_v4().as_u128() % u128::from(PORTS.end - PORTS.start))
        .unwrap_or(0);
    let addr = (0..PORTS.end - PORTS.start)
        .map(|i| PORTS.start + (start + i) % (PORTS.end - PORTS.start))
        .filter(|port| !given.contains(port))
        .find_map(|port| {
            TcpListener::bind(("127.0.0.1", port))
                .ok()?
                .local_addr()
                .ok()
        })
        .expect("a free loopback port below the ephemeral range");
    given.insert(addr.port());
    addr
}

/// Where [`free_addr`] looks: below Linux's default ephemeral range (32768-60999), above the
/// stack's and the peers' fixed ports.
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// One child process of the pipeline.
#[derive(Debug)]
pub struct Proc {
    /// What it runs (`router`, `dispatch-sms`, ...).
    pub name: String,
    pub(crate) child: Child,
    pub(crate) log: PathBuf,
    /// Its admin endpoint (`/metrics`, `/readyz`), when it has one.
    pub admin: Option<SocketAddr>,
}

impl Proc {
    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash or an OOM kill would end it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to `grace` for a clean exit (SIGKILL after that). Returns
    /// whether it exited by itself.
    pub fn terminate(&mut self, grace: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill9();
        false
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Whether its output has a line containing every one of `parts`.
    pub fn logged(&self, parts: &[&str]) -> bool {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .any(|line| parts.iter().all(|part| line.contains(part)))
    }

    /// The last `lines` lines of its output.
    pub fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs `notify <args>` to completion with the run's config; its stdout.
pub fn notify_output(config: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(env!("CARGO_BIN_EXE_notify"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .context("run notify")?;
    if !output.status.success() {
        bail!(
            "notify {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The value after `name:` on a line of `text`.
pub fn field(text: &str, name: &str) -> anyhow::Result<String> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix(':'))
        .map(|value| value.trim().to_owned())
        .with_context(|| format!("no `{name}:` in {text}"))
}
