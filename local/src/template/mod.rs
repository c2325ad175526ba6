//! # `template.yaml` as data: the CloudFormation model, read without CloudFormation
//!
//! A CloudFormation template declares each resource under a *logical id* (`OrdersTable`): a name
//! that exists only inside the template. The resource itself, once created, has a *physical id*
//! (the table's real name, a queue's URL, a key's id), which CloudFormation picks at deploy time.
//! Property values are therefore literals or *intrinsic functions*, evaluated at deploy time:
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
//! This module only *reads*: values become [`Expr`] trees, and [`crate::resources`], which knows
//! the physical ids, evaluates them. The template's `Conditions` are the exception: they depend
//! only on parameters (`!Equals [!Ref Environment, prod]`), so they are evaluated here, with each
//! parameter at its `Default` (the local stack takes no parameter overrides). A resource with a
//! `Condition` that does not hold is left out, as CloudFormation leaves it out of the stack.
//!
//! `Transform: AWS::Serverless-2016-10-31` makes it a SAM template: an `AWS::Serverless::Function`
//! stands for a function, its role and its event source mappings, and `Globals.Function` holds
//! properties every function shares. As SAM does, a function's properties are merged over the
//! globals: maps key by key, lists appended, anything else (an intrinsic function included)
//! replaced by the function's own value.
//!
//! Only what the local stack creates or runs is modelled: tables, KMS keys and aliases, topics,
//! queues, subscriptions, functions, the REST API's access control and answers (`api.rs`) and the
//! Cognito user pool behind it (`identity.rs`). Other resource types (queue policies, alarms, the
//! sampling rule) are not read, only remembered by type (see [`Template::resource_type`]), and
//! properties that make no difference locally (encryption at rest, IAM policies) are ignored. A
//! modelled property the local stack cannot honour is an error that names the resource.

mod api;
mod identity;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

pub use api::{
    ApiAuthSpec, ApiSpec, CognitoAuthorizerSpec, CorsSpec, GatewayResponseSpec, RouteAuth,
    UsagePlanSpec,
};
pub use identity::{PasswordPolicySpec, UserPoolClientSpec, UserPoolGroupSpec, UserPoolSpec};

/// A property value: a literal or an intrinsic function, evaluated by
/// [`Deployed::resolve`](crate::resources::Deployed::resolve).
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

/// The template: its parameters, evaluated conditions and the resources the local stack uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parameters: BTreeMap<String, Parameter>,
    conditions: BTreeMap<String, bool>,
    resource_types: BTreeMap<String, String>,
    tables: Vec<TableSpec>,
    keys: Vec<KeySpec>,
    aliases: Vec<AliasSpec>,
    topics: Vec<TopicSpec>,
    queues: Vec<QueueSpec>,
    subscriptions: Vec<SubscriptionSpec>,
    functions: Vec<FunctionSpec>,
    apis: Vec<ApiSpec>,
    user_pools: Vec<UserPoolSpec>,
    user_pool_clients: Vec<UserPoolClientSpec>,
    user_pool_groups: Vec<UserPoolGroupSpec>,
}

#[derive(Debug, Clone, PartialEq)]
struct Parameter {
    /// `CommaDelimitedList` and `List<...>` parameters are lists: `!Ref` gives every item.
    is_list: bool,
    default: Option<String>,
}

/// An `AWS::DynamoDB::Table`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub logical_id: String,
    /// (attribute name, type: `S`, `N` or `B`): only the attributes that keys use.
    pub attributes: Vec<(String, String)>,
    pub hash_key: String,
    pub range_key: Option<String>,
    /// Global secondary indexes.
    pub indexes: Vec<IndexSpec>,
    /// `NEW_AND_OLD_IMAGES`, ...; `None`: the table has no stream.
    pub stream_view_type: Option<String>,
    /// The TTL attribute, if TTL is enabled.
    pub ttl_attribute: Option<String>,
    /// `PAY_PER_REQUEST` or `PROVISIONED` (CloudFormation's default).
    pub billing_mode: String,
}

/// A global secondary index of a [`TableSpec`].
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    pub name: String,
    pub hash_key: String,
    pub range_key: Option<String>,
    /// `KEYS_ONLY`, `INCLUDE` or `ALL`.
    pub projection_type: String,
    /// With `INCLUDE`: the attributes copied into the index besides the keys.
    pub non_key_attributes: Vec<String>,
}

/// An `AWS::KMS::Key`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySpec {
    pub logical_id: String,
    pub description: Option<Expr>,
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

/// An `AWS::SNS::Topic`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSpec {
    pub logical_id: String,
    /// `TracingConfig: Active`.
    pub tracing_active: bool,
}

/// An `AWS::SQS::Queue`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub logical_id: String,
    pub visibility_timeout_seconds: Option<u32>,
    pub message_retention_seconds: Option<u32>,
    pub redrive: Option<Redrive>,
}

/// A queue's `RedrivePolicy`: where a message goes once received `max_receive_count` times.
#[derive(Debug, Clone, PartialEq)]
pub struct Redrive {
    /// The logical id of the dead-letter queue.
    pub dead_letter_queue: String,
    pub max_receive_count: u32,
}

/// An `AWS::SNS::Subscription` of a queue to a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSpec {
    pub logical_id: String,
    /// The logical id of the topic.
    pub topic: String,
    /// The logical id of the subscribed queue.
    pub queue: String,
    /// The queue gets the message itself rather than SNS's JSON envelope around it.
    pub raw_message_delivery: bool,
    pub filter_policy: Option<serde_json::Value>,
    /// `MessageAttributes` (SNS's default) or `MessageBody`.
    pub filter_policy_scope: Option<String>,
}

/// An `AWS::Serverless::Function`, with `Globals.Function` merged in.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// The workspace binary: `Metadata.BuildProperties.Binary`.
    pub binary: String,
    pub description: Option<String>,
    /// Lambda's default is 3.
    pub timeout_seconds: u64,
    /// Lambda's default is 128.
    pub memory_mb: u32,
    /// `Environment.Variables`, the globals' and the function's own (which win).
    pub environment: BTreeMap<String, Expr>,
    /// `LoggingConfig.LogFormat`: `JSON` or `Text`.
    pub log_format: Option<String>,
    /// `LoggingConfig.ApplicationLogLevel`.
    pub application_log_level: Option<Expr>,
    /// `Tracing: Active`.
    pub tracing_active: bool,
    pub events: Vec<EventSpec>,
}

