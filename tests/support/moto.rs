//! A moto server for the tests of one process.
//!
//! Started once, on the first [`endpoint`] call, on a free port of 127.0.0.1, by the local stack's
//! own launcher (`orders_local::moto`: the project's `.venv`, `scripts/moto_server.py`, one request
//! at a time). It stops when the test process exits, however it exits.

use std::path::Path;
use std::sync::OnceLock;

use orders_local::moto::Moto;

/// The endpoint of this process's moto server, started on first use. Panics with the command
/// that installs moto if it cannot start: an integration test never passes by skipping.
pub fn endpoint() -> &'static str {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let log = std::env::temp_dir().join(format!("orders-moto-{}.log", std::process::id()));
        Moto::start(workspace_root(), 0, &log).unwrap_or_else(|error| panic!("{error}"))
    })
    .endpoint()
}

pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
}
