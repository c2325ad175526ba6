//! `AWS::KMS::Key` and `AWS::KMS::Alias`: a key has only a generated id; its alias is the name
//! other resources and the functions use.

use super::{Expr, KMS_KEY, Node, ResourceTypes, TemplateError};

/// An `AWS::KMS::Key`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySpec {
    pub logical_id: String,
    pub description: Option<Expr>,
    /// `PendingWindowInDays` (7 to 30; 30 if unset): how long KMS waits before it deletes the
    /// key once the stack deletes it.
    pub pending_window_in_days: Option<i32>,
}

/// An `AWS::KMS::Alias`: a name for a key.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasSpec {
    pub logical_id: String,
    /// `alias/...`.
    pub name: Expr,
    /// The logical id of the key.
    pub target_key: String,
}

pub(super) fn read_key(properties: &Node) -> Result<KeySpec, TemplateError> {
    Ok(KeySpec {
        logical_id: properties.resource.to_owned(),
        description: properties.optional("Description", Node::expr)?,
        pending_window_in_days: properties.optional("PendingWindowInDays", Node::number)?,
    })
}

pub(super) fn read_alias(
    properties: &Node,
    types: &ResourceTypes,
) -> Result<AliasSpec, TemplateError> {
    Ok(AliasSpec {
        logical_id: properties.resource.to_owned(),
        name: properties.required("AliasName")?.expr()?,
        target_key: properties
            .required("TargetKeyId")?
            .reference_to(KMS_KEY, types)?,
    })
}
