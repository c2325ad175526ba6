//! # Intrinsic functions: read from the template, evaluated against the deployed stack
//!
//! A template's property values are literals or *intrinsic functions*, evaluated at deploy time:
//!
//! | function     | short form (a YAML tag)    | long form                       | evaluates to |
//! |--------------|----------------------------|---------------------------------|--------------|
//! | `Ref`        | `!Ref X`                   | `{Ref: X}`                      | a parameter's value, a pseudo parameter (`AWS::Region`), or resource `X`'s main physical id |
//! | `Fn::GetAtt` | `!GetAtt X.Arn`            | `{"Fn::GetAtt": [X, Arn]}`      | one attribute of resource `X` |
//! | `Fn::Sub`    | `!Sub 'a-${X}-${X.Arn}'`   | `{"Fn::Sub": ...}`              | the string with each `${...}` replaced as by `Ref` / `GetAtt` |
//! | `Fn::If`     | `!If [Cond, a, b]`         | `{"Fn::If": [...]}`             | `a` if condition `Cond` holds, else `b` |
//! | `Fn::Join`   | `!Join [sep, [a, b]]`      | `{"Fn::Join": [...]}`           | the items joined with `sep` |
//! | `Fn::Select` | `!Select [0, list]`        | `{"Fn::Select": [...]}`         | one item of a list |
//! | `Fn::Split`  | `!Split [sep, s]`          | `{"Fn::Split": [...]}`          | `s` split into a list |
//!
//! Reading (`parse_expr`) turns either form, the YAML tag (`!GetAtt X.Arn`) or the one-key map
//! (`{"Fn::GetAtt": [X, Arn]}`), into an [`Expr`] tree while the template is read. Evaluating
//! ([`Deployed::resolve`]) needs the physical ids, so it waits until [`super::resources`] has
//! created what the expression names; a reference to a resource not created (yet, or at all
//! locally) is a [`ResolveError`] that says which.

use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

use super::resources::{ACCOUNT_ID, CREATED_TYPES, Deployed, PARTITION, Physical, URL_SUFFIX};
use super::template::{FunctionSpec, Problem};

/// A property value: a literal or an intrinsic function, evaluated by
/// [`Deployed::resolve`](crate::cloudformation::Deployed::resolve).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A string, number or boolean, as text (`5`, `true`).
    Literal(String),
    /// `!Ref X`: a parameter, a pseudo parameter (`AWS::StackName`) or a resource's logical id.
    Ref(String),
    /// `!GetAtt X.Attribute`: (logical id, attribute).
    GetAtt(String, String),
    /// `!Sub '...'`, with `${X}` (as `Ref`), `${X.Attribute}` (as `GetAtt`) and `${!X}` (a
    /// literal `${X}`).
    Sub(String),
    /// `!Sub ['...${Name}...', {Name: value}]`: a `Sub` with variables of its own, which take
    /// precedence over parameters and resources of the same name.
    SubWith(String, BTreeMap<String, Expr>),
    /// `!If [Condition, then, else]`.
    If(String, Box<Expr>, Box<Expr>),
    /// `!Join [separator, items]`; an item that evaluates to a list (`!Split`) adds all of it.
    Join(String, Vec<Expr>),
    /// `!Select [index, list]`.
    Select(usize, Box<Expr>),
    /// `!Split [separator, string]`: a list.
    Split(String, Box<Expr>),
    /// A YAML sequence.
    List(Vec<Expr>),
}

/// The function name (`Ref`, `GetAtt`, ...) and arguments of an intrinsic function, in either
/// form: the tag `!GetAtt X.Arn` or the one-key map `{"Fn::GetAtt": [X, Arn]}`.
pub(super) fn intrinsic_call(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            Some((tag.trim_start_matches('!').to_owned(), &tagged.value))
        }
        Value::Mapping(map) if is_long_form_intrinsic(map) => {
            let (key, arguments) = map.iter().next()?;
            let key = key.as_str()?;
            Some((
                key.strip_prefix("Fn::").unwrap_or(key).to_owned(),
                arguments,
            ))
        }
        _ => None,
    }
}

/// `{Ref: X}`, `{"Fn::...": ...}`, `{Condition: X}`: a one-key map naming an intrinsic function.
pub(super) fn is_long_form_intrinsic(map: &Mapping) -> bool {
    map.len() == 1
        && map
            .keys()
            .filter_map(Value::as_str)
            .any(|key| key == "Ref" || key == "Condition" || key.starts_with("Fn::"))
}

