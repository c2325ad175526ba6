//! What a deployment deploys: the function, its alias, and the current and target versions.
//!
//! `GetDeployment` returns the deployment's revision, an AppSpec naming the function, its alias
//! and the current and target versions ([`parse_appspec`]). CloudFormation writes the AppSpec
//! inline (`AppSpecContent`), one function per deployment.

use std::collections::BTreeMap;

use aws_sdk_codedeploy::types::RevisionLocation;
use serde::Deserialize;
use serde_json::Value;

use crate::clients::{failure, sent};
use crate::verdict::CheckFailed;

/// The functions and versions a deployment deploys, from its AppSpec.
pub(crate) async fn read_targets(
    deployments: &aws_sdk_codedeploy::Client,
    deployment_id: &str,
) -> Result<Vec<Target>, CheckFailed> {
    let request = deployments.get_deployment().deployment_id(deployment_id);
    let output = sent(request.send())
        .await
        .map_err(failure(CheckFailed::Deployment))?;
    let revision = output
        .deployment_info()
        .and_then(|info| info.revision())
        .ok_or_else(|| CheckFailed::Deployment("the deployment has no revision".into()))?;
    parse_appspec(appspec_of(revision)?)
}

/// The AppSpec of a revision: `AppSpecContent` (what CloudFormation creates), or the older
/// `String` revision type; both carry the AppSpec inline.
fn appspec_of(revision: &RevisionLocation) -> Result<&str, CheckFailed> {
    revision
        .app_spec_content()
        .and_then(|appspec| appspec.content())
        .or_else(|| revision.string().and_then(|raw| raw.content()))
        .ok_or_else(|| {
            let kind = revision
                .revision_type()
                .map_or("none", |kind| kind.as_str());
            CheckFailed::Deployment(format!("the revision (type {kind}) has no inline AppSpec"))
        })
}

/// One function of a deployment: which version the alias moves from and to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The function's name (`orders-on-lambda-create-order`).
    pub function_name: String,
    /// The alias CodeDeploy moves (`live`).
    pub alias: String,
    /// The version the alias points at now.
    pub current_version: Option<String>,
    /// The new version: the one to check.
    pub target_version: String,
}

/// The AppSpec of a Lambda deployment, as CloudFormation writes it:
///
/// ```json
/// {"version": 0.0,
///  "Resources": [{"CreateOrderFunction": {"Type": "AWS::Lambda::Function",
///    "Properties": {"Name": "orders-on-lambda-create-order", "Alias": "live",
///                   "CurrentVersion": "3", "TargetVersion": "4"}}}],
///  "Hooks": [{"BeforeAllowTraffic": "CodeDeployHook_..."}]}
/// ```
#[derive(Deserialize)]
struct AppSpec {
    #[serde(rename = "Resources", default)]
    resources: Vec<BTreeMap<String, AppSpecResource>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AppSpecResource {
    #[serde(rename = "Type")]
    kind: String,
    properties: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LambdaProperties {
    name: String,
    alias: String,
    #[serde(default)]
    current_version: Option<VersionText>,
    target_version: VersionText,
}

/// A version as an AppSpec may write it: `"4"`, or `4` in a hand-written YAML one.
#[derive(Deserialize)]
#[serde(untagged)]
enum VersionText {
    Text(String),
    Number(u64),
}

impl From<VersionText> for String {
    fn from(version: VersionText) -> Self {
        match version {
            VersionText::Text(text) => text,
            VersionText::Number(number) => number.to_string(),
        }
    }
}

/// The functions an AppSpec deploys (CloudFormation writes one per deployment). An AppSpec that
/// is not JSON, names no function, or names anything but a Lambda function is refused.
pub fn parse_appspec(content: &str) -> Result<Vec<Target>, CheckFailed> {
    let appspec: AppSpec = serde_json::from_str(content)
        .map_err(|error| CheckFailed::Deployment(format!("the AppSpec is not JSON: {error}")))?;
    let mut targets = Vec::new();
    for (name, resource) in appspec.resources.into_iter().flatten() {
        if resource.kind != "AWS::Lambda::Function" {
            return Err(CheckFailed::Deployment(format!(
                "resource {name} is a {}, not a Lambda function",
                resource.kind
            )));
        }
        let properties: LambdaProperties =
            serde_json::from_value(resource.properties).map_err(|error| {
                CheckFailed::Deployment(format!("resource {name} has unusable properties: {error}"))
            })?;
        let target_version = String::from(properties.target_version);
        if target_version.is_empty() {
            return Err(CheckFailed::Deployment(format!(
                "resource {name} has no target version"
            )));
        }
        targets.push(Target {
            function_name: properties.name,
            alias: properties.alias,
            current_version: properties.current_version.map(String::from),
            target_version,
        });
    }
    if targets.is_empty() {
        return Err(CheckFailed::Deployment(
            "the AppSpec names no function".into(),
        ));
    }
    Ok(targets)
}

#[cfg(test)]
mod tests;
