//! Intrinsic functions, read: `!Ref`, `!GetAtt`, `!Sub`, `!If`, `!Join`, `!Select`, `!Split`, in
//! their short (YAML tag) and long (`{"Fn::...": ...}`) forms, into [`Expr`] trees that the
//! deploy evaluates once the physical ids exist.

use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

use super::Problem;

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
