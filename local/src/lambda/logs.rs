//! # Logs: the function's log stream, as CloudWatch Logs would hold it
//!
//! Lambda sends a function's stdout and stderr, line by line, to its log stream, with its own
//! `INIT_START`/`START`/`END`/`REPORT` lines between them. Here the stream is this process's
//! console, a file per function, or nowhere ([`LogOutput`](super::LogOutput)). The last stderr
//! lines are kept to explain a crash; the `REPORT` line's peak memory is read from `/proc`.

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::lock;

/// How many of a process's last stderr lines are kept to explain a crash.
const STDERR_LINES_KEPT: usize = 20;

/// Copies a process's output, line by line, to the function's log; keeps stderr's last lines.
pub(super) async fn forward_lines(
    stream: impl AsyncRead + Unpin,
    log: LogSink,
    tail: Option<Arc<Mutex<VecDeque<String>>>>,
) {
    let mut lines = BufReader::new(stream).split(b'\n');
    while let Ok(Some(line)) = lines.next_segment().await {
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches('\r');
        log.line(line);
        if let Some(tail) = &tail
            && !line.trim().is_empty()
        {
            let mut tail = lock(tail);
            if tail.len() == STDERR_LINES_KEPT {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
        }
    }
}

/// The peak resident memory of a process (Linux's `VmHWM`), for the `REPORT` line.
pub(super) fn peak_memory_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kilobytes = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kilobytes.div_ceil(1024))
}

pub(super) fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Where one function's log lines go.
#[derive(Clone)]
pub(super) enum LogSink {
    Console(String),
    File(Arc<Mutex<std::fs::File>>),
    Discard,
}

impl LogSink {
    pub(super) fn line(&self, line: &str) {
        match self {
            LogSink::Console(name) => println!("{name} | {line}"),
            LogSink::File(file) => {
                // A log that cannot be written never fails an invocation.
                let _ = writeln!(lock(file), "{line}");
            }
            LogSink::Discard => {}
        }
    }
}