/// Reads a property value into an [`Expr`].
pub(super) fn parse_expr(value: &Value) -> Result<Expr, Problem> {
    if let Some((function, arguments)) = intrinsic_call(value) {
        return parse_intrinsic(&function, arguments);
    }
    match value {
        Value::Sequence(items) => items
            .iter()
            .map(parse_expr)
            .collect::<Result<_, _>>()
            .map(Expr::List),
        Value::Null => Err(Problem::Missing),
        Value::Mapping(_) => Err(Problem::Expected("a string or an intrinsic function")),
        scalar => Ok(Expr::Literal(scalar_text(scalar).unwrap_or_default())),
    }
}

fn parse_intrinsic(function: &str, arguments: &Value) -> Result<Expr, Problem> {
    let wrong = |expected| Problem::Arguments {
        function: function.to_owned(),
        expected,
    };
    match function {
        "Ref" => Ok(Expr::Ref(
            arguments.as_str().ok_or(wrong("a name"))?.to_owned(),
        )),
        "GetAtt" => {
            let expected = "Resource.Attribute or [Resource, Attribute]";
            let (resource, attribute) = match arguments {
                Value::String(dotted) => dotted.split_once('.').ok_or(wrong(expected))?,
                Value::Sequence(pair) => match pair.as_slice() {
                    [Value::String(resource), Value::String(attribute)] => {
                        (&**resource, &**attribute)
                    }
                    _ => return Err(wrong(expected)),
                },
                _ => return Err(wrong(expected)),
            };
            Ok(Expr::GetAtt(resource.to_owned(), attribute.to_owned()))
        }
        "Sub" => match arguments {
            Value::String(template) => {
                sub_parts(template)?;
                Ok(Expr::Sub(template.clone()))
            }
            Value::Sequence(pair) => match pair.as_slice() {
                [Value::String(template), Value::Mapping(variables)] => {
                    sub_parts(template)?;
                    let mut parsed = BTreeMap::new();
                    for (name, value) in variables {
                        let name = name
                            .as_str()
                            .ok_or(wrong("variable names that are strings"))?;
                        parsed.insert(name.to_owned(), parse_expr(value)?);
                    }
                    Ok(Expr::SubWith(template.clone(), parsed))
                }
                _ => Err(wrong("a string or [string, {variables}]")),
            },
            _ => Err(wrong("a string or [string, {variables}]")),
        },
        "If" => {
            let [condition, then, otherwise] =
                fixed_arguments(function, arguments, "[condition, then, else]")?;
            Ok(Expr::If(
                condition
                    .as_str()
                    .ok_or(wrong("a condition name first"))?
                    .to_owned(),
                Box::new(parse_expr(then)?),
                Box::new(parse_expr(otherwise)?),
            ))
        }
        "Join" => {
            let [separator, items] = fixed_arguments(function, arguments, "[separator, list]")?;
            let separator = scalar_text(separator).ok_or(wrong("a string separator"))?;
            let items = match parse_expr(items)? {
                Expr::List(items) => items,
                // A function that gives a list (`!Split`, a list parameter).
                list => vec![list],
            };
            Ok(Expr::Join(separator, items))
        }
        "Select" => {
            let [index, list] = fixed_arguments(function, arguments, "[index, list]")?;
            let index = scalar_text(index)
                .and_then(|i| i.parse().ok())
                .ok_or(wrong("a whole number index"))?;
            Ok(Expr::Select(index, Box::new(parse_expr(list)?)))
        }
        "Split" => {
            let [separator, source] = fixed_arguments(function, arguments, "[separator, string]")?;
            let separator = scalar_text(separator).ok_or(wrong("a string separator"))?;
            Ok(Expr::Split(separator, Box::new(parse_expr(source)?)))
        }
        other => Err(Problem::UnsupportedIntrinsic(format!("Fn::{other}"))),
    }
}

/// The arguments of a function that takes exactly `N` of them, as a list.
pub(super) fn fixed_arguments<'v, const N: usize>(
    function: &str,
    arguments: &'v Value,
    expected: &'static str,
) -> Result<[&'v Value; N], Problem> {
    let wrong = || Problem::Arguments {
        function: function.to_owned(),
        expected,
    };
    let items = arguments.as_sequence().ok_or_else(wrong)?;
    items
        .iter()
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| wrong())
}

/// One piece of a `Fn::Sub` string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SubPart<'a> {
    Text(std::borrow::Cow<'a, str>),
    /// `${Name}` or `${Resource.Attribute}`.
    Variable(&'a str),
}

/// Splits a `Fn::Sub` string into text and `${...}` variables (`${!X}` is the text `${X}`).
pub(crate) fn sub_parts(template: &str) -> Result<Vec<SubPart<'_>>, Problem> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            parts.push(SubPart::Text(rest[..start].into()));
        }
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(Problem::UnclosedSub)?;
        let name = after[..end].trim();
        match name.strip_prefix('!') {
            Some(literal) => parts.push(SubPart::Text(format!("${{{literal}}}").into())),
            None if name.is_empty() => return Err(Problem::Expected("a name inside `${}`")),
            None => parts.push(SubPart::Variable(name)),
        }
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(SubPart::Text(rest.into()));
    }
    Ok(parts)
}