/// One of a function's `Events`: what invokes it. Event types the local stack does not run
/// (`Schedule`, `S3`, ...) are left out.
#[derive(Debug, Clone, PartialEq)]
pub enum EventSpec {
    /// An API Gateway route.
    Api {
        name: String,
        path: String,
        /// Upper case: `GET`, `POST`, ...
        method: String,
        /// The logical id of its `AWS::Serverless::Api` (`RestApiId`); `None`: SAM's implicit API.
        rest_api: Option<String>,
        /// The route's own `Auth`, over the API's defaults.
        auth: RouteAuth,
    },
    /// An event source mapping on a queue.
    Sqs {
        name: String,
        /// The logical id of the queue.
        queue: String,
        /// Default 10.
        batch_size: u32,
        /// Default 0.
        batching_window_seconds: u32,
        report_batch_item_failures: bool,
    },
    /// An event source mapping on a table's stream.
    DynamoDbStream {
        name: String,
        /// The logical id of the table whose `StreamArn` the event names.
        table: String,
        /// `TRIM_HORIZON` or `LATEST`.
        starting_position: String,
        /// Default 100.
        batch_size: u32,
        /// Default 0.
        batching_window_seconds: u32,
        report_batch_item_failures: bool,
        /// `None`: Lambda's default, -1 (retry until the record expires).
        maximum_retry_attempts: Option<i64>,
        bisect_on_error: bool,
        /// `FilterCriteria.Filters[].Pattern`, parsed.
        filter_patterns: Vec<serde_json::Value>,
        /// The logical id of the queue of `DestinationConfig.OnFailure` (`Type: SQS`), where
        /// Lambda describes what it gives up on. An SNS topic destination is not played.
        on_failure_queue: Option<String>,
    },
}

/// Why the template cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the template {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the template is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("the template has no {0} section")]
    MissingSection(&'static str),
    /// A resource's property (a dotted path, `Properties.KeySchema[0].KeyType`) is wrong.
    #[error("{resource}: {property} {problem}")]
    Property {
        resource: String,
        property: String,
        problem: Problem,
    },
    #[error("parameter {name} {problem}")]
    Parameter { name: String, problem: Problem },
    #[error("condition {name} {problem}")]
    Condition { name: String, problem: Problem },
}

/// What is wrong with a value: the second half of a [`TemplateError`] message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("is missing")]
    Missing,
    #[error("should be {0}")]
    Expected(&'static str),
    #[error("uses {0}, which the local stack does not evaluate")]
    UnsupportedIntrinsic(String),
    #[error("uses {function} wrongly: it takes {expected}")]
    Arguments {
        function: String,
        expected: &'static str,
    },
    #[error("has a `${{` without its `}}`")]
    UnclosedSub,
    #[error("should name a resource of this template, with !Ref or !GetAtt")]
    NotAReference,
    #[error("names {logical_id}, which is not an {expected} of this template")]
    WrongTarget {
        logical_id: String,
        expected: &'static str,
    },
    #[error("is not valid JSON ({0})")]
    Json(String),
    #[error("names parameter {0}, which has no Default")]
    NoDefault(String),
    #[error("names {0}, which is not a parameter")]
    UnknownParameter(String),
    #[error("names condition {0}, which is not defined")]
    UnknownCondition(String),
    #[error("depends on itself")]
    ConditionCycle,
    #[error("is not supported by the local stack ({0})")]
    Unsupported(&'static str),
}

impl Template {
    /// Reads and parses the template file.
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&yaml)
    }

    /// Parses a template's text.
    pub fn parse(yaml: &str) -> Result<Self, TemplateError> {
        let document: Value = serde_norway::from_str(yaml)?;
        let parameters = read_parameters(&document)?;
        let conditions = evaluate_conditions(&document, &parameters)?;
        let resources = document
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or(TemplateError::MissingSection("Resources"))?;
        let function_globals = document.get("Globals").and_then(|g| g.get("Function"));
        let api_globals = document.get("Globals").and_then(|g| g.get("Api"));

        // First every resource's type: references between resources are checked against them.
        // A resource whose `Condition` does not hold is not part of the stack at all.
        let mut resource_types = BTreeMap::new();
        for (logical_id, resource) in resources {
            let logical_id = logical_id.as_str().ok_or(TemplateError::Property {
                resource: format!("{logical_id:?}"),
                property: "its logical id".into(),
                problem: Problem::Expected("a string"),
            })?;
            let resource = Node::root(logical_id, resource);
            if let Some(condition) = resource.field("Condition") {
                let name = condition.text()?;
                let holds = conditions
                    .get(&name)
                    .ok_or_else(|| condition.problem(Problem::UnknownCondition(name.clone())))?;
                if !holds {
                    continue;
                }
            }
            let resource_type = resource.required("Type")?.text()?;
            resource_types.insert(logical_id.to_owned(), resource_type);
        }

        let mut template = Template {
            parameters,
            conditions,
            resource_types,
            tables: Vec::new(),
            keys: Vec::new(),
            aliases: Vec::new(),
            topics: Vec::new(),
            queues: Vec::new(),
            subscriptions: Vec::new(),
            functions: Vec::new(),
            apis: Vec::new(),
            user_pools: Vec::new(),
            user_pool_clients: Vec::new(),
            user_pool_groups: Vec::new(),
        };
        for (logical_id, resource) in resources {
            let logical_id = logical_id.as_str().unwrap_or_default();
            let types = &template.resource_types;
            let Some(resource_type) = types.get(logical_id) else {
                continue; // its condition does not hold
            };
            let definition = Node::root(logical_id, resource);
            let properties = definition
                .field("Properties")
                .unwrap_or_else(|| definition.child("Properties"));
            match resource_type.as_str() {
                "AWS::DynamoDB::Table" => template.tables.push(read_table(&properties)?),
                "AWS::KMS::Key" => template.keys.push(read_key(&properties)?),
                "AWS::KMS::Alias" => template.aliases.push(read_alias(&properties, types)?),
                "AWS::SNS::Topic" => template.topics.push(read_topic(&properties)?),
                "AWS::SQS::Queue" => template.queues.push(read_queue(&properties, types)?),
                "AWS::SNS::Subscription" => template
                    .subscriptions
                    .push(read_subscription(&properties, types)?),
                "AWS::Serverless::Function" => {
                    template
                        .functions
                        .push(read_function(&definition, function_globals, types)?)
                }
                api::SERVERLESS_API => {
                    let merged = with_globals(&definition, api_globals);
                    let properties = Node {
                        value: &merged,
                        ..definition.child("Properties")
                    };
                    template.apis.push(api::read_api(&properties, types)?)
                }
                identity::USER_POOL => template
                    .user_pools
                    .push(identity::read_user_pool(&properties)?),
                "AWS::Cognito::UserPoolClient" => template
                    .user_pool_clients
                    .push(identity::read_user_pool_client(&properties, types)?),
                "AWS::Cognito::UserPoolGroup" => template
                    .user_pool_groups
                    .push(identity::read_user_pool_group(&properties, types)?),
                _ => {} // not part of the local stack
            }
        }
        Ok(template)
    }

    pub fn tables(&self) -> Vec<TableSpec> {
        self.tables.clone()
    }

    pub fn keys(&self) -> Vec<KeySpec> {
        self.keys.clone()
    }

    pub fn aliases(&self) -> Vec<AliasSpec> {
        self.aliases.clone()
    }

    pub fn topics(&self) -> Vec<TopicSpec> {
        self.topics.clone()
    }

    pub fn queues(&self) -> Vec<QueueSpec> {
        self.queues.clone()
    }

    pub fn subscriptions(&self) -> Vec<SubscriptionSpec> {
        self.subscriptions.clone()
    }

    pub fn functions(&self) -> Vec<FunctionSpec> {
        self.functions.clone()
    }

    pub fn apis(&self) -> Vec<ApiSpec> {
        self.apis.clone()
    }

    pub fn user_pools(&self) -> Vec<UserPoolSpec> {
        self.user_pools.clone()
    }

    pub fn user_pool_clients(&self) -> Vec<UserPoolClientSpec> {
        self.user_pool_clients.clone()
    }

    pub fn user_pool_groups(&self) -> Vec<UserPoolGroupSpec> {
        self.user_pool_groups.clone()
    }

    /// Whether the condition holds with every parameter at its default; `false` for a condition
    /// the template does not define.
    pub fn condition(&self, name: &str) -> bool {
        self.conditions.get(name).copied().unwrap_or(false)
    }

    /// Like [`Template::condition`], but `None` for an undefined condition.
    pub(crate) fn condition_value(&self, name: &str) -> Option<bool> {
        self.conditions.get(name).copied()
    }

    /// The parameter's `Default`, as text.
    pub fn parameter_default(&self, name: &str) -> Option<String> {
        self.parameters.get(name)?.default.clone()
    }

    /// Whether `name` is a parameter (with or without a default).
    pub(crate) fn has_parameter(&self, name: &str) -> bool {
        self.parameters.contains_key(name)
    }

    /// Whether `!Ref name` gives a list (a `CommaDelimitedList` or `List<...>` parameter).
    pub(crate) fn parameter_is_list(&self, name: &str) -> bool {
        self.parameters.get(name).is_some_and(|p| p.is_list)
    }

    /// The `Type` of any resource of the template, modelled or not (`AWS::Serverless::Api`).
    pub fn resource_type(&self, logical_id: &str) -> Option<&str> {
        self.resource_types.get(logical_id).map(String::as_str)
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters and conditions
// ---------------------------------------------------------------------------------------------

fn read_parameters(document: &Value) -> Result<BTreeMap<String, Parameter>, TemplateError> {
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
        let is_list =
            parameter_type.is_some_and(|t| t == "CommaDelimitedList" || t.starts_with("List<"));
        parameters.insert(name, Parameter { is_list, default });
    }
    Ok(parameters)
}

