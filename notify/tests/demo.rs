//! `notify demo --send N` as a person runs it: the built binary, nothing else running.

use std::process::Command;

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