/// A scalar as CloudFormation passes it on: as text.
pub(super) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Why an expression has no value locally.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    #[error("{0} is not a parameter, a pseudo parameter or a resource of the template")]
    UnknownName(String),
    #[error("{logical_id} is an {resource_type}, which the local stack does not create")]
    NotCreatedLocally {
        logical_id: String,
        resource_type: String,
    },
    #[error("{0} is not created yet: it comes later in the deployment")]
    NotCreatedYet(String),
    #[error("!GetAtt {logical_id}.{attribute}: an {resource_type} has no such attribute here")]
    UnknownAttribute {
        logical_id: String,
        attribute: String,
        resource_type: String,
    },
    #[error("!GetAtt {0}.StreamArn: the table has no stream")]
    NoStream(String),
    #[error("AWS::{0} is not a pseudo parameter the local stack knows")]
    UnknownPseudoParameter(String),
    #[error("parameter {0} has no Default, and the local stack takes no parameter values")]
    NoParameterValue(String),
    #[error("condition {0} is not defined")]
    UnknownCondition(String),
    #[error("AWS::NoValue where a value is needed")]
    NoValue,
    #[error("!Select index {index} is beyond the end of a list of {len}")]
    IndexOutOfRange { index: usize, len: usize },
    #[error("a list {0:?} where a string is needed")]
    ListNotString(Vec<String>),
    #[error("a string {0:?} where a list is needed")]
    StringNotList(String),
    #[error("!Sub {template:?} {problem}")]
    Sub { template: String, problem: Problem },
    #[error("environment variable {variable}: {cause}")]
    Variable {
        variable: String,
        cause: Box<ResolveError>,
    },
}

/// An intrinsic function's value: most give a string; `!Split` and list parameters give a list.
enum Evaluated {
    /// `!Ref AWS::NoValue`: the property is left out.
    NoValue,
    Text(String),
    List(Vec<String>),
}

impl Deployed {
    /// The value of `expr` in this stack.
    pub fn resolve(&self, expr: &Expr) -> Result<String, ResolveError> {
        match self.evaluate(expr)? {
            Evaluated::Text(text) => Ok(text),
            Evaluated::List(items) => Err(ResolveError::ListNotString(items)),
            Evaluated::NoValue => Err(ResolveError::NoValue),
        }
    }

    /// The function's `Environment.Variables`, resolved. A variable whose value is
    /// `AWS::NoValue` (`!If [Condition, value, !Ref AWS::NoValue]`) is left out, as CloudFormation
    /// leaves it out.
    pub fn environment(
        &self,
        function: &FunctionSpec,
    ) -> Result<BTreeMap<String, String>, ResolveError> {
        let mut environment = BTreeMap::new();
        for (variable, expr) in &function.environment {
            let value = match self.evaluate(expr) {
                Ok(Evaluated::NoValue) => continue,
                Ok(Evaluated::Text(text)) => Ok(text),
                Ok(Evaluated::List(items)) => Err(ResolveError::ListNotString(items)),
                Err(cause) => Err(cause),
            };
            let value = value.map_err(|cause| ResolveError::Variable {
                variable: variable.clone(),
                cause: Box::new(cause),
            })?;
            environment.insert(variable.clone(), value);
        }
        Ok(environment)
    }

