//! Standard output of the operator commands.
//!
//! Guarantees: [`outln!`] and [`out!`] write and flush at once and return an error instead of
//! panicking as `println!` does; when the reader has gone away (`notify topics list | head`)
//! the error is [`StdoutError`] with [`StdoutError::is_closed`], which `main` turns into a quiet
//! exit with status 0: the reader asked for no more, so that is not a failure. Any other write
//! error (a full disk behind a redirect) stays an error.
//! Not covered: output of the tracing subscriber, which drops what it cannot write.

use std::fmt;
use std::io::{self, Write};

/// Standard output could not be written.
#[derive(Debug)]
pub struct StdoutError(io::Error);

impl StdoutError {
    /// The reader of standard output has gone away (a closed pipe).
    pub fn is_closed(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot write to standard output: {}", self.0)
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Writes `args` to standard output and flushes it.
pub fn write(args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_fmt(args)
        .and_then(|()| stdout.flush())
        .map_err(StdoutError)
}

/// Whether `err` is only that standard output's reader went away.
pub fn is_closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<StdoutError>()
            .is_some_and(StdoutError::is_closed)
    })
}

/// `print!` that returns a [`StdoutError`] instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// `println!` that returns a [`StdoutError`] instead of panicking.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    /// The built `notify` binary beside this test binary (`target/<profile>/notify`); cargo
    /// builds it for the package's integration tests, `cargo build -p notify` otherwise.
    fn notify_binary() -> PathBuf {
        let test_exe = std::env::current_exe().expect("test binary path");
        let profile_dir = test_exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>/deps");
        let binary = profile_dir.join(format!("notify{}", std::env::consts::EXE_SUFFIX));
        assert!(
            binary.is_file(),
            "{} is missing: run `cargo build -p notify` first",
            binary.display()
        );
        binary
    }

    /// Runs `notify <args>` with standard output a pipe whose reader is closed right after the
    /// start, before the command has printed anything; returns its status and standard error.
    fn run_with_closed_stdout(
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (std::process::ExitStatus, String) {
        let mut child = Command::new(notify_binary())
            .args(args)
            .env_remove("NOTIFY_CONFIG")
            .envs(env.iter().copied())
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start notify");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("notify ends");
        (
            output.status,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    #[test]
    fn printing_commands_exit_quietly_when_the_reader_goes_away() {
        for args in [&["config"][..], &["--help"], &["topics", "--help"]] {
            let (status, stderr) = run_with_closed_stdout(args, &[]);
            assert!(
                status.success() && stderr.is_empty(),
                "notify {args:?}: {status}, stderr:\n{stderr}"
            );
        }
    }

    /// Only a gone reader is quiet: a full disk behind a redirect is still a failure.
    #[cfg(target_os = "linux")]
    #[test]
    fn other_write_errors_still_fail() {
        let full = std::fs::File::create("/dev/full").expect("/dev/full");
        let output = Command::new(notify_binary())
            .arg("config")
            .env_remove("NOTIFY_CONFIG")
            .stdin(Stdio::null())
            .stdout(full)
            .output()
            .expect("run notify");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(
            stderr.starts_with("error: cannot write to standard output"),
            "{stderr}"
        );
    }

    #[test]
    #[ignore = "needs the real Kafka broker: NOTIFY_IT_KAFKA=127.0.0.1:9092"]
    fn topics_list_exits_quietly_when_the_reader_goes_away() {
        let brokers = notify_it::brokers();
        let env = [
            ("NOTIFY_KAFKA__BROKERS", brokers.as_str()),
            ("NOTIFY_TELEMETRY__LOG_FILTER", "error"),
        ];
        let (status, stderr) = run_with_closed_stdout(&["topics", "list"], &env);
        assert!(
            status.success() && stderr.is_empty(),
            "{status}, stderr:\n{stderr}"
        );
    }
}
