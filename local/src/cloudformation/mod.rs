//! # CloudFormation, played locally: `template.yaml` read, then its resources created on moto
//!
//! CloudFormation does two things with a template, and so does this folder, with the intrinsic
//! functions that connect the two in one place:
//!
//! 1. [`template`]: it reads the template (parameters, conditions, `Globals`, and each resource
//!    kind the local stack uses, one file each) into a [`Template`]. Property values that depend
//!    on the deploy stay unevaluated, as [`Expr`] trees.
//! 2. [`resources`]: it creates the resources in dependency order ([`deploy`]), each with a
//!    *physical id*; if one fails, it deletes what it created before it, as CloudFormation's
//!    rollback does ([`DeployError::RolledBack`], `ROLLBACK_COMPLETE`).
//! 3. [`intrinsics`]: `!Ref`, `!GetAtt`, `!Sub` ... read into an [`Expr`] while the template is
//!    read, and evaluated against the created resources ([`Deployed::resolve`]): that is how a
//!    function's environment gets the table's real name.
//!
//! Read [`template`] first: its module doc explains logical and physical ids; [`intrinsics`]
//! lists the functions; [`resources`] what each resource type gives `!Ref` and `!GetAtt`.

pub mod intrinsics;
pub mod resources;
pub mod template;

pub use intrinsics::{Expr, ResolveError};
pub use resources::{
    ACCOUNT_ID, DeployError, Deployed, DeployedResource, Rollback, RollbackStatus, deploy,
};
pub use template::{Template, TemplateError};

/// The template at `path` with only its resources of `resource_types` (`AWS::SQS::Queue`, ...),
/// for a caller that needs part of the stack: [`deploy`] creates those as it would from the whole
/// template. A kept resource that refers to one left out is an error, as in any template.
pub fn load_only(
    path: &std::path::Path,
    resource_types: &[&str],
) -> Result<Template, TemplateError> {
    use serde_norway::Value;
    let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut yaml: Value = serde_norway::from_str(&text)?;
    if let Some(resources) = yaml.get_mut("Resources").and_then(Value::as_mapping_mut) {
        resources.retain(|_, resource| {
            let kind = resource.get("Type").and_then(Value::as_str);
            kind.is_some_and(|kind| resource_types.contains(&kind))
        });
    }
    Template::parse(&serde_norway::to_string(&yaml)?)
}
