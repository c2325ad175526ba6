//! The demo's own stand-in function, for the steps that need a function the app does not have:
//! one that takes as long as it is asked to (`integration_timeout`) or stays busy until the demo
//! lets it finish (`reserved_concurrency`).
//!
//! It is a Lambda custom runtime in bash (`local/demo/stand-in-bootstrap.sh`, written out as its
//! `bootstrap`), registered with the stack's own Lambda service and served, for its API Gateway
//! half, by a second local API Gateway with the demo's routes and the template's gateway
//! responses. The app's functions and API are left as they are.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::api_gateway::{self, Access, ApiGateway, ApiSettings, Route};
use crate::lambda::FunctionProcess;

use super::Demo;

/// The runtime script: see the file for the events it understands (`ms`, `hold`, `record`).
const BOOTSTRAP: &str = include_str!("../../demo/stand-in-bootstrap.sh");

/// The demo's API: its X-Ray segments are named `StandInApi/<stage>`.
const STAND_IN_API: &str = "StandInApi";

/// Where the stand-in's `bootstrap` and the demo's files for it (a gate, a record) live: a
/// directory of this process under the system's temporary directory.
pub(super) fn stand_in_directory() -> PathBuf {
    std::env::temp_dir().join(format!("orders-demo-stand-in-{}", std::process::id()))
}

/// The stand-in's executable, written out (once per process is enough; rewriting is harmless).
fn bootstrap() -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let directory = stand_in_directory();
    let script = directory.join("bootstrap");
    std::fs::create_dir_all(&directory)
        .and_then(|()| std::fs::write(&script, BOOTSTRAP))
        .and_then(|()| std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)))
        .map_err(|error| format!("could not write the stand-in function's bootstrap: {error}"))?;
    Ok(script)
}

/// A route of the demo's API to `function`, open to anyone (no token, no API key).
pub(super) fn stand_in_route(path: &str, function: &str, integration_timeout: Duration) -> Route {
    Route {
        method: "GET".to_owned(),
        path: path.to_owned(),
        function: function.to_owned(),
        access: Access::default(),
        integration_timeout,
    }
}

impl Demo<'_> {
    /// Registers the stand-in as `name` with the stack's Lambda service: its `Timeout` and
    /// `ReservedConcurrentExecutions`. Its process starts on its first invocation.
    pub(super) async fn add_stand_in(
        &self,
        name: &str,
        timeout: Duration,
        reserved_concurrency: Option<u32>,
    ) -> Result<(), String> {
        let function = FunctionProcess {
            name: name.to_owned(),
            function_name: format!("orders-demo-{name}"),
            executable: bootstrap()?,
            environment: BTreeMap::new(),
            timeout,
            memory_mb: 128,
            reserved_concurrency,
        };
        self.stack.lambda().add(function).await;
        Ok(())
    }

    /// A second local API Gateway in front of the stack's Lambda service, on a free port, with
    /// `routes` and the template's gateway responses (the app's JSON error shape), tracing to the
    /// stack's X-Ray daemon. Without the template's keys, authorizers and limits: the demo's
    /// requests reach the integration.
    pub(super) async fn serve_stand_in_api(
        &self,
        routes: Vec<Route>,
    ) -> Result<ApiGateway, String> {
        let deployed =
            api_gateway::deployment::deploy(self.stack.deployed(), &[], self.stack.endpoint())
                .await
                .map_err(|error| format!("the template's API: {error}"))?;
        let settings = ApiSettings {
            gateway_responses: deployed.gateway_responses,
            ..ApiSettings::open(STAND_IN_API, &deployed.stage, routes)
        };
        let any_port = ([127, 0, 0, 1], 0).into();
        ApiGateway::serve(
            any_port,
            settings,
            self.stack.lambda().clone(),
            Some(self.stack.xray().address()),
        )
        .await
        .map_err(|error| format!("the demo's API did not listen: {error}"))
    }
}
