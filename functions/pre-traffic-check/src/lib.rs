//! `pre-traffic-check`: the CodeDeploy `PreTraffic` hook. Every new version of every function
//! answers one harmless request before the first client request reaches it.
//!
//! # Canary deployments: versions, aliases and CodeDeploy
//!
//! A Lambda *version* is an immutable snapshot of a function's code and configuration, numbered
//! `1`, `2`, ...; an *alias* (`live`) is a named pointer to a version, and it is the alias that API
//! Gateway and the event source mappings invoke. An alias can also split invocations between two
//! versions by weight. The template's `AutoPublishAlias: live` makes every `sam deploy` that
//! changes a function publish a new version, and its `DeploymentPreference` hands the move of
//! `live` to CodeDeploy instead of CloudFormation: `Canary10Percent5Minutes` sends 10% of the
//! invocations to the new version for five minutes, then all of them; `Linear10PercentEvery1Minute`
//! moves in steps; `AllAtOnce` moves at once. Each function is one CodeDeploy deployment.
//!
//! # The crate, one concept a file
//!
//! | module           | concept                                                                 |
//! |------------------|-------------------------------------------------------------------------|
//! | [`hook`]         | the flow: read the deployment, smoke-test each new version, report      |
//! | [`deployment`]   | what `GetDeployment` says is deployed: the AppSpec's function and versions |
//! | [`smoke_tests`]  | the request each function is sent, and the one answer that passes       |
//! | [`verdict`]      | `Succeeded` or `Failed`, why, and `PutLifecycleEventHookExecutionStatus` |
//! | [`clients`]      | the traced CodeDeploy and Lambda clients, and a synchronous invoke's timeouts |
//!
//! Start with [`hook::handler`], then [`smoke_tests`]; `main.rs` builds the clients once.
//!
//! # Why the hook is named `CodeDeployHook_*`
//!
//! CodeDeploy invokes the hook with its own service role. SAM gives that role the managed policy
//! `AWSCodeDeployRoleForLambda`, which allows `lambda:InvokeFunction` only on functions named
//! `CodeDeployHook_*`: a hook named otherwise is never invoked, and the deployment fails at the
//! hook. The hook's own role needs `codedeploy:GetDeployment`,
//! `codedeploy:PutLifecycleEventHookExecutionStatus` and `lambda:InvokeFunction` on the functions.
//!
//! # And after the hook: alarms
//!
//! The hook catches a version that is broken for every request. What only real traffic shows (a
//! rise in errors at 10%) is caught by the `DeploymentPreference`'s `Alarms`: CodeDeploy watches
//! them while it shifts, and one that goes to `ALARM` stops the deployment and rolls `live` back
//! to the old version automatically.

pub mod clients;
pub mod deployment;
pub mod hook;
pub mod smoke_tests;
pub mod verdict;

pub use deployment::{Target, parse_appspec};
pub use hook::{HookEvent, check_deployment, handler};
pub use smoke_tests::{SMOKE_CALLER, SMOKE_TESTS, SmokeTest};
pub use verdict::{CheckFailed, HookStatus, ReportFailed};
