//! `Parameters` and `Conditions`: the only inputs of a template, and what follows from them alone.
//!
//! A parameter is a value given at deploy time (`sam deploy --parameter-overrides Name=value`, or
//! the local stack's `--parameter-overrides`, see [`apply_overrides`]); a parameter given none is
//! at its `Default`. As CloudFormation does, a value for a parameter the template does not
//! declare, or one outside its `AllowedValues`, is refused before anything is created. A condition (`!Equals [!Ref Environment, prod]`) depends only on parameters, so
//! CloudFormation evaluates it before creating anything, and so does this module: the template
//! keeps each condition's value, which decides which resources exist and which branch of an
//! `!If` a property takes.

use std::collections::BTreeMap;

use serde_norway::Value;

use super::{Expr, Problem, TemplateError};
use crate::cloudformation::intrinsics::{fixed_arguments, intrinsic_call, parse_expr, scalar_text};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Parameter {
    /// `CommaDelimitedList` and `List<...>` parameters are lists: `!Ref` gives every item.
    pub(super) is_list: bool,
    pub(super) default: Option<String>,
    /// `AllowedValues`, if the parameter has them.
    pub(super) allowed_values: Option<Vec<String>>,
    /// The value given at deploy time, over the `Default`.
    pub(super) given: Option<String>,
}

impl Parameter {
    /// The value the stack takes: the one given at deploy time, else the `Default`.
    pub(super) fn value(&self) -> Option<&String> {
        self.given.as_ref().or(self.default.as_ref())
    }
}

