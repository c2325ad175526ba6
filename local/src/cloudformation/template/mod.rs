//! # `template.yaml` as data: the CloudFormation model, read without CloudFormation
//!
//! A CloudFormation template declares each resource under a *logical id* (`OrdersTable`): a name
//! that exists only inside the template. The resource itself, once created, has a *physical id*
//! (the table's real name, a queue's URL, a key's id), which CloudFormation picks at deploy time.
//! Property values are therefore literals or *intrinsic functions* (see [`super::intrinsics`]),
//! evaluated at deploy time.
//!
//! This module only *reads*: values become [`Expr`] trees, evaluated once [`super::resources`]
//! knows the physical ids. The template's `Conditions` are the exception: they depend
//! only on parameters (`!Equals [!Ref Environment, prod]`), so they are evaluated here, with each
//! parameter at the value given at deploy time ([`Template::load_with_overrides`]) or its
//! `Default`. A resource with a
//! `Condition` that does not hold is left out, as CloudFormation leaves it out of the stack.
//!
//! `Transform: AWS::Serverless-2016-10-31` makes it a SAM template: an `AWS::Serverless::Function`
//! stands for a function, its role and its event source mappings, and `Globals.Function` holds
//! properties every function shares. As SAM does, a function's properties are merged over the
//! globals: maps key by key, lists appended, anything else (an intrinsic function included)
//! replaced by the function's own value.
//!
//! Only what the local stack creates or runs is modelled: tables, KMS keys and aliases, secrets
//! (`secrets.rs`), topics,
//! queues, subscriptions, functions, the REST API's access control and answers (`api.rs`) and the
//! Cognito user pool behind it (`identity.rs`). Other resource types (queue policies, alarms, the
//! sampling rule) are not read, only remembered by type (see [`Template::resource_type`]), and
//! properties that make no difference locally (a table's encryption at rest, key policies, IAM
//! policies) are ignored. The key a topic, queue or secret is encrypted with is read
//! (`KmsMasterKeyId`, `KmsKeyId`), so that the local resources carry it as AWS's would. A
//! modelled property the local stack cannot honour, or that the service would refuse, is an error
//! that names the resource.
//!
//! One file a concept: `parameters.rs` (parameters and conditions), `node.rs` (properties with their location), and one file per
//! resource kind: `table.rs`, `keys.rs`, `messaging.rs` (topics, queues, subscriptions),
//! `functions.rs` (functions and their events), `api.rs` (with `method_settings.rs`, its stage's
//! throttling), `identity.rs`.

mod api;
mod functions;
mod identity;
mod keys;
mod messaging;
mod method_settings;
mod node;
mod parameters;
mod secrets;
mod table;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

use super::intrinsics::Expr;

pub use api::{
    ApiAuthSpec, ApiSpec, CognitoAuthorizerSpec, CorsSpec, GatewayResponseSpec, RouteAuth,
    UsagePlanSpec,
};
pub use functions::{EventSpec, FunctionSpec};
pub use identity::{PasswordPolicySpec, UserPoolClientSpec, UserPoolGroupSpec, UserPoolSpec};
pub use keys::{AliasSpec, KeySpec};
pub use messaging::{QueueSpec, Redrive, SnsEventSpec, SubscriptionSpec, TopicSpec};
pub use method_settings::MethodSettingSpec;
pub use secrets::{PasswordSpec, SecretSpec, SecretValue};
pub use table::{IndexSpec, TableSpec};

use functions::{read_function, with_globals};
use keys::{read_alias, read_key};
use messaging::{read_queue, read_subscription, read_topic};
use node::{DYNAMODB_TABLE, KMS_ALIAS, KMS_KEY, Node, ResourceTypes, SNS_TOPIC, SQS_QUEUE};
use parameters::{Parameter, apply_overrides, evaluate_conditions, read_parameters};
use secrets::read_secret;
use table::read_table;

