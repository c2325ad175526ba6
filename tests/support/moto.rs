//! A moto server for the tests of one process.
//!
//! Started once, on the first [`endpoint`] call, on a free port of 127.0.0.1 that the server picks
//! itself, with the project's own Python (`.venv/bin/python`, or `$MOTO_PYTHON`), through
//! `scripts/moto_server.py`: it serves one request at a time, which keeps DynamoDB's per-item
//! atomicity (see that script). The server reads its standard input until end of file; this
//! process holds the other end of that pipe and never writes to it, so when the test process
//! exits, however it exits, the pipe closes and the server stops with it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

const INSTALL_HINT: &str = "install the pinned tools with `make venv` \
    (python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt)";

struct Moto {
    endpoint: String,
    // Held for the life of the process: see the module documentation.
    _child: Child,
    _stdin: ChildStdin,
}

/// The endpoint of this process's moto server, started on first use.
pub fn endpoint() -> &'static str {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    &MOTO.get_or_init(start).endpoint
}

fn python() -> PathBuf {
    std::env::var_os("MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
}

fn start() -> Moto {
    let python = python();
    assert!(
        python.exists(),
        "moto is needed for the integration tests, but {} does not exist: {INSTALL_HINT}",
        python.display()
    );
    let script = workspace_root().join("scripts/moto_server.py");
    let log_path = std::env::temp_dir().join(format!("orders-moto-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).expect("a log file for moto");
    let mut child = Command::new(&python)
        .arg(&script)
        .args(["--port", "0", "--exit-on-stdin-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", python.display()));

    // Wait for "ready", or for the server to die (moto missing from the venv, say).
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
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!(
                "moto did not start ({outcome:?}); {INSTALL_HINT}\n--- {} ---\n{log}",
                log_path.display()
            );
        }
    };
    let stdin = child.stdin.take().expect("piped stdin");
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        _child: child,
        _stdin: stdin,
    }
}