pub(super) fn read_parameters(
    document: &Value,
) -> Result<BTreeMap<String, Parameter>, TemplateError> {
    let mut parameters = BTreeMap::new();
    let Some(declared) = document.get("Parameters").and_then(Value::as_mapping) else {
        return Ok(parameters);
    };
    for (name, declaration) in declared {
        let name = name.as_str().unwrap_or_default().to_owned();
        let problem = |problem| TemplateError::Parameter {
            name: name.clone(),
            problem,
        };
        let parameter_type = declaration.get("Type").and_then(Value::as_str);
        let default = match declaration.get("Default") {
            None | Some(Value::Null) => None,
            Some(value) => Some(scalar_text(value).ok_or_else(|| {
                problem(Problem::Expected(
                    "a Default that is a string, number or boolean",
                ))
            })?),
        };
        let allowed_values = match declaration.get("AllowedValues") {
            None => None,
            Some(Value::Sequence(values)) => Some(
                values
                    .iter()
                    .map(|value| {
                        scalar_text(value).ok_or_else(|| {
                            problem(Problem::Expected(
                                "AllowedValues that are strings or numbers",
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(problem(Problem::Expected("AllowedValues that are a list"))),
        };
        let is_list =
            parameter_type.is_some_and(|t| t == "CommaDelimitedList" || t.starts_with("List<"));
        parameters.insert(
            name,
            Parameter {
                is_list,
                default,
                allowed_values,
                given: None,
            },
        );
    }
    Ok(parameters)
}

/// The values given at deploy time (`Name=value` pairs), over the parameters' defaults.
/// CloudFormation refuses a name the template does not declare and a value outside the
/// parameter's `AllowedValues`.
pub(super) fn apply_overrides(
    parameters: &mut BTreeMap<String, Parameter>,
    overrides: &[(String, String)],
) -> Result<(), TemplateError> {
    for (name, value) in overrides {
        let parameter = parameters
            .get_mut(name)
            .ok_or_else(|| TemplateError::Parameter {
                name: name.clone(),
                problem: Problem::NotDeclared,
            })?;
        if let Some(allowed) = &parameter.allowed_values
            && !allowed.contains(value)
        {
            return Err(TemplateError::Parameter {
                name: name.clone(),
                problem: Problem::NotAllowed {
                    value: value.clone(),
                    allowed: allowed.join(", "),
                },
            });
        }
        parameter.given = Some(value.clone());
    }
    Ok(())
}

/// Evaluates every condition of the template, with the parameters' defaults.
pub(super) fn evaluate_conditions(
    document: &Value,
    parameters: &BTreeMap<String, Parameter>,
) -> Result<BTreeMap<String, bool>, TemplateError> {
    let Some(declared) = document.get("Conditions").and_then(Value::as_mapping) else {
        return Ok(BTreeMap::new());
    };
    let definitions: BTreeMap<&str, &Value> = declared
        .iter()
        .filter_map(|(name, definition)| Some((name.as_str()?, definition)))
        .collect();
    let evaluator = ConditionEvaluator {
        definitions: &definitions,
        parameters,
    };
    definitions
        .keys()
        .map(|name| {
            let value = evaluator.named(name, &mut Vec::new()).map_err(|problem| {
                TemplateError::Condition {
                    name: (*name).to_owned(),
                    problem,
                }
            })?;
            Ok(((*name).to_owned(), value))
        })
        .collect()
}

struct ConditionEvaluator<'a> {
    definitions: &'a BTreeMap<&'a str, &'a Value>,
    parameters: &'a BTreeMap<String, Parameter>,
}

impl ConditionEvaluator<'_> {
    /// `evaluating`: the conditions being evaluated, outermost first (a condition may name
    /// another with `!Condition`, but not itself).
    fn named(&self, name: &str, evaluating: &mut Vec<String>) -> Result<bool, Problem> {
        if evaluating.iter().any(|n| n == name) {
            return Err(Problem::ConditionCycle);
        }
        let definition = self
            .definitions
            .get(name)
            .ok_or_else(|| Problem::UnknownCondition(name.to_owned()))?;
        evaluating.push(name.to_owned());
        let value = self.evaluate(definition, evaluating);
        evaluating.pop();
        value
    }

    fn evaluate(&self, value: &Value, evaluating: &mut Vec<String>) -> Result<bool, Problem> {
        let (function, arguments) = intrinsic_call(value).ok_or(Problem::Expected(
            "a condition function (!Equals, !Not, !And, !Or, !Condition)",
        ))?;
        let function = function.as_str();
        match function {
            "Equals" => {
                let [left, right] = fixed_arguments(function, arguments, "[a, b]")?;
                Ok(self.operand(left)? == self.operand(right)?)
            }
            "Not" => {
                let [inner] = fixed_arguments(function, arguments, "[condition]")?;
                Ok(!self.evaluate(inner, evaluating)?)
            }
            "And" | "Or" => {
                let Value::Sequence(items) = arguments else {
                    return Err(Problem::Arguments {
                        function: function.to_owned(),
                        expected: "a list of conditions",
                    });
                };
                let mut values = Vec::new();
                for item in items {
                    values.push(self.evaluate(item, evaluating)?);
                }
                Ok(if function == "And" {
                    values.iter().all(|v| *v)
                } else {
                    values.iter().any(|v| *v)
                })
            }
            "Condition" => {
                let name = arguments.as_str().ok_or(Problem::Arguments {
                    function: function.to_owned(),
                    expected: "a condition name",
                })?;
                self.named(name, evaluating)
            }
            other => Err(Problem::UnsupportedIntrinsic(format!("Fn::{other}"))),
        }
    }

    /// A value compared by `!Equals`: a literal, or a parameter's value.
    fn operand(&self, value: &Value) -> Result<String, Problem> {
        match parse_expr(value)? {
            Expr::Literal(text) => Ok(text),
            Expr::Ref(name) => {
                let parameter = self
                    .parameters
                    .get(&name)
                    .ok_or_else(|| Problem::UnknownParameter(name.clone()))?;
                parameter.value().cloned().ok_or(Problem::NoDefault(name))
            }
            _ => Err(Problem::Unsupported(
                "a condition compares only literals and parameters",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cloudformation::template::Template;

    const TEMPLATE: &str = "Parameters:
  Cache: {Type: String, Default: 'false', AllowedValues: ['true', 'false']}
Conditions:
  CacheOn: !Equals [!Ref Cache, 'true']
Resources: {}
";

    fn with(overrides: &[(&str, &str)]) -> Result<Template, String> {
        let overrides: Vec<(String, String)> = overrides
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Template::parse_with_overrides(TEMPLATE, &overrides).map_err(|e| e.to_string())
    }

    #[test]
    fn a_value_given_at_deploy_time_replaces_the_default_in_conditions_and_refs() {
        assert!(!with(&[]).unwrap().condition("CacheOn"));
        let on = with(&[("Cache", "true")]).unwrap();
        assert!(on.condition("CacheOn"));
        assert_eq!(on.parameter_value("Cache").as_deref(), Some("true"));
        assert_eq!(on.parameter_default("Cache").as_deref(), Some("false"));
    }

    #[test]
    fn an_undeclared_parameter_or_a_value_outside_allowed_values_is_refused() {
        let unknown = with(&[("Cached", "true")]).unwrap_err();
        assert!(unknown.contains("Cached is not declared"), "{unknown}");
        let refused = with(&[("Cache", "yes")]).unwrap_err();
        assert!(refused.contains("cannot be \"yes\""), "{refused}");
    }
}
