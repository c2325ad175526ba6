//! # CloudFormation for the local stack: the template's resources, created on moto
//!
//! A template names each resource by a *logical id* (`OrdersTable`), valid only inside the
//! template. Creating the resource gives it a *physical id*, the name the service knows it by:
//! here `<stack>-<LogicalId>` (`orders-local-OrdersTable`). CloudFormation adds a random suffix
//! to that name; the local stack does not, so that deploying again finds the resources of the
//! last deploy by name and creates nothing new. A KMS key has no name, only a generated id: its
//! alias is its stable name, so a key whose alias exists already is reused, not created again
//! (a key without any alias would be created anew by every deploy).
//!
//! Templates connect resources with `!Ref` and `!GetAtt`, resolved here ([`Deployed::resolve`])
//! from the physical resources, as CloudFormation resolves them for each resource type:
//!
//! | type                        | `!Ref X`          | `!GetAtt X.<attribute>` |
//! |-----------------------------|-------------------|-------------------------|
//! | `AWS::DynamoDB::Table`      | the table name    | `Arn`, `StreamArn`      |
//! | `AWS::SQS::Queue`           | the queue URL     | `Arn`, `QueueName`      |
//! | `AWS::SNS::Topic`           | the topic ARN     | `TopicName`             |
//! | `AWS::SNS::Subscription`    | its ARN           |                         |
//! | `AWS::KMS::Key`             | the key id        | `Arn`                   |
//! | `AWS::KMS::Alias`           | the alias name    |                         |
//! | `AWS::Serverless::Function` | the function name | `Arn`                   |
//! | `AWS::Cognito::UserPool`    | the pool id       | `Arn`, `ProviderName`, `ProviderURL`, `UserPoolId` |
//! | `AWS::Cognito::UserPoolClient` | the client id  | `ClientId`              |
//! | `AWS::Cognito::UserPoolGroup` | the group name  |                         |
//! | `AWS::Serverless::Api`      | the REST API id   | `RootResourceId`        |
//! | its `<Api>ApiKey`, `<Api>UsagePlan` | the key's, the plan's id | `APIKeyId` (the key) |
//!
//! plus parameters (at their defaults) and the pseudo parameters `AWS::StackName`,
//! `AWS::Region`, `AWS::AccountId` (moto's [`ACCOUNT_ID`]), `AWS::Partition` (`aws`) and
//! `AWS::URLSuffix` (`amazonaws.com`).
//!
//! [`deploy`] creates, in dependency order: KMS keys, then their aliases; tables (keys, indexes,
//! stream, then TTL); queues, dead-letter queues before the queues that redrive to them; topics;
//! subscriptions; Cognito user pools, their app clients and groups (`cognito.rs`); the REST API
//! with its API key and usage plan (`api.rs`). Functions are not created here (the Lambda service
//! runs them), but their names are fixed here, so that `!Ref SomeFunction` resolves. Each step
//! looks for what exists first, so deploying twice onto the same moto returns the same physical
//! ids.
//!
//! Not created, because moto neither needs nor enforces them: queue policies and IAM (moto does
//! not check permissions), the table's encryption at rest, point-in-time recovery and deletion
//! protection, key policies and rotation, SQS managed encryption, CloudWatch alarms, the X-Ray
//! sampling rule, and the API's methods and stage (played by [`crate::api_gateway`]). Tables are
//! always on-demand (`PAY_PER_REQUEST`): there is no capacity to size locally.

//!
//! One file a resource kind: `keys.rs`, `table.rs`, `messaging.rs` (queues and subscriptions),
//! `cognito.rs`, `api.rs`; `physical.rs` holds what a created resource gives `!Ref` and `!GetAtt`.

mod api;
mod cognito;
mod keys;
mod messaging;
mod physical;
mod table;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::DisplayErrorContext;

use crate::cloudformation::template::{Expr, FunctionSpec, Problem, SubPart, Template, sub_parts};
use keys::deploy_keys_and_aliases;
use messaging::{deploy_queue, deploy_subscriptions, in_redrive_order};
use physical::Physical;
use table::deploy_table;

/// The account moto puts every resource in.
pub const ACCOUNT_ID: &str = "123456789012";
const PARTITION: &str = "aws";
const URL_SUFFIX: &str = "amazonaws.com";

/// The resource types that [`deploy`] creates (or, for functions, names).
const CREATED_TYPES: &[&str] = &[
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::Serverless::Function",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolGroup",
    "AWS::Serverless::Api",
];

