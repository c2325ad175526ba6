//! Reading a resource's properties with their location: every error names the resource's
//! logical id and the property path (`Properties.KeySchema[0].KeyType`), as CloudFormation's
//! validation errors do.

use std::collections::BTreeMap;

use serde_norway::Value;

use super::{Expr, Problem, TemplateError};
use crate::cloudformation::intrinsics::{parse_expr, scalar_text};

pub(super) type ResourceTypes = BTreeMap<String, String>;

pub(super) const DYNAMODB_TABLE: &str = "AWS::DynamoDB::Table";
pub(super) const KMS_KEY: &str = "AWS::KMS::Key";
pub(super) const KMS_ALIAS: &str = "AWS::KMS::Alias";
pub(super) const SNS_TOPIC: &str = "AWS::SNS::Topic";
pub(super) const SQS_QUEUE: &str = "AWS::SQS::Queue";

/// A value inside one resource and where it is, so that every error names the resource and the
/// property path.
pub(super) struct Node<'a> {
    pub(super) resource: &'a str,
    pub(super) path: String,
    pub(super) value: &'a Value,
}

impl<'a> Node<'a> {
    pub(super) fn root(resource: &'a str, value: &'a Value) -> Self {
        Node {
            resource,
            path: String::new(),
            value,
        }
    }

    /// Where `key` would be (whether it is there or not).
    pub(super) fn child(&self, key: &str) -> Node<'a> {
        Node {
            resource: self.resource,
            path: if self.path.is_empty() {
                key.to_owned()
            } else {
                format!("{}.{key}", self.path)
            },
            value: &Value::Null,
        }
    }

    pub(super) fn problem(&self, problem: Problem) -> TemplateError {
        TemplateError::Property {
            resource: self.resource.to_owned(),
            property: self.path.clone(),
            problem,
        }
    }

    /// The value of `key`; `None` if absent or null.
    pub(super) fn field(&self, key: &str) -> Option<Node<'a>> {
        let value = self.value.get(key).filter(|v| !v.is_null())?;
        Some(Node {
            value,
            ..self.child(key)
        })
    }

    pub(super) fn required(&self, key: &str) -> Result<Node<'a>, TemplateError> {
        self.field(key)
            .ok_or_else(|| self.child(key).problem(Problem::Missing))
    }

    /// `read` applied to `key`'s value, if there is one.
    pub(super) fn optional<T>(
        &self,
        key: &str,
        read: impl FnOnce(&Node<'a>) -> Result<T, TemplateError>,
    ) -> Result<Option<T>, TemplateError> {
        self.field(key).map(|node| read(&node)).transpose()
    }

    pub(super) fn text(&self) -> Result<String, TemplateError> {
        scalar_text(self.value).ok_or_else(|| self.problem(Problem::Expected("a string")))
    }

    pub(super) fn number<T: TryFrom<i64>>(&self) -> Result<T, TemplateError> {
        let number = match self.value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        number
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| self.problem(Problem::Expected("a whole number in range")))
    }

    pub(super) fn flag(&self) -> Result<bool, TemplateError> {
        match self.value {
            Value::Bool(flag) => Ok(*flag),
            Value::String(text) if text == "true" => Ok(true),
            Value::String(text) if text == "false" => Ok(false),
            _ => Err(self.problem(Problem::Expected("true or false"))),
        }
    }

    pub(super) fn expr(&self) -> Result<Expr, TemplateError> {
        parse_expr(self.value).map_err(|problem| self.problem(problem))
    }

    /// A JSON document, given as a YAML map or as a string of JSON.
    pub(super) fn json(&self) -> Result<serde_json::Value, TemplateError> {
        let parsed = match self.value {
            Value::String(text) => serde_json::from_str(text),
            other => serde_json::to_value(other),
        };
        parsed.map_err(|e| self.problem(Problem::Json(e.to_string())))
    }

    pub(super) fn items(&self) -> Result<Vec<Node<'a>>, TemplateError> {
        let items = self
            .value
            .as_sequence()
            .ok_or_else(|| self.problem(Problem::Expected("a list")))?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                resource: self.resource,
                path: format!("{}[{i}]", self.path),
                value,
            })
            .collect())
    }

    pub(super) fn entries(&self) -> Result<Vec<(String, Node<'a>)>, TemplateError> {
        let map = self
            .value
            .as_mapping()
            .ok_or_else(|| self.problem(Problem::Expected("a map")))?;
        map.iter()
            .map(|(key, value)| {
                let key = scalar_text(key)
                    .ok_or_else(|| self.problem(Problem::Expected("string keys")))?;
                let node = Node {
                    value,
                    ..self.child(&key)
                };
                Ok((key, node))
            })
            .collect()
    }

    /// The logical id that `!Ref X` or `!GetAtt X.Attribute` names, which must be a resource of
    /// `expected_type`.
    pub(super) fn reference_to(
        &self,
        expected_type: &'static str,
        types: &ResourceTypes,
    ) -> Result<String, TemplateError> {
        let logical_id = match self.expr()? {
            Expr::Ref(logical_id) | Expr::GetAtt(logical_id, _) => logical_id,
            _ => return Err(self.problem(Problem::NotAReference)),
        };
        if types.get(&logical_id).map(String::as_str) != Some(expected_type) {
            return Err(self.problem(Problem::WrongTarget {
                logical_id,
                expected: expected_type,
            }));
        }
        Ok(logical_id)
    }
}
