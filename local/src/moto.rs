//! The AWS services, locally: a moto server.
//!
//! [moto](https://github.com/getmoto/moto) implements the AWS APIs this application calls
//! (DynamoDB and its streams, SNS, SQS, KMS) in one HTTP server. The functions reach it through
//! the SDK's standard `AWS_ENDPOINT_URL`: no code path differs from AWS.
//!
//! The server is the project's pinned moto (`.venv`, installed by `make venv`), run through
//! `scripts/moto_server.py`, which serves one request at a time (DynamoDB applies each write to an
//! item atomically; moto's threaded server would not) and lets SNS pass the X-Ray trace header
//! on to SQS, as AWS does. The child reads its standard input until end of file, and this process
//! holds the other end: however this process ends, the server ends with it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How to install what is missing.
pub const INSTALL_HINT: &str = "install the pinned tools with `make venv` \
    (python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt)";

/// Why moto could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("moto is needed, but {python} does not exist: {INSTALL_HINT}")]
    NoPython { python: String },
    #[error("cannot run {python}: {source}; {INSTALL_HINT}")]
    Spawn {
        python: String,
        source: std::io::Error,
    },
    #[error("moto did not start ({reason}); see {log}; {INSTALL_HINT}")]
    NotReady { reason: String, log: String },
}

/// A running moto server, stopped when dropped.
pub struct Moto {
    endpoint: String,
    child: Child,
    // Held open: the server stops when it closes (see the module documentation).
    _stdin: ChildStdin,
}

impl Moto {
    /// Starts moto on 127.0.0.1:`port` (0: a free port), logging to `log`.
    pub fn start(workspace: &Path, port: u16, log: &Path) -> Result<Self, MotoError> {
        let python = python(workspace);
        if !python.exists() {
            return Err(MotoError::NoPython {
                python: python.display().to_string(),
            });
        }
        let log_file = std::fs::File::create(log).map_err(|source| MotoError::Spawn {
            python: python.display().to_string(),
            source,
        })?;
        let mut child = Command::new(&python)
            .arg(workspace.join("scripts/moto_server.py"))
            .args(["--port", &port.to_string(), "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|source| MotoError::Spawn {
                python: python.display().to_string(),
                source,
            })?;

        // The script prints "ready <port>" once it listens; it dies if moto is missing.
        let stdout = child.stdout.take().expect("piped stdout");
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = ready_tx.send(line);
        });
        let port = match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with("ready ") => line["ready ".len()..].trim().to_owned(),
            outcome => {
                let _ = child.kill();
                return Err(MotoError::NotReady {
                    reason: format!("{outcome:?}"),
                    log: log.display().to_string(),
                });
            }
        };
        let stdin = child.stdin.take().expect("piped stdin");
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            _stdin: stdin,
        })
    }

    /// `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL` is set to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project's Python (`.venv/bin/python`), or `$MOTO_PYTHON`.
fn python(workspace: &Path) -> PathBuf {
    std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join(".venv/bin/python"))
}