/// Evaluates every condition of the template, with the parameters' defaults.
fn evaluate_conditions(
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

    /// A value compared by `!Equals`: a literal, or a parameter at its default.
    fn operand(&self, value: &Value) -> Result<String, Problem> {
        match parse_expr(value)? {
            Expr::Literal(text) => Ok(text),
            Expr::Ref(name) => {
                let parameter = self
                    .parameters
                    .get(&name)
                    .ok_or_else(|| Problem::UnknownParameter(name.clone()))?;
                parameter.default.clone().ok_or(Problem::NoDefault(name))
            }
            _ => Err(Problem::Unsupported(
                "a condition compares only literals and parameters",
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

fn read_table(properties: &Node) -> Result<TableSpec, TemplateError> {
    let mut attributes = Vec::new();
    for attribute in properties.required("AttributeDefinitions")?.items()? {
        attributes.push((
            attribute.required("AttributeName")?.text()?,
            attribute.required("AttributeType")?.text()?,
        ));
    }
    let (hash_key, range_key) = key_schema(&properties.required("KeySchema")?)?;
    let mut indexes = Vec::new();
    if let Some(declared) = properties.field("GlobalSecondaryIndexes") {
        for index in declared.items()? {
            indexes.push(read_index(&index)?);
        }
    }
    if let Some(local_indexes) = properties.field("LocalSecondaryIndexes") {
        return Err(local_indexes.problem(Problem::Unsupported("local secondary indexes")));
    }
    let stream_view_type = match properties.field("StreamSpecification") {
        Some(stream) => stream.optional("StreamViewType", Node::text)?,
        None => None,
    };
    let ttl_attribute = match properties.field("TimeToLiveSpecification") {
        Some(ttl) if ttl.optional("Enabled", Node::flag)? == Some(true) => {
            Some(ttl.required("AttributeName")?.text()?)
        }
        _ => None,
    };
    let billing_mode = properties
        .optional("BillingMode", Node::text)?
        .unwrap_or_else(|| "PROVISIONED".into());
    Ok(TableSpec {
        logical_id: properties.resource.to_owned(),
        attributes,
        hash_key,
        range_key,
        indexes,
        stream_view_type,
        ttl_attribute,
        billing_mode,
    })
}

fn read_index(index: &Node) -> Result<IndexSpec, TemplateError> {
    let (hash_key, range_key) = key_schema(&index.required("KeySchema")?)?;
    let projection = index.required("Projection")?;
    let mut non_key_attributes = Vec::new();
    if let Some(attributes) = projection.field("NonKeyAttributes") {
        for attribute in attributes.items()? {
            non_key_attributes.push(attribute.text()?);
        }
    }
    Ok(IndexSpec {
        name: index.required("IndexName")?.text()?,
        hash_key,
        range_key,
        projection_type: projection
            .optional("ProjectionType", Node::text)?
            .unwrap_or_else(|| "KEYS_ONLY".into()),
        non_key_attributes,
    })
}

/// (HASH key, RANGE key) of a `KeySchema`.
fn key_schema(schema: &Node) -> Result<(String, Option<String>), TemplateError> {
    let mut hash_key = None;
    let mut range_key = None;
    for key in schema.items()? {
        let name = key.required("AttributeName")?.text()?;
        let key_type = key.required("KeyType")?;
        match key_type.text()?.as_str() {
            "HASH" => hash_key = Some(name),
            "RANGE" => range_key = Some(name),
            _ => return Err(key_type.problem(Problem::Expected("HASH or RANGE"))),
        }
    }
    let hash_key =
        hash_key.ok_or_else(|| schema.problem(Problem::Expected("a list with a HASH key")))?;
    Ok((hash_key, range_key))
}

fn read_key(properties: &Node) -> Result<KeySpec, TemplateError> {
    Ok(KeySpec {
        logical_id: properties.resource.to_owned(),
        description: properties.optional("Description", Node::expr)?,
    })
}

fn read_alias(properties: &Node, types: &ResourceTypes) -> Result<AliasSpec, TemplateError> {
    Ok(AliasSpec {
        logical_id: properties.resource.to_owned(),
        name: properties.required("AliasName")?.expr()?,
        target_key: properties
            .required("TargetKeyId")?
            .reference_to(KMS_KEY, types)?,
    })
}

fn read_topic(properties: &Node) -> Result<TopicSpec, TemplateError> {
    let tracing = properties.optional("TracingConfig", Node::text)?;
    Ok(TopicSpec {
        logical_id: properties.resource.to_owned(),
        tracing_active: tracing.as_deref() == Some("Active"),
    })
}

fn read_queue(properties: &Node, types: &ResourceTypes) -> Result<QueueSpec, TemplateError> {
    if let Some(fifo) = properties.field("FifoQueue")
        && fifo.flag()?
    {
        return Err(fifo.problem(Problem::Unsupported("FIFO queues")));
    }
    let redrive = match properties.field("RedrivePolicy") {
        Some(policy) => Some(Redrive {
            dead_letter_queue: policy
                .required("deadLetterTargetArn")?
                .reference_to(SQS_QUEUE, types)?,
            max_receive_count: policy.required("maxReceiveCount")?.number()?,
        }),
        None => None,
    };
    Ok(QueueSpec {
        logical_id: properties.resource.to_owned(),
        visibility_timeout_seconds: properties.optional("VisibilityTimeout", Node::number)?,
        message_retention_seconds: properties.optional("MessageRetentionPeriod", Node::number)?,
        redrive,
    })
}

fn read_subscription(
    properties: &Node,
    types: &ResourceTypes,
) -> Result<SubscriptionSpec, TemplateError> {
    let protocol = properties.required("Protocol")?;
    if protocol.text()? != "sqs" {
        return Err(protocol.problem(Problem::Unsupported("only sqs subscriptions")));
    }
    Ok(SubscriptionSpec {
        logical_id: properties.resource.to_owned(),
        topic: properties
            .required("TopicArn")?
            .reference_to(SNS_TOPIC, types)?,
        queue: properties
            .required("Endpoint")?
            .reference_to(SQS_QUEUE, types)?,
        raw_message_delivery: properties
            .optional("RawMessageDelivery", Node::flag)?
            .unwrap_or(false),
        filter_policy: properties.optional("FilterPolicy", Node::json)?,
        filter_policy_scope: properties.optional("FilterPolicyScope", Node::text)?,
    })
}

fn read_function(
    definition: &Node,
    globals: Option<&Value>,
    types: &ResourceTypes,
) -> Result<FunctionSpec, TemplateError> {
    let binary = definition
        .required("Metadata")?
        .required("BuildProperties")?
        .required("Binary")?
        .text()?;
    let merged = with_globals(definition, globals);
    let properties = Node {
        value: &merged,
        ..definition.child("Properties")
    };

    let mut environment = BTreeMap::new();
    if let Some(variables) = properties
        .field("Environment")
        .and_then(|e| e.field("Variables"))
    {
        for (name, value) in variables.entries()? {
            environment.insert(name, value.expr()?);
        }
    }
    let logging = properties.field("LoggingConfig");
    let mut events = Vec::new();
    if let Some(declared) = properties.field("Events") {
        for (name, event) in declared.entries()? {
            events.extend(read_event(name, &event, types)?);
        }
    }
    Ok(FunctionSpec {
        logical_id: definition.resource.to_owned(),
        binary,
        description: properties.optional("Description", Node::text)?,
        timeout_seconds: properties.optional("Timeout", Node::number)?.unwrap_or(3),
        memory_mb: properties
            .optional("MemorySize", Node::number)?
            .unwrap_or(128),
        environment,
        log_format: match &logging {
            Some(logging) => logging.optional("LogFormat", Node::text)?,
            None => None,
        },
        application_log_level: match &logging {
            Some(logging) => logging.optional("ApplicationLogLevel", Node::expr)?,
            None => None,
        },
        tracing_active: properties.optional("Tracing", Node::text)?.as_deref() == Some("Active"),
        events,
    })
}

/// A resource's `Properties` with the template's `Globals` for its type merged in.
fn with_globals(definition: &Node, globals: Option<&Value>) -> Value {
    let own = definition.value.get("Properties").unwrap_or(&Value::Null);
    match globals {
        Some(globals) => merge_globals(globals, own),
        None => own.clone(),
    }
}

/// One event of a function; `None` for an event type the local stack does not run.
fn read_event(
    name: String,
    event: &Node,
    types: &ResourceTypes,
) -> Result<Option<EventSpec>, TemplateError> {
    let properties = event.required("Properties")?;
    let event = match event.required("Type")?.text()?.as_str() {
        "Api" => EventSpec::Api {
            name,
            path: properties.required("Path")?.text()?,
            method: properties.required("Method")?.text()?.to_uppercase(),
            rest_api: properties.optional("RestApiId", |api| {
                api.reference_to(api::SERVERLESS_API, types)
            })?,
            auth: api::read_route_auth(&properties)?,
        },
        "SQS" => EventSpec::Sqs {
            name,
            queue: properties
                .required("Queue")?
                .reference_to(SQS_QUEUE, types)?,
            batch_size: properties
                .optional("BatchSize", Node::number)?
                .unwrap_or(10),
            batching_window_seconds: properties
                .optional("MaximumBatchingWindowInSeconds", Node::number)?
                .unwrap_or(0),
            report_batch_item_failures: reports_batch_item_failures(&properties)?,
        },
        "DynamoDB" => {
            let mut filter_patterns = Vec::new();
            if let Some(filters) = properties
                .field("FilterCriteria")
                .and_then(|c| c.field("Filters"))
            {
                for filter in filters.items()? {
                    filter_patterns.push(filter.required("Pattern")?.json()?);
                }
            }
            EventSpec::DynamoDbStream {
                name,
                table: properties
                    .required("Stream")?
                    .reference_to(DYNAMODB_TABLE, types)?,
                starting_position: properties.required("StartingPosition")?.text()?,
                batch_size: properties
                    .optional("BatchSize", Node::number)?
                    .unwrap_or(100),
                batching_window_seconds: properties
                    .optional("MaximumBatchingWindowInSeconds", Node::number)?
                    .unwrap_or(0),
                report_batch_item_failures: reports_batch_item_failures(&properties)?,
                maximum_retry_attempts: properties
                    .optional("MaximumRetryAttempts", Node::number)?,
                bisect_on_error: properties
                    .optional("BisectBatchOnFunctionError", Node::flag)?
                    .unwrap_or(false),
                filter_patterns,
                on_failure_queue: on_failure_queue(&properties, types)?,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(event))
}

/// `DestinationConfig.OnFailure.Destination` of a stream event, when `Type` is `SQS`.
fn on_failure_queue(
    properties: &Node,
    types: &ResourceTypes,
) -> Result<Option<String>, TemplateError> {
    let Some(on_failure) = properties
        .field("DestinationConfig")
        .and_then(|config| config.field("OnFailure"))
    else {
        return Ok(None);
    };
    if on_failure.required("Type")?.text()? != "SQS" {
        return Ok(None);
    }
    on_failure
        .required("Destination")?
        .reference_to(SQS_QUEUE, types)
        .map(Some)
}

fn reports_batch_item_failures(properties: &Node) -> Result<bool, TemplateError> {
    let Some(types) = properties.field("FunctionResponseTypes") else {
        return Ok(false);
    };
    for response_type in types.items()? {
        if response_type.text()? == "ReportBatchItemFailures" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// SAM's rule for `Globals`: maps merge key by key, lists are appended, anything else (an
/// intrinsic function too) is replaced by the function's own value.
fn merge_globals(global: &Value, own: &Value) -> Value {
    match (global, own) {
        (Value::Mapping(global), Value::Mapping(own))
            if !is_long_form_intrinsic(global) && !is_long_form_intrinsic(own) =>
        {
            let mut merged = global.clone();
            for (key, value) in own {
                let value = match global.get(key) {
                    Some(global_value) => merge_globals(global_value, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), value);
            }
            Value::Mapping(merged)
        }
        (Value::Sequence(global), Value::Sequence(own)) => {
            Value::Sequence(global.iter().chain(own).cloned().collect())
        }
        (global, Value::Null) => global.clone(),
        (_, own) => own.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Intrinsic functions
// ---------------------------------------------------------------------------------------------

/// The function name (`Ref`, `GetAtt`, ...) and arguments of an intrinsic function, in either
/// form: the tag `!GetAtt X.Arn` or the one-key map `{"Fn::GetAtt": [X, Arn]}`.
fn intrinsic_call(value: &Value) -> Option<(String, &Value)> {
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
fn is_long_form_intrinsic(map: &Mapping) -> bool {
    map.len() == 1
        && map
            .keys()
            .filter_map(Value::as_str)
            .any(|key| key == "Ref" || key == "Condition" || key.starts_with("Fn::"))
}

/// Reads a property value into an [`Expr`].
fn parse_expr(value: &Value) -> Result<Expr, Problem> {
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
fn fixed_arguments<'v, const N: usize>(
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
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Reading properties with their location
// ---------------------------------------------------------------------------------------------

type ResourceTypes = BTreeMap<String, String>;

const DYNAMODB_TABLE: &str = "AWS::DynamoDB::Table";
const KMS_KEY: &str = "AWS::KMS::Key";
const SNS_TOPIC: &str = "AWS::SNS::Topic";
const SQS_QUEUE: &str = "AWS::SQS::Queue";

/// A value inside one resource and where it is, so that every error names the resource and the
/// property path.
struct Node<'a> {
    resource: &'a str,
    path: String,
    value: &'a Value,
}

impl<'a> Node<'a> {
    fn root(resource: &'a str, value: &'a Value) -> Self {
        Node {
            resource,
            path: String::new(),
            value,
        }
    }

    /// Where `key` would be (whether it is there or not).
    fn child(&self, key: &str) -> Node<'a> {
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

    fn problem(&self, problem: Problem) -> TemplateError {
        TemplateError::Property {
            resource: self.resource.to_owned(),
            property: self.path.clone(),
            problem,
        }
    }

    /// The value of `key`; `None` if absent or null.
    fn field(&self, key: &str) -> Option<Node<'a>> {
        let value = self.value.get(key).filter(|v| !v.is_null())?;
        Some(Node {
            value,
            ..self.child(key)
        })
    }

    fn required(&self, key: &str) -> Result<Node<'a>, TemplateError> {
        self.field(key)
            .ok_or_else(|| self.child(key).problem(Problem::Missing))
    }

    /// `read` applied to `key`'s value, if there is one.
    fn optional<T>(
        &self,
        key: &str,
        read: impl FnOnce(&Node<'a>) -> Result<T, TemplateError>,
    ) -> Result<Option<T>, TemplateError> {
        self.field(key).map(|node| read(&node)).transpose()
    }

    fn text(&self) -> Result<String, TemplateError> {
        scalar_text(self.value).ok_or_else(|| self.problem(Problem::Expected("a string")))
    }

    fn number<T: TryFrom<i64>>(&self) -> Result<T, TemplateError> {
        let number = match self.value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        number
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| self.problem(Problem::Expected("a whole number in range")))
    }

    fn flag(&self) -> Result<bool, TemplateError> {
        match self.value {
            Value::Bool(flag) => Ok(*flag),
            Value::String(text) if text == "true" => Ok(true),
            Value::String(text) if text == "false" => Ok(false),
            _ => Err(self.problem(Problem::Expected("true or false"))),
        }
    }

    fn expr(&self) -> Result<Expr, TemplateError> {
        parse_expr(self.value).map_err(|problem| self.problem(problem))
    }

    /// A JSON document, given as a YAML map or as a string of JSON.
    fn json(&self) -> Result<serde_json::Value, TemplateError> {
        let parsed = match self.value {
            Value::String(text) => serde_json::from_str(text),
            other => serde_json::to_value(other),
        };
        parsed.map_err(|e| self.problem(Problem::Json(e.to_string())))
    }

    fn items(&self) -> Result<Vec<Node<'a>>, TemplateError> {
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

    fn entries(&self) -> Result<Vec<(String, Node<'a>)>, TemplateError> {
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
    fn reference_to(
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");

    /// The project's `template.yaml`.
    pub(super) fn real_template() -> Template {
        Template::load(Path::new(TEMPLATE_PATH)).expect("template.yaml parses")
    }

    fn function(template: &Template, logical_id: &str) -> FunctionSpec {
        template
            .functions()
            .into_iter()
            .find(|f| f.logical_id == logical_id)
            .unwrap_or_else(|| panic!("no function {logical_id}"))
    }

    fn get_att(resource: &str, attribute: &str) -> Expr {
        Expr::GetAtt(resource.into(), attribute.into())
    }

    /// `value` as the one environment variable `X` of a one-function template.
    fn parse_value(value: &str) -> Result<Expr, TemplateError> {
        let yaml = format!(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: f\n    Properties:\n      Environment:\n        Variables:\n          X: {value}\n"
        );
        let template = Template::parse(&yaml)?;
        Ok(template.functions()[0].environment["X"].clone())
    }

    #[test]
    fn the_orders_table_has_its_keys_index_stream_and_ttl() {
        let tables = real_template().tables();
        assert_eq!(tables.len(), 1);
        let table = &tables[0];
        assert_eq!(table.logical_id, "OrdersTable");
        assert_eq!(table.hash_key, "pk");
        assert_eq!(table.range_key.as_deref(), Some("sk"));
        assert!(
            table
                .attributes
                .contains(&("customerId".into(), "S".into()))
        );
        assert_eq!(table.billing_mode, "PAY_PER_REQUEST");
        assert_eq!(
            table.stream_view_type.as_deref(),
            Some("NEW_AND_OLD_IMAGES")
        );
        assert_eq!(table.ttl_attribute.as_deref(), Some("expiresAt"));

        let [index] = table.indexes.as_slice() else {
            panic!("one GSI, got {:?}", table.indexes);
        };
        assert_eq!(index.name, "byCustomer");
        assert_eq!(index.hash_key, "customerId");
        assert_eq!(index.range_key.as_deref(), Some("createdAt"));
        assert_eq!(index.projection_type, "INCLUDE");
        assert!(index.non_key_attributes.contains(&"status".into()));
        assert!(
            !index
                .non_key_attributes
                .contains(&"encryptedPayment".into())
        );
    }

    #[test]
    fn every_function_names_its_binary() {
        let binaries: Vec<(String, String)> = real_template()
            .functions()
            .into_iter()
            .map(|f| (f.logical_id, f.binary))
            .collect();
        let expected = [
            ("CreateOrderFunction", "create-order"),
            ("GetOrderFunction", "get-order"),
            ("UpdateOrderFunction", "update-order"),
            ("CancelOrderFunction", "cancel-order"),
            ("ListOrdersFunction", "list-orders"),
            ("PublishEventsFunction", "publish-events"),
            ("FulfillOrderFunction", "fulfill-order"),
            ("RecordAuditFunction", "record-audit"),
            ("PreTrafficCheckFunction", "pre-traffic-check"),
        ]
        .map(|(id, binary)| (id.to_owned(), binary.to_owned()));
        assert_eq!(binaries, expected);
    }

    #[test]
    fn functions_merge_globals_under_their_own_properties() {
        let create = function(&real_template(), "CreateOrderFunction");
        assert_eq!(
            create.environment["TABLE_NAME"],
            Expr::Ref("OrdersTable".into())
        );
        assert_eq!(
            create.environment["PAYMENT_KEY_ID"],
            get_att("OrdersKey", "Arn")
        );
        assert_eq!(
            create.environment["DATA_KEY_CACHE_MAX_MESSAGES"],
            Expr::Literal("100".into())
        );
        assert_eq!(create.timeout_seconds, 10);
        assert_eq!(create.memory_mb, 256);
        assert!(create.tracing_active);
        assert_eq!(create.log_format.as_deref(), Some("JSON"));
        assert_eq!(
            create.application_log_level,
            Some(Expr::Ref("LogLevel".into()))
        );
        assert!(create.description.unwrap().starts_with("POST /orders"));
    }

    #[test]
    fn api_events_give_paths_and_upper_case_methods() {
        let routes: Vec<(String, String, String)> = real_template()
            .functions()
            .into_iter()
            .flat_map(|f| {
                f.events.into_iter().filter_map(move |event| match event {
                    EventSpec::Api { path, method, .. } => {
                        Some((f.logical_id.clone(), method, path))
                    }
                    _ => None,
                })
            })
            .collect();
        let expected = [
            ("CreateOrderFunction", "POST", "/orders"),
            ("GetOrderFunction", "GET", "/orders/{orderId}"),
            ("UpdateOrderFunction", "PATCH", "/orders/{orderId}"),
            ("CancelOrderFunction", "POST", "/orders/{orderId}/cancel"),
            ("ListOrdersFunction", "GET", "/orders"),
        ]
        .map(|(f, m, p)| (f.to_owned(), m.to_owned(), p.to_owned()));
        assert_eq!(routes, expected);
    }

    #[test]
    fn sqs_events_name_their_queues() {
        let template = real_template();
        for (function_id, expected_queue) in [
            ("FulfillOrderFunction", "FulfillmentQueue"),
            ("RecordAuditFunction", "AuditQueue"),
        ] {
            let events = function(&template, function_id).events;
            let [
                EventSpec::Sqs {
                    queue,
                    batch_size,
                    batching_window_seconds,
                    report_batch_item_failures,
                    ..
                },
            ] = events.as_slice()
            else {
                panic!("{function_id}: one SQS event, got {events:?}");
            };
            assert_eq!(queue, expected_queue);
            assert_eq!(*batch_size, 10);
            assert_eq!(*batching_window_seconds, 1);
            assert!(report_batch_item_failures);
        }
    }

    #[test]
    fn the_stream_event_reads_the_orders_table_with_retries_bisect_and_a_filter() {
        let events = function(&real_template(), "PublishEventsFunction").events;
        let [
            EventSpec::DynamoDbStream {
                name,
                table,
                starting_position,
                batch_size,
                report_batch_item_failures,
                maximum_retry_attempts,
                bisect_on_error,
                filter_patterns,
                on_failure_queue,
                ..
            },
        ] = events.as_slice()
        else {
            panic!("one stream event, got {events:?}");
        };
        assert_eq!(name, "OrderChanges");
        assert_eq!(table, "OrdersTable");
        assert_eq!(starting_position, "TRIM_HORIZON");
        assert_eq!(*batch_size, 100);
        assert!(report_batch_item_failures);
        assert_eq!(*maximum_retry_attempts, Some(5));
        assert!(bisect_on_error);
        assert_eq!(
            filter_patterns,
            &[serde_json::json!({"dynamodb": {"Keys": {"sk": {"S": ["ORDER"]}}}})]
        );
        assert_eq!(on_failure_queue.as_deref(), Some("StreamFailureQueue"));
    }

    #[test]
    fn queues_redrive_to_their_dead_letter_queues() {
        let queues = real_template().queues();
        let redrive = |id: &str| {
            queues
                .iter()
                .find(|q| q.logical_id == id)
                .unwrap_or_else(|| panic!("no queue {id}"))
                .redrive
                .clone()
        };
        assert_eq!(
            redrive("FulfillmentQueue"),
            Some(Redrive {
                dead_letter_queue: "FulfillmentDeadLetterQueue".into(),
                max_receive_count: 5
            })
        );
        assert_eq!(
            redrive("AuditQueue").map(|r| r.dead_letter_queue),
            Some("AuditDeadLetterQueue".into())
        );
        assert_eq!(redrive("FulfillmentDeadLetterQueue"), None);
        let fulfillment = queues.iter().find(|q| q.logical_id == "FulfillmentQueue");
        assert_eq!(fulfillment.unwrap().visibility_timeout_seconds, Some(60));
        assert_eq!(queues.len(), 5);
    }

    #[test]
    fn subscriptions_deliver_raw_and_fulfillment_filters_on_event_type() {
        let subscriptions = real_template().subscriptions();
        assert_eq!(
            subscriptions[0],
            SubscriptionSpec {
                logical_id: "FulfillmentSubscription".into(),
                topic: "OrderEventsTopic".into(),
                queue: "FulfillmentQueue".into(),
                raw_message_delivery: true,
                filter_policy: Some(serde_json::json!({"eventType": ["OrderPlaced"]})),
                filter_policy_scope: Some("MessageAttributes".into()),
            }
        );
        assert_eq!(subscriptions[1].queue, "AuditQueue");
        assert!(subscriptions[1].raw_message_delivery);
        assert_eq!(subscriptions[1].filter_policy, None);
    }

    #[test]
    fn the_key_alias_is_a_sub_on_the_stack_name() {
        let template = real_template();
        assert_eq!(
            template.aliases(),
            [AliasSpec {
                logical_id: "OrdersKeyAlias".into(),
                name: Expr::Sub("alias/${AWS::StackName}-orders".into()),
                target_key: "OrdersKey".into(),
            }]
        );
        assert_eq!(template.keys()[0].logical_id, "OrdersKey");
        assert!(matches!(template.keys()[0].description, Some(Expr::Sub(_))));
        assert_eq!(
            template.topics(),
            [TopicSpec {
                logical_id: "OrderEventsTopic".into(),
                tracing_active: true
            }]
        );
    }

    #[test]
    fn conditions_and_parameters_take_the_defaults() {
        let template = real_template();
        assert!(!template.condition("IsProd"));
        assert!(!template.condition("NoSuchCondition"));
        assert_eq!(
            template.parameter_default("Environment").as_deref(),
            Some("dev")
        );
        assert_eq!(
            template.parameter_default("LogLevel").as_deref(),
            Some("INFO")
        );
        assert_eq!(
            template.resource_type("OrdersApi"),
            Some("AWS::Serverless::Api")
        );
    }

    #[test]
    fn conditions_combine_with_not_and_or() {
        let template = Template::parse(
            "Parameters:\n  Env: {Type: String, Default: prod}\n  Region: {Type: String, Default: eu}\nConditions:\n  IsProd: !Equals [!Ref Env, prod]\n  IsEu: {'Fn::Equals': [{Ref: Region}, eu]}\n  ProdOutsideEu: !And [!Condition IsProd, !Not [!Condition IsEu]]\n  ProdOrEu: {'Fn::Or': [{Condition: IsProd}, !Condition IsEu]}\nResources: {}\n",
        )
        .unwrap();
        assert!(template.condition("IsProd"));
        assert!(template.condition("IsEu"));
        assert!(!template.condition("ProdOutsideEu"));
        assert!(template.condition("ProdOrEu"));
    }

    #[test]
    fn a_condition_on_an_unknown_parameter_is_an_error() {
        let error =
            Template::parse("Conditions:\n  IsProd: !Equals [!Ref Stage, prod]\nResources: {}\n")
                .unwrap_err();
        assert_eq!(
            error.to_string(),
            "condition IsProd names Stage, which is not a parameter"
        );
    }

    #[test]
    fn ref_and_get_att_in_short_and_long_form() {
        assert_eq!(parse_value("!Ref T").unwrap(), Expr::Ref("T".into()));
        assert_eq!(parse_value("{Ref: T}").unwrap(), Expr::Ref("T".into()));
        assert_eq!(parse_value("!GetAtt T.Arn").unwrap(), get_att("T", "Arn"));
        assert_eq!(
            parse_value("!GetAtt [T, Arn]").unwrap(),
            get_att("T", "Arn")
        );
        assert_eq!(
            parse_value("{'Fn::GetAtt': [T, StreamArn]}").unwrap(),
            get_att("T", "StreamArn")
        );
        assert_eq!(
            parse_value("{'Fn::GetAtt': T.Arn}").unwrap(),
            get_att("T", "Arn")
        );
    }

    #[test]
    fn sub_in_short_and_long_form_with_and_without_variables() {
        let sub = Expr::Sub("${AWS::StackName}-${T.Arn}".into());
        assert_eq!(
            parse_value("!Sub '${AWS::StackName}-${T.Arn}'").unwrap(),
            sub
        );
        assert_eq!(
            parse_value("{'Fn::Sub': '${AWS::StackName}-${T.Arn}'}").unwrap(),
            sub
        );
        assert_eq!(
            parse_value("!Sub ['${A}-x', {A: !Ref T}]").unwrap(),
            Expr::SubWith(
                "${A}-x".into(),
                BTreeMap::from([("A".into(), Expr::Ref("T".into()))])
            )
        );
        assert_eq!(
            parse_value("{'Fn::Sub': ['${A}', {A: b}]}").unwrap(),
            Expr::SubWith(
                "${A}".into(),
                BTreeMap::from([("A".into(), Expr::Literal("b".into()))])
            )
        );
    }

    #[test]
    fn sub_strings_split_into_text_and_variables() {
        assert_eq!(
            sub_parts("arn:${AWS::Partition}:x:${T.Arn}/${!Literal}").unwrap(),
            [
                SubPart::Text("arn:".into()),
                SubPart::Variable("AWS::Partition"),
                SubPart::Text(":x:".into()),
                SubPart::Variable("T.Arn"),
                SubPart::Text("/".into()),
                SubPart::Text("${Literal}".into()),
            ]
        );
        assert_eq!(sub_parts("a-${B"), Err(Problem::UnclosedSub));
    }

    #[test]
    fn if_join_select_split_in_short_and_long_form() {
        let if_expr = Expr::If(
            "IsProd".into(),
            Box::new(Expr::Literal("true".into())),
            Box::new(Expr::Literal("false".into())),
        );
        assert_eq!(parse_value("!If [IsProd, true, false]").unwrap(), if_expr);
        assert_eq!(
            parse_value("{'Fn::If': [IsProd, true, false]}").unwrap(),
            if_expr
        );

        let join = Expr::Join(
            "-".into(),
            vec![Expr::Literal("a".into()), Expr::Ref("T".into())],
        );
        assert_eq!(parse_value("!Join ['-', [a, !Ref T]]").unwrap(), join);
        assert_eq!(
            parse_value("{'Fn::Join': ['-', [a, {Ref: T}]]}").unwrap(),
            join
        );

        let split = Expr::Split("/".into(), Box::new(Expr::Ref("AWS::StackId".into())));
        let select = Expr::Select(2, Box::new(split.clone()));
        assert_eq!(
            parse_value("!Select [2, !Split ['/', !Ref AWS::StackId]]").unwrap(),
            select
        );
        assert_eq!(
            parse_value("{'Fn::Select': ['2', {'Fn::Split': ['/', {Ref: AWS::StackId}]}]}")
                .unwrap(),
            select
        );
        // A Join over a function that gives a list.
        assert_eq!(
            parse_value("!Join [',', !Split ['/', !Ref AWS::StackId]]").unwrap(),
            Expr::Join(",".into(), vec![split])
        );
        assert_eq!(
            parse_value("[a, 5]").unwrap(),
            Expr::List(vec![Expr::Literal("a".into()), Expr::Literal("5".into())])
        );
    }

    #[test]
    fn an_unknown_intrinsic_is_an_error_naming_resource_and_property() {
        let error = parse_value("!Base64 abc").unwrap_err();
        assert_eq!(
            error.to_string(),
            "F: Properties.Environment.Variables.X uses Fn::Base64, which the local stack does not evaluate"
        );
        let error = parse_value("!GetAtt NoAttribute").unwrap_err();
        assert!(
            matches!(&error, TemplateError::Property { problem: Problem::Arguments { function, .. }, .. } if function == "GetAtt"),
            "{error}"
        );
    }

    #[test]
    fn a_table_without_a_key_schema_is_an_error_naming_it() {
        let error = Template::parse(
            "Resources:\n  BrokenTable:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      AttributeDefinitions:\n        - {AttributeName: pk, AttributeType: S}\n",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "BrokenTable: Properties.KeySchema is missing"
        );
    }

    #[test]
    fn a_subscription_to_a_missing_queue_is_an_error_naming_it() {
        let error = Template::parse(
            "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n  Sub:\n    Type: AWS::SNS::Subscription\n    Properties:\n      TopicArn: !Ref Topic\n      Protocol: sqs\n      Endpoint: !GetAtt Queu.Arn\n",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "Sub: Properties.Endpoint names Queu, which is not an AWS::SQS::Queue of this template"
        );
    }

    #[test]
    fn a_key_schema_without_a_hash_key_is_an_error() {
        let error = Template::parse(
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      AttributeDefinitions: []\n      KeySchema:\n        - {AttributeName: sk, KeyType: RANGE}\n",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "T: Properties.KeySchema should be a list with a HASH key"
        );
    }

    #[test]
    fn a_resource_whose_condition_does_not_hold_is_left_out() {
        let template = Template::parse(
            "Parameters:\n  Env: {Type: String, Default: dev}\nConditions:\n  IsProd: !Equals [!Ref Env, prod]\nResources:\n  ProdOnly:\n    Type: AWS::SNS::Topic\n    Condition: IsProd\n  Always:\n    Type: AWS::SNS::Topic\n",
        )
        .unwrap();
        let topics: Vec<String> = template
            .topics()
            .into_iter()
            .map(|t| t.logical_id)
            .collect();
        assert_eq!(topics, ["Always"]);
        assert_eq!(template.resource_type("ProdOnly"), None);
    }

    #[test]
    fn unknown_resource_types_are_ignored() {
        let template =
            Template::parse("Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n").unwrap();
        assert_eq!(template.resource_type("Bucket"), Some("AWS::S3::Bucket"));
        assert!(template.tables().is_empty());
    }
}