/// The stack once deployed: the physical resource behind each logical id.
#[derive(Debug, Clone)]
pub struct Deployed {
    template: Template,
    stack_name: String,
    region: String,
    /// In creation order.
    created: Vec<(String, Physical)>,
}

/// One created resource, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedResource {
    pub logical_id: String,
    /// `AWS::DynamoDB::Table`, ...
    pub resource_type: String,
    /// What `!Ref` gives: the table's name, the queue's URL, the topic's ARN, ...
    pub physical_id: String,
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

/// Why a deploy stopped; each error names the resource (its logical id) it was creating.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("the AWS configuration has no region")]
    NoRegion,
    #[error("{logical_id}: {cause}")]
    Resolve {
        logical_id: String,
        cause: ResolveError,
    },
    /// The service refused or failed; `cause` is the SDK error with its whole chain.
    #[error("{logical_id}: {operation} failed: {cause}")]
    Aws {
        logical_id: String,
        operation: &'static str,
        cause: String,
    },
    #[error("{logical_id}: the {operation} response has no {field}")]
    Incomplete {
        logical_id: String,
        operation: &'static str,
        field: &'static str,
    },
    #[error("queues {0:?} redrive to each other: none can be created first")]
    RedriveCycle(Vec<String>),
}

/// Creates the template's resources (or finds them, created by an earlier deploy) on the
/// endpoint `aws` points at.
pub async fn deploy(
    template: &Template,
    aws: &SdkConfig,
    stack_name: &str,
) -> Result<Deployed, DeployError> {
    let region = aws.region().ok_or(DeployError::NoRegion)?.to_string();
    let mut deployed = Deployed {
        template: template.clone(),
        stack_name: stack_name.to_owned(),
        region,
        created: Vec::new(),
    };

    let kms = aws_sdk_kms::Client::new(aws);
    deploy_keys_and_aliases(&kms, &mut deployed).await?;

    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    for table in template.tables() {
        let physical = deploy_table(
            &dynamodb,
            &table,
            &deployed.physical_name(&table.logical_id),
        )
        .await?;
        deployed.record(&table.logical_id, physical);
    }

    let sqs = aws_sdk_sqs::Client::new(aws);
    let queues = template.queues();
    for queue in in_redrive_order(&queues)? {
        let physical = deploy_queue(&sqs, queue, &deployed).await?;
        deployed.record(&queue.logical_id, physical);
    }

    let sns = aws_sdk_sns::Client::new(aws);
    for topic in template.topics() {
        let name = deployed.physical_name(&topic.logical_id);
        let mut request = sns.create_topic().name(&name);
        if topic.tracing_active {
            request = request.attributes("TracingConfig", "Active");
        }
        // CreateTopic is idempotent: for an existing name it returns that topic.
        let arn = request
            .send()
            .await
            .map_err(failed(&topic.logical_id, "CreateTopic"))?
            .topic_arn
            .ok_or(incomplete(&topic.logical_id, "CreateTopic", "TopicArn"))?;
        deployed.record(&topic.logical_id, Physical::Topic { arn, name });
    }
    deploy_subscriptions(&sns, &mut deployed).await?;

    let cognito = aws_sdk_cognitoidentityprovider::Client::new(aws);
    cognito::deploy_user_pools(&cognito, &mut deployed).await?;
    let apigateway = aws_sdk_apigateway::Client::new(aws);
    api::deploy_apis(&apigateway, &mut deployed).await?;

    for function in template.functions() {
        let name = deployed.physical_name(&function.logical_id);
        let arn = format!(
            "arn:{PARTITION}:lambda:{}:{ACCOUNT_ID}:function:{name}",
            deployed.region
        );
        deployed.record(&function.logical_id, Physical::Function { name, arn });
    }
    Ok(deployed)
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

    pub fn table_name(&self, logical_id: &str) -> Option<&str> {
        match self.physical(logical_id)? {
            Physical::Table { name, .. } => Some(name),
            _ => None,
        }
    }

    pub fn stream_arn(&self, table_logical_id: &str) -> Option<&str> {
        match self.physical(table_logical_id)? {
            Physical::Table { stream_arn, .. } => stream_arn.as_deref(),
            _ => None,
        }
    }

    pub fn queue_url(&self, logical_id: &str) -> Option<&str> {
        match self.physical(logical_id)? {
            Physical::Queue { url, .. } => Some(url),
            _ => None,
        }
    }

    pub fn queue_arn(&self, logical_id: &str) -> Option<&str> {
        match self.physical(logical_id)? {
            Physical::Queue { arn, .. } => Some(arn),
            _ => None,
        }
    }

    pub fn topic_arn(&self, logical_id: &str) -> Option<&str> {
        match self.physical(logical_id)? {
            Physical::Topic { arn, .. } => Some(arn),
            _ => None,
        }
    }

    pub fn key_arn(&self, logical_id: &str) -> Option<&str> {
        match self.physical(logical_id)? {
            Physical::Key { arn, .. } => Some(arn),
            _ => None,
        }
    }

    /// A user pool's id.
    pub fn user_pool_id(&self, logical_id: &str) -> Option<&str> {
        match self.physical(logical_id)? {
            Physical::UserPool { id, .. } => Some(id),
            _ => None,
        }
    }

    /// An app client's id.
    pub fn user_pool_client_id(&self, logical_id: &str) -> Option<&str> {
        match self.physical(logical_id)? {
            Physical::UserPoolClient { id } => Some(id),
            _ => None,
        }
    }

    /// The key an API's clients send (`x-api-key`): the value of SAM's `<Api>ApiKey`, if the
    /// API requires one.
    pub fn api_key_value(&self, api_logical_id: &str) -> Option<&str> {
        match self.physical(&format!("{api_logical_id}ApiKey"))? {
            Physical::ApiKey { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The id of that key.
    pub fn api_key_id(&self, api_logical_id: &str) -> Option<&str> {
        match self.physical(&format!("{api_logical_id}ApiKey"))? {
            Physical::ApiKey { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The id of a REST API (its `requestContext.apiId`).
    pub fn rest_api_id(&self, logical_id: &str) -> Option<&str> {
        match self.physical(logical_id)? {
            Physical::RestApi { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The name the local stack gives the function (`<stack>-<LogicalId>`), as `!Ref` does.
    pub fn function_name(&self, logical_id: &str) -> Option<&str> {
        match self.physical(logical_id)? {
            Physical::Function { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The function's ARN, as `!GetAtt <Function>.Arn`.
    pub fn function_arn(&self, logical_id: &str) -> Option<&str> {
        match self.physical(logical_id)? {
            Physical::Function { arn, .. } => Some(arn),
            _ => None,
        }
    }

    /// Every resource, in creation order (functions, only named, last).
    pub fn resources(&self) -> Vec<DeployedResource> {
        self.created
            .iter()
            .map(|(logical_id, physical)| DeployedResource {
                logical_id: logical_id.clone(),
                resource_type: physical.resource_type().to_owned(),
                physical_id: physical.reference().to_owned(),
            })
            .collect()
    }

    pub fn stack_name(&self) -> &str {
        &self.stack_name
    }

    /// The template this stack was deployed from.
    pub fn template(&self) -> &Template {
        &self.template
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    fn physical_name(&self, logical_id: &str) -> String {
        format!("{}-{logical_id}", self.stack_name)
    }

    fn record(&mut self, logical_id: &str, physical: Physical) {
        self.created.push((logical_id.to_owned(), physical));
    }

    fn physical(&self, logical_id: &str) -> Option<&Physical> {
        self.created
            .iter()
            .find(|(id, _)| id == logical_id)
            .map(|(_, physical)| physical)
    }

    /// `expr` resolved while creating `logical_id`: an error names that resource.
    fn resolve_for(&self, logical_id: &str, expr: &Expr) -> Result<String, DeployError> {
        self.resolve(expr).map_err(|cause| DeployError::Resolve {
            logical_id: logical_id.to_owned(),
            cause,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluating intrinsic functions
// ---------------------------------------------------------------------------------------------

/// An intrinsic function's value: most give a string; `!Split` and list parameters give a list.
enum Evaluated {
    /// `!Ref AWS::NoValue`: the property is left out.
    NoValue,
    Text(String),
    List(Vec<String>),
}

impl Deployed {
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
                .parameter_default(name)
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
    fn created_resource(&self, logical_id: &str) -> Result<&Physical, ResolveError> {
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

/// Maps an SDK error (or a request that could not be built) to a [`DeployError`] naming the
/// resource and the operation.
fn failed<E: std::error::Error>(
    logical_id: &str,
    operation: &'static str,
) -> impl Fn(E) -> DeployError {
    let logical_id = logical_id.to_owned();
    move |error| DeployError::Aws {
        logical_id: logical_id.clone(),
        operation,
        cause: DisplayErrorContext(&error).to_string(),
    }
}

fn incomplete(logical_id: &str, operation: &'static str, field: &'static str) -> DeployError {
    DeployError::Incomplete {
        logical_id: logical_id.to_owned(),
        operation,
        field,
    }
}
