//! `AWS::KMS::Key` and `AWS::KMS::Alias`: a key has only a generated id; its alias is the name
//! other resources and the functions use.
//!
//! Also the key another resource encrypts with ([`read_key_reference`]): a queue's or topic's
//! `KmsMasterKeyId`, a secret's `KmsKeyId`.

use super::{Expr, KMS_ALIAS, KMS_KEY, Node, Problem, ResourceTypes, TemplateError};

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

/// A key another resource encrypts with (`KmsMasterKeyId`, `KmsKeyId`), left unevaluated: the
/// services take a key id, a key ARN, an alias name or an alias ARN, so `!Ref` of a key of the
/// template (its key id, as CloudFormation gives it), `!GetAtt <Key>.Arn`, `!Ref` of an alias
/// (its name), a parameter, or a literal (`alias/aws/sqs`, the AWS managed key) are all read.
/// A `!Ref` or `!GetAtt` of any other resource of the template is refused: no service takes a
/// queue's URL for a key.
pub(super) fn read_key_reference(
    node: &Node,
    types: &ResourceTypes,
) -> Result<Expr, TemplateError> {
    let expr = node.expr()?;
    let wrong_target = |logical_id: &String, expected| {
        node.problem(Problem::WrongTarget {
            logical_id: logical_id.clone(),
            expected,
        })
    };
    match &expr {
        // Not a resource: a parameter or a pseudo parameter, resolved at deploy time.
        Expr::Ref(logical_id) => match types.get(logical_id).map(String::as_str) {
            None | Some(KMS_KEY | KMS_ALIAS) => {}
            Some(_) => return Err(wrong_target(logical_id, "AWS::KMS::Key or AWS::KMS::Alias")),
        },
        Expr::GetAtt(logical_id, _)
            if types.get(logical_id).map(String::as_str) != Some(KMS_KEY) =>
        {
            return Err(wrong_target(logical_id, KMS_KEY));
        }
        _ => {}
    }
    Ok(expr)
}
