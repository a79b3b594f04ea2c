//! `notify demo` as a person runs it: the built binary, nothing else running; plain (the
//! README's first command: a sample, its summary, then it serves until Ctrl-C) and with
//! `--send N`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every channel's row of the summary in `stdout` shows deliveries.
fn assert_all_channels_delivered(stdout: &str) {
    for channel in ["apns", "fcm", "webpush", "sms", "email"] {
        let row = stdout
            .lines()
            .find(|line| line.starts_with(&format!("{channel} ")))
            .unwrap_or_else(|| panic!("no {channel} row:\n{stdout}"));
        let delivered: u64 = row
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {row:?}"));
        assert!(delivered > 0, "{row}");
    }
}

#[test]
fn plain_demo_shows_a_sample_on_every_channel_then_serves_until_interrupted() {
    let dir = std::env::temp_dir().join(format!("notify-demo-plain-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_notify"))
        .args(["demo", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run notify demo");
    // read on a thread of its own, so a demo that stops printing cannot hang the test
    let (lines, from_demo) = std::sync::mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut stdout = String::new();
    while !stdout.contains("your turn") {
        let wait = deadline.saturating_duration_since(Instant::now());
        match from_demo.recv_timeout(wait) {
            Ok(line) => {
                stdout.push_str(&line);
                stdout.push('\n');
            }
            Err(err) => {
                let _ = child.kill();
                panic!("no summary and no \"your turn\" ({err}):\n{stdout}");
            }
        }
    }
    for expected in [
        "app key     ak_",
        "curl -s -u 'ak_",
        "accepted 20, finished 20",
        "duplicates at providers: 0, sent but missing from ledgers: 0",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    assert_all_channels_delivered(&stdout);
    // still serving: Ctrl-C stops it cleanly
    assert!(child.try_wait().expect("wait").is_none(), "it kept running");
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let status = child.wait().expect("wait");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "exit after Ctrl-C: {status}");
}

#[test]
fn demo_sends_reports_every_outcome_and_exits_zero() {
    let dir = std::env::temp_dir().join(format!("notify-demo-cli-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_notify"))
        .args(["demo", "--send", "40", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&dir)
        .output()
        .expect("run notify demo");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "app key     ak_",
        "app secret  as_",
        "curl -s -u 'ak_",
        "accepted 40, finished 40",
        "duplicates at providers: 0, sent but missing from ledgers: 0",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    assert_all_channels_delivered(&stdout);
}