    fn evaluate(&self, expr: &Expr) -> Result<Evaluated, ResolveError> {
        Ok(match expr {
            Expr::Literal(text) => Evaluated::Text(text.clone()),
            Expr::Ref(name) => self.reference(name)?,
            Expr::GetAtt(logical_id, attribute) => {
                Evaluated::Text(self.attribute(logical_id, attribute)?.to_owned())
            }
            Expr::Sub(template) => Evaluated::Text(self.substitute(template, &BTreeMap::new())?),
            Expr::SubWith(template, variables) => {
                Evaluated::Text(self.substitute(template, variables)?)
            }
            Expr::If(condition, then, otherwise) => {
                let holds = self
                    .template
                    .condition_value(condition)
                    .ok_or_else(|| ResolveError::UnknownCondition(condition.clone()))?;
                self.evaluate(if holds { then } else { otherwise })?
            }
            Expr::Join(separator, items) => {
                let mut joined = Vec::new();
                for item in items {
                    match self.evaluate(item)? {
                        Evaluated::Text(text) => joined.push(text),
                        Evaluated::List(list) => joined.extend(list),
                        Evaluated::NoValue => return Err(ResolveError::NoValue),
                    }
                }
                Evaluated::Text(joined.join(separator))
            }
            Expr::Select(index, list) => {
                let list = self.evaluate_list(list)?;
                let len = list.len();
                let item = list.into_iter().nth(*index);
                Evaluated::Text(item.ok_or(ResolveError::IndexOutOfRange { index: *index, len })?)
            }
            Expr::Split(separator, source) => Evaluated::List(
                self.resolve(source)?
                    .split(separator.as_str())
                    .map(str::to_owned)
                    .collect(),
            ),
            Expr::List(items) => Evaluated::List(
                items
                    .iter()
                    .map(|item| self.resolve(item))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn evaluate_list(&self, expr: &Expr) -> Result<Vec<String>, ResolveError> {
        match self.evaluate(expr)? {
            Evaluated::List(items) => Ok(items),
            Evaluated::Text(text) => Err(ResolveError::StringNotList(text)),
            Evaluated::NoValue => Err(ResolveError::NoValue),
        }
    }

    /// `!Ref name`: a pseudo parameter, a parameter or a resource.
    fn reference(&self, name: &str) -> Result<Evaluated, ResolveError> {
        if let Some(pseudo) = name.strip_prefix("AWS::") {
            if pseudo == "NoValue" {
                return Ok(Evaluated::NoValue);
            }
            let value = match pseudo {
                "StackName" => self.stack_name.clone(),
                "Region" => self.region.clone(),
                "AccountId" => ACCOUNT_ID.to_owned(),
                "Partition" => PARTITION.to_owned(),
                "URLSuffix" => URL_SUFFIX.to_owned(),
                other => return Err(ResolveError::UnknownPseudoParameter(other.to_owned())),
            };
            return Ok(Evaluated::Text(value));
        }
        if self.template.has_parameter(name) {
            let value = self
                .template
                .parameter_value(name)
                .ok_or_else(|| ResolveError::NoParameterValue(name.to_owned()))?;
            return Ok(if self.template.parameter_is_list(name) {
                Evaluated::List(
                    value
                        .split(',')
                        .map(|item| item.trim().to_owned())
                        .collect(),
                )
            } else {
                Evaluated::Text(value)
            });
        }
        Ok(Evaluated::Text(
            self.created_resource(name)?.reference().to_owned(),
        ))
    }

    /// `!GetAtt logical_id.attribute`.
    fn attribute(&self, logical_id: &str, attribute: &str) -> Result<&str, ResolveError> {
        let physical = self.created_resource(logical_id)?;
        if let Some(value) = physical.attribute(attribute) {
            return Ok(value);
        }
        if matches!(physical, Physical::Table { .. }) && attribute == "StreamArn" {
            return Err(ResolveError::NoStream(logical_id.to_owned()));
        }
        Err(ResolveError::UnknownAttribute {
            logical_id: logical_id.to_owned(),
            attribute: attribute.to_owned(),
            resource_type: physical.resource_type().to_owned(),
        })
    }

    /// The resource, or why there is none: unknown, not created locally, or not created yet.
    pub(super) fn created_resource(&self, logical_id: &str) -> Result<&Physical, ResolveError> {
        if let Some(physical) = self.physical(logical_id) {
            return Ok(physical);
        }
        match self.template.resource_type(logical_id) {
            Some(resource_type) if CREATED_TYPES.contains(&resource_type) => {
                Err(ResolveError::NotCreatedYet(logical_id.to_owned()))
            }
            Some(resource_type) => Err(ResolveError::NotCreatedLocally {
                logical_id: logical_id.to_owned(),
                resource_type: resource_type.to_owned(),
            }),
            None => Err(ResolveError::UnknownName(logical_id.to_owned())),
        }
    }

    /// `!Sub`: each `${Name}` as `!Ref Name` (or the Sub's own variable), each
    /// `${Resource.Attribute}` as `!GetAtt`.
    fn substitute(
        &self,
        template: &str,
        variables: &BTreeMap<String, Expr>,
    ) -> Result<String, ResolveError> {
        let parts = sub_parts(template).map_err(|problem| ResolveError::Sub {
            template: template.to_owned(),
            problem,
        })?;
        let mut text = String::new();
        for part in parts {
            match part {
                SubPart::Text(literal) => text.push_str(&literal),
                SubPart::Variable(name) => {
                    if let Some(expr) = variables.get(name) {
                        text.push_str(&self.resolve(expr)?);
                    } else if let Some((logical_id, attribute)) = name.split_once('.') {
                        text.push_str(self.attribute(logical_id, attribute)?);
                    } else {
                        text.push_str(&self.resolve(&Expr::Ref(name.to_owned()))?);
                    }
                }
            }
        }
        Ok(text)
    }
}
