//! # CloudFormation, played locally: `template.yaml` read, then its resources created on moto
//!
//! CloudFormation does two things with a template, and so does this folder:
//!
//! 1. [`template`]: it reads the template (parameters, conditions, `Globals`, and each resource
//!    kind the local stack uses, one file each) into a [`Template`]. Property values that depend
//!    on the deploy stay unevaluated, as [`Expr`] trees.
//! 2. [`resources`]: it creates the resources in dependency order ([`deploy`]), each with a
//!    *physical id*, and from then on evaluates any [`Expr`] against them
//!    ([`Deployed::resolve`]): that is how a function's environment gets the table's real name.
//!
//! Read [`template`] first: its module doc explains logical and physical ids and the intrinsic
//! functions; [`resources`] lists what each resource type gives `!Ref` and `!GetAtt`.

pub mod resources;
pub mod template;

pub use resources::{ACCOUNT_ID, DeployError, Deployed, DeployedResource, ResolveError, deploy};
pub use template::{Expr, Template, TemplateError};