/// The template: its parameters, evaluated conditions and the resources the local stack uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parameters: BTreeMap<String, Parameter>,
    conditions: BTreeMap<String, bool>,
    resource_types: BTreeMap<String, String>,
    /// Each resource's `DeletionPolicy` (`Retain`, `Delete`, ...), where the template sets one.
    deletion_policies: BTreeMap<String, String>,
    tables: Vec<TableSpec>,
    keys: Vec<KeySpec>,
    aliases: Vec<AliasSpec>,
    secrets: Vec<SecretSpec>,
    topics: Vec<TopicSpec>,
    queues: Vec<QueueSpec>,
    subscriptions: Vec<SubscriptionSpec>,
    functions: Vec<FunctionSpec>,
    apis: Vec<ApiSpec>,
    user_pools: Vec<UserPoolSpec>,
    user_pool_clients: Vec<UserPoolClientSpec>,
    user_pool_groups: Vec<UserPoolGroupSpec>,
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
    #[error("is not declared in the template's Parameters")]
    NotDeclared,
    #[error("cannot be {value:?}: its AllowedValues are {allowed}")]
    NotAllowed { value: String, allowed: String },
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
        Self::load_with_overrides(path, &[])
    }

    /// Reads and parses the template file with parameter values given at deploy time
    /// (`ApiCacheEnabled=true`), as `sam deploy --parameter-overrides` gives them.
    pub fn load_with_overrides(
        path: &Path,
        overrides: &[(String, String)],
    ) -> Result<Self, TemplateError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_with_overrides(&yaml, overrides)
    }

    /// Parses a template's text.
    pub fn parse(yaml: &str) -> Result<Self, TemplateError> {
        Self::parse_with_overrides(yaml, &[])
    }

    /// Parses a template's text with parameter values given at deploy time.
    pub fn parse_with_overrides(
        yaml: &str,
        overrides: &[(String, String)],
    ) -> Result<Self, TemplateError> {
        let document: Value = serde_norway::from_str(yaml)?;
        let mut parameters = read_parameters(&document)?;
        apply_overrides(&mut parameters, overrides)?;
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
        let mut deletion_policies = BTreeMap::new();
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
            if let Some(policy) = resource.field("DeletionPolicy") {
                deletion_policies.insert(logical_id.to_owned(), policy.text()?);
            }
        }

        let mut template = Template {
            parameters,
            conditions,
            resource_types,
            deletion_policies,
            tables: Vec::new(),
            keys: Vec::new(),
            aliases: Vec::new(),
            secrets: Vec::new(),
            topics: Vec::new(),
            queues: Vec::new(),
            subscriptions: Vec::new(),
            functions: Vec::new(),
            apis: Vec::new(),
            user_pools: Vec::new(),
            user_pool_clients: Vec::new(),
            user_pool_groups: Vec::new(),
        };
        // Resources that SAM's events declare, known once every function is read.
        let mut declared: Vec<(String, &'static str)> = Vec::new();
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
                "AWS::SecretsManager::Secret" => {
                    template.secrets.push(read_secret(&properties, types)?)
                }
                "AWS::SNS::Topic" => template.topics.push(read_topic(&properties, types)?),
                "AWS::SQS::Queue" => template.queues.push(read_queue(&properties, types)?),
                "AWS::SNS::Subscription" => template
                    .subscriptions
                    .push(read_subscription(&properties, types)?),
                "AWS::Serverless::Function" => {
                    let function = read_function(&definition, function_globals, types)?;
                    // SAM's expansion of an SNS event, as the local stack plays it.
                    for event in &function.events {
                        if let EventSpec::Sns(sns) = event {
                            template.queues.push(sns.delivery_queue_spec());
                            template.subscriptions.push(sns.subscription_spec());
                            declared.extend(sns.delivery_resources());
                        }
                    }
                    template.functions.push(function)
                }
                api::SERVERLESS_API => {
                    let merged = with_globals(&definition, api_globals);
                    let properties = Node {
                        value: &merged,
                        ..definition.child("Properties")
                    };
                    template
                        .apis
                        .push(api::read_api(&properties, types, &template.conditions)?)
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
        for (logical_id, resource_type) in declared {
            let resource_type = resource_type.to_owned();
            template.resource_types.insert(logical_id, resource_type);
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

    pub fn secrets(&self) -> Vec<SecretSpec> {
        self.secrets.clone()
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

    /// The resource's `DeletionPolicy` (`Retain`, `Snapshot`, `RetainExceptOnCreate`), if the
    /// template sets one: what deleting the stack, or rolling back its creation, does with it.
    pub fn deletion_policy(&self, logical_id: &str) -> Option<&str> {
        self.deletion_policies.get(logical_id).map(String::as_str)
    }

    /// Whether the condition holds with the parameters' values; `false` for a condition
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

    /// The parameter's value: the one given at deploy time, else its `Default`.
    pub fn parameter_value(&self, name: &str) -> Option<String> {
        self.parameters.get(name)?.value().cloned()
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
