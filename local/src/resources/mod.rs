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

mod api;
mod cognito;

use std::collections::{BTreeMap, HashMap};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::template::{
    Expr, FunctionSpec, Problem, QueueSpec, SubPart, TableSpec, Template, sub_parts,
};

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

/// A created resource: its ids and the attributes `!GetAtt` may ask for.
#[derive(Debug, Clone, PartialEq)]
enum Physical {
    Key {
        id: String,
        arn: String,
    },
    Alias {
        name: String,
    },
    Table {
        name: String,
        arn: String,
        stream_arn: Option<String>,
    },
    Queue {
        url: String,
        arn: String,
        name: String,
    },
    Topic {
        arn: String,
        name: String,
    },
    Subscription {
        arn: String,
    },
    Function {
        name: String,
        arn: String,
    },
    UserPool {
        id: String,
        arn: String,
        /// `cognito-idp.<region>.amazonaws.com/<id>`: the tokens' issuer without `https://`.
        provider_name: String,
        provider_url: String,
    },
    UserPoolClient {
        id: String,
    },
    UserPoolGroup {
        name: String,
    },
    RestApi {
        id: String,
        root_resource_id: String,
    },
    ApiKey {
        id: String,
        /// What clients send in `x-api-key`.
        value: String,
    },
    UsagePlan {
        id: String,
    },
}

impl Physical {
    fn resource_type(&self) -> &'static str {
        match self {
            Physical::Key { .. } => "AWS::KMS::Key",
            Physical::Alias { .. } => "AWS::KMS::Alias",
            Physical::Table { .. } => "AWS::DynamoDB::Table",
            Physical::Queue { .. } => "AWS::SQS::Queue",
            Physical::Topic { .. } => "AWS::SNS::Topic",
            Physical::Subscription { .. } => "AWS::SNS::Subscription",
            Physical::Function { .. } => "AWS::Serverless::Function",
            Physical::UserPool { .. } => "AWS::Cognito::UserPool",
            Physical::UserPoolClient { .. } => "AWS::Cognito::UserPoolClient",
            Physical::UserPoolGroup { .. } => "AWS::Cognito::UserPoolGroup",
            Physical::RestApi { .. } => "AWS::Serverless::Api",
            Physical::ApiKey { .. } => "AWS::ApiGateway::ApiKey",
            Physical::UsagePlan { .. } => "AWS::ApiGateway::UsagePlan",
        }
    }

    /// What `!Ref` gives: the physical id.
    fn reference(&self) -> &str {
        match self {
            Physical::Key { id, .. } => id,
            Physical::Alias { name } => name,
            Physical::Table { name, .. } => name,
            Physical::Queue { url, .. } => url,
            Physical::Topic { arn, .. } => arn,
            Physical::Subscription { arn } => arn,
            Physical::Function { name, .. } => name,
            Physical::UserPool { id, .. } => id,
            Physical::UserPoolClient { id } => id,
            Physical::UserPoolGroup { name } => name,
            Physical::RestApi { id, .. } => id,
            Physical::ApiKey { id, .. } => id,
            Physical::UsagePlan { id } => id,
        }
    }

    /// What `!GetAtt` gives, for the attributes the table in the module documentation lists.
    fn attribute(&self, attribute: &str) -> Option<&str> {
        match (self, attribute) {
            (Physical::Key { arn, .. }, "Arn") => Some(arn),
            (Physical::Table { arn, .. }, "Arn") => Some(arn),
            (Physical::Table { stream_arn, .. }, "StreamArn") => stream_arn.as_deref(),
            (Physical::Queue { arn, .. }, "Arn") => Some(arn),
            (Physical::Queue { name, .. }, "QueueName") => Some(name),
            (Physical::Topic { name, .. }, "TopicName") => Some(name),
            (Physical::Function { arn, .. }, "Arn") => Some(arn),
            (Physical::UserPool { arn, .. }, "Arn") => Some(arn),
            (Physical::UserPool { provider_name, .. }, "ProviderName") => Some(provider_name),
            (Physical::UserPool { provider_url, .. }, "ProviderURL") => Some(provider_url),
            (Physical::UserPool { id, .. }, "UserPoolId") => Some(id),
            (Physical::UserPoolClient { id }, "ClientId") => Some(id),
            (
                Physical::RestApi {
                    root_resource_id, ..
                },
                "RootResourceId",
            ) => Some(root_resource_id),
            (Physical::ApiKey { id, .. }, "APIKeyId") => Some(id),
            _ => None,
        }
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

// ---------------------------------------------------------------------------------------------
// Creating the resources
// ---------------------------------------------------------------------------------------------

/// Keys first, then their aliases. A key is found again through its alias: if one of the
/// aliases the template gives it exists, its target is the key.
async fn deploy_keys_and_aliases(
    kms: &aws_sdk_kms::Client,
    deployed: &mut Deployed,
) -> Result<(), DeployError> {
    let mut aliases = Vec::new();
    for alias in deployed.template.aliases() {
        let name = deployed.resolve_for(&alias.logical_id, &alias.name)?;
        aliases.push((alias, name));
    }

    for key in deployed.template.keys() {
        let mut existing_key = None;
        for (alias, name) in aliases
            .iter()
            .filter(|(a, _)| a.target_key == key.logical_id)
        {
            existing_key = alias_target(kms, &alias.logical_id, name).await?;
            if existing_key.is_some() {
                break;
            }
        }
        let metadata = match existing_key {
            Some(key_id) => kms
                .describe_key()
                .key_id(key_id)
                .send()
                .await
                .map_err(failed(&key.logical_id, "DescribeKey"))?
                .key_metadata
                .ok_or(incomplete(&key.logical_id, "DescribeKey", "KeyMetadata"))?,
            None => {
                let description = match &key.description {
                    Some(description) => Some(deployed.resolve_for(&key.logical_id, description)?),
                    None => None,
                };
                kms.create_key()
                    .set_description(description)
                    .send()
                    .await
                    .map_err(failed(&key.logical_id, "CreateKey"))?
                    .key_metadata
                    .ok_or(incomplete(&key.logical_id, "CreateKey", "KeyMetadata"))?
            }
        };
        let arn = metadata
            .arn()
            .ok_or(incomplete(&key.logical_id, "DescribeKey", "Arn"))?
            .to_owned();
        let id = metadata.key_id().to_owned();
        deployed.record(&key.logical_id, Physical::Key { id, arn });
    }

    for (alias, name) in aliases {
        let key_id = deployed
            .created_resource(&alias.target_key)
            .map_err(|cause| DeployError::Resolve {
                logical_id: alias.logical_id.clone(),
                cause,
            })?
            .reference()
            .to_owned();
        match alias_target(kms, &alias.logical_id, &name).await? {
            Some(target) if target == key_id => {}
            // The alias names another key: point it at this one, as the template says.
            Some(_) => {
                kms.update_alias()
                    .alias_name(&name)
                    .target_key_id(&key_id)
                    .send()
                    .await
                    .map_err(failed(&alias.logical_id, "UpdateAlias"))?;
            }
            None => {
                kms.create_alias()
                    .alias_name(&name)
                    .target_key_id(&key_id)
                    .send()
                    .await
                    .map_err(failed(&alias.logical_id, "CreateAlias"))?;
            }
        }
        deployed.record(&alias.logical_id, Physical::Alias { name });
    }
    Ok(())
}

/// The id of the key the alias `name` points at, if the alias exists.
async fn alias_target(
    kms: &aws_sdk_kms::Client,
    logical_id: &str,
    name: &str,
) -> Result<Option<String>, DeployError> {
    let aliases = kms
        .list_aliases()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(failed(logical_id, "ListAliases"))?;
    Ok(aliases
        .into_iter()
        .find(|alias| alias.alias_name() == Some(name))
        .and_then(|alias| alias.target_key_id))
}

/// The table named `name`: found, or created with the template's keys, indexes and stream.
/// An existing table is taken as it is (CloudFormation would update it). TTL is a separate
/// call, made once the table exists.
async fn deploy_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &TableSpec,
    name: &str,
) -> Result<Physical, DeployError> {
    let logical_id = table.logical_id.as_str();
    let description = match dynamodb.describe_table().table_name(name).send().await {
        Ok(found) => found.table,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            create_table(dynamodb, table, name).await?
        }
        Err(error) => return Err(failed(logical_id, "DescribeTable")(error)),
    };
    let description = description.ok_or(incomplete(logical_id, "DescribeTable", "Table"))?;
    if let Some(attribute) = &table.ttl_attribute {
        enable_ttl(dynamodb, logical_id, name, attribute).await?;
    }
    Ok(Physical::Table {
        name: name.to_owned(),
        arn: description
            .table_arn
            .ok_or(incomplete(logical_id, "DescribeTable", "TableArn"))?,
        stream_arn: description.latest_stream_arn,
    })
}

async fn create_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &TableSpec,
    name: &str,
) -> Result<Option<TableDescription>, DeployError> {
    // A request that cannot be built fails like the call itself.
    let invalid = failed(&table.logical_id, "CreateTable");
    let mut request = dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(
            key_schema(&table.hash_key, table.range_key.as_deref()).map_err(&invalid)?,
        ));
    for (attribute, attribute_type) in &table.attributes {
        let definition = AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::from(attribute_type.as_str()))
            .build()
            .map_err(&invalid)?;
        request = request.attribute_definitions(definition);
    }
    for index in &table.indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(index.projection_type.as_str()))
            .set_non_key_attributes(
                (!index.non_key_attributes.is_empty()).then(|| index.non_key_attributes.clone()),
            )
            .build();
        let index = GlobalSecondaryIndex::builder()
            .index_name(&index.name)
            .set_key_schema(Some(
                key_schema(&index.hash_key, index.range_key.as_deref()).map_err(&invalid)?,
            ))
            .projection(projection)
            .build()
            .map_err(&invalid)?;
        request = request.global_secondary_indexes(index);
    }
    if let Some(view_type) = &table.stream_view_type {
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(view_type.as_str()))
            .build()
            .map_err(&invalid)?;
        request = request.stream_specification(stream);
    }
    let created = request
        .send()
        .await
        .map_err(failed(&table.logical_id, "CreateTable"))?;
    Ok(created.table_description)
}

fn key_schema(
    hash_key: &str,
    range_key: Option<&str>,
) -> Result<Vec<KeySchemaElement>, aws_sdk_dynamodb::error::BuildError> {
    let mut schema = vec![
        KeySchemaElement::builder()
            .attribute_name(hash_key)
            .key_type(KeyType::Hash)
            .build()?,
    ];
    if let Some(range_key) = range_key {
        schema.push(
            KeySchemaElement::builder()
                .attribute_name(range_key)
                .key_type(KeyType::Range)
                .build()?,
        );
    }
    Ok(schema)
}

/// Turns TTL on, unless it is on already (DynamoDB refuses to enable it twice).
async fn enable_ttl(
    dynamodb: &aws_sdk_dynamodb::Client,
    logical_id: &str,
    table_name: &str,
    attribute: &str,
) -> Result<(), DeployError> {
    let current = dynamodb
        .describe_time_to_live()
        .table_name(table_name)
        .send()
        .await
        .map_err(failed(logical_id, "DescribeTimeToLive"))?
        .time_to_live_description;
    let enabled = current.is_some_and(|ttl| {
        ttl.time_to_live_status() == Some(&TimeToLiveStatus::Enabled)
            && ttl.attribute_name() == Some(attribute)
    });
    if enabled {
        return Ok(());
    }
    let specification = TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(true)
        .build()
        .map_err(failed(logical_id, "UpdateTimeToLive"))?;
    dynamodb
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(specification)
        .send()
        .await
        .map_err(failed(logical_id, "UpdateTimeToLive"))?;
    Ok(())
}

/// Dead-letter queues before the queues that redrive to them: a `RedrivePolicy` holds the
/// dead-letter queue's ARN.
fn in_redrive_order(queues: &[QueueSpec]) -> Result<Vec<&QueueSpec>, DeployError> {
    let mut ordered: Vec<&QueueSpec> = Vec::new();
    let mut waiting: Vec<&QueueSpec> = queues.iter().collect();
    while !waiting.is_empty() {
        let (ready, blocked): (Vec<&QueueSpec>, Vec<&QueueSpec>) =
            waiting.into_iter().partition(|queue| match &queue.redrive {
                None => true,
                Some(redrive) => ordered
                    .iter()
                    .any(|done| done.logical_id == redrive.dead_letter_queue),
            });
        if ready.is_empty() {
            let cycle = blocked.iter().map(|q| q.logical_id.clone()).collect();
            return Err(DeployError::RedriveCycle(cycle));
        }
        ordered.extend(ready);
        waiting = blocked;
    }
    Ok(ordered)
}

/// CreateQueue is idempotent while the attributes are the same: it returns the existing queue.
async fn deploy_queue(
    sqs: &aws_sdk_sqs::Client,
    queue: &QueueSpec,
    deployed: &Deployed,
) -> Result<Physical, DeployError> {
    let logical_id = queue.logical_id.as_str();
    let name = deployed.physical_name(logical_id);
    let mut attributes = HashMap::new();
    if let Some(seconds) = queue.visibility_timeout_seconds {
        attributes.insert(QueueAttributeName::VisibilityTimeout, seconds.to_string());
    }
    if let Some(seconds) = queue.message_retention_seconds {
        attributes.insert(
            QueueAttributeName::MessageRetentionPeriod,
            seconds.to_string(),
        );
    }
    if let Some(redrive) = &queue.redrive {
        let dead_letter_arn = deployed.resolve_for(
            logical_id,
            &Expr::GetAtt(redrive.dead_letter_queue.clone(), "Arn".into()),
        )?;
        let policy = serde_json::json!({
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": redrive.max_receive_count,
        });
        attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .set_attributes((!attributes.is_empty()).then_some(attributes))
        .send()
        .await
        .map_err(failed(logical_id, "CreateQueue"))?
        .queue_url
        .ok_or(incomplete(logical_id, "CreateQueue", "QueueUrl"))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(failed(logical_id, "GetQueueAttributes"))?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or(incomplete(logical_id, "GetQueueAttributes", "QueueArn"))?;
    Ok(Physical::Queue { url, arn, name })
}

/// Subscribes each queue to its topic, unless the topic already has a subscription for it.
async fn deploy_subscriptions(
    sns: &aws_sdk_sns::Client,
    deployed: &mut Deployed,
) -> Result<(), DeployError> {
    for subscription in deployed.template.subscriptions() {
        let logical_id = subscription.logical_id.as_str();
        let topic_arn = deployed.resolve_for(logical_id, &Expr::Ref(subscription.topic.clone()))?;
        let queue_arn = deployed.resolve_for(
            logical_id,
            &Expr::GetAtt(subscription.queue.clone(), "Arn".into()),
        )?;
        let existing = sns
            .list_subscriptions_by_topic()
            .topic_arn(&topic_arn)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(failed(logical_id, "ListSubscriptionsByTopic"))?
            .into_iter()
            .find(|s| s.endpoint() == Some(queue_arn.as_str()))
            .and_then(|s| s.subscription_arn);
        let arn = match existing {
            Some(arn) => arn,
            None => {
                let mut request = sns
                    .subscribe()
                    .topic_arn(&topic_arn)
                    .protocol("sqs")
                    .endpoint(&queue_arn)
                    .return_subscription_arn(true)
                    .attributes(
                        "RawMessageDelivery",
                        subscription.raw_message_delivery.to_string(),
                    );
                if let Some(policy) = &subscription.filter_policy {
                    request = request.attributes("FilterPolicy", policy.to_string());
                }
                if let Some(scope) = &subscription.filter_policy_scope {
                    request = request.attributes("FilterPolicyScope", scope);
                }
                request
                    .send()
                    .await
                    .map_err(failed(logical_id, "Subscribe"))?
                    .subscription_arn
                    .ok_or(incomplete(logical_id, "Subscribe", "SubscriptionArn"))?
            }
        };
        deployed.record(logical_id, Physical::Subscription { arn });
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Environment: {Type: String, Default: dev}
  Zones: {Type: CommaDelimitedList, Default: "a,b,c"}
  Secret: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Environment, prod]
Resources:
  Key: {Type: AWS::KMS::Key}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Queue: {Type: AWS::SQS::Queue}
  Topic: {Type: AWS::SNS::Topic}
  Alarm: {Type: AWS::CloudWatch::Alarm}
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: fn}}
    Properties:
      Environment:
        Variables:
          TABLE: !Ref Table
          MODE: !If [IsProd, strict, relaxed]
"#;

    /// A stack `s` in `eu-west-1`, with physical resources made up for the template above.
    fn deployed() -> Deployed {
        let mut deployed = Deployed {
            template: Template::parse(TEMPLATE).unwrap(),
            stack_name: "s".into(),
            region: "eu-west-1".into(),
            created: Vec::new(),
        };
        let created = [
            (
                "Key",
                Physical::Key {
                    id: "k-1".into(),
                    arn: "arn:aws:kms:eu-west-1:1:key/k-1".into(),
                },
            ),
            (
                "Table",
                Physical::Table {
                    name: "s-Table".into(),
                    arn: "arn:table".into(),
                    stream_arn: None,
                },
            ),
            (
                "Queue",
                Physical::Queue {
                    url: "http://q/s-Queue".into(),
                    arn: "arn:queue".into(),
                    name: "s-Queue".into(),
                },
            ),
            (
                "Topic",
                Physical::Topic {
                    arn: "arn:topic".into(),
                    name: "s-Topic".into(),
                },
            ),
            (
                "Fn",
                Physical::Function {
                    name: "s-Fn".into(),
                    arn: "arn:fn".into(),
                },
            ),
        ];
        for (logical_id, physical) in created {
            deployed.record(logical_id, physical);
        }
        deployed
    }

    fn resolve(expr: Expr) -> Result<String, ResolveError> {
        deployed().resolve(&expr)
    }

    fn get_att(logical_id: &str, attribute: &str) -> Expr {
        Expr::GetAtt(logical_id.into(), attribute.into())
    }

    fn text(text: &str) -> Box<Expr> {
        Box::new(Expr::Literal(text.into()))
    }

    #[test]
    fn ref_gives_each_resource_types_physical_id() {
        let refs = ["Key", "Table", "Queue", "Topic", "Fn"]
            .map(|id| resolve(Expr::Ref(id.into())).unwrap());
        assert_eq!(
            refs,
            ["k-1", "s-Table", "http://q/s-Queue", "arn:topic", "s-Fn"]
        );
    }

    #[test]
    fn get_att_gives_the_attributes_of_each_resource_type() {
        assert_eq!(
            resolve(get_att("Key", "Arn")).unwrap(),
            "arn:aws:kms:eu-west-1:1:key/k-1"
        );
        assert_eq!(resolve(get_att("Table", "Arn")).unwrap(), "arn:table");
        assert_eq!(resolve(get_att("Queue", "Arn")).unwrap(), "arn:queue");
        assert_eq!(resolve(get_att("Queue", "QueueName")).unwrap(), "s-Queue");
        assert_eq!(resolve(get_att("Topic", "TopicName")).unwrap(), "s-Topic");
        assert_eq!(resolve(get_att("Fn", "Arn")).unwrap(), "arn:fn");
        assert_eq!(
            resolve(get_att("Table", "StreamArn")),
            Err(ResolveError::NoStream("Table".into()))
        );
        assert!(matches!(
            resolve(get_att("Topic", "Arn")),
            Err(ResolveError::UnknownAttribute { .. })
        ));
    }

    #[test]
    fn pseudo_parameters_and_parameter_defaults() {
        let sub = Expr::Sub(
            "${AWS::StackName}|${AWS::Region}|${AWS::AccountId}|${AWS::Partition}|${AWS::URLSuffix}|${Environment}".into(),
        );
        assert_eq!(
            resolve(sub).unwrap(),
            "s|eu-west-1|123456789012|aws|amazonaws.com|dev"
        );
        assert_eq!(
            resolve(Expr::Ref("Secret".into())),
            Err(ResolveError::NoParameterValue("Secret".into()))
        );
        assert_eq!(
            resolve(Expr::Ref("AWS::StackId".into())),
            Err(ResolveError::UnknownPseudoParameter("StackId".into()))
        );
    }

    #[test]
    fn sub_resolves_attributes_own_variables_and_escapes() {
        let sub = Expr::Sub("${Table.Arn}/index/byCustomer ${!NotAVariable}".into());
        assert_eq!(
            resolve(sub).unwrap(),
            "arn:table/index/byCustomer ${NotAVariable}"
        );
        let with_variables = Expr::SubWith(
            "${Table}:${Name}".into(),
            BTreeMap::from([("Name".into(), get_att("Queue", "QueueName"))]),
        );
        assert_eq!(resolve(with_variables).unwrap(), "s-Table:s-Queue");
    }

    #[test]
    fn if_join_select_and_split() {
        assert_eq!(
            resolve(Expr::If("IsProd".into(), text("yes"), text("no"))).unwrap(),
            "no"
        );
        assert_eq!(
            resolve(Expr::If("Nope".into(), text("yes"), text("no"))),
            Err(ResolveError::UnknownCondition("Nope".into()))
        );
        let split = Expr::Split("/".into(), text("a/b-c/d"));
        assert_eq!(
            resolve(Expr::Select(1, Box::new(split.clone()))).unwrap(),
            "b-c"
        );
        assert_eq!(
            resolve(Expr::Select(9, Box::new(split.clone()))),
            Err(ResolveError::IndexOutOfRange { index: 9, len: 3 })
        );
        assert_eq!(
            resolve(Expr::Join(
                "+".into(),
                vec![Expr::Literal("x".into()), split]
            ))
            .unwrap(),
            "x+a+b-c+d"
        );
        assert_eq!(
            resolve(Expr::Select(2, Box::new(Expr::Ref("Zones".into())))).unwrap(),
            "c"
        );
        assert_eq!(
            resolve(Expr::Split(",".into(), text("a,b"))),
            Err(ResolveError::ListNotString(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn references_to_resources_not_created_say_why() {
        assert_eq!(
            resolve(Expr::Ref("Alarm".into())),
            Err(ResolveError::NotCreatedLocally {
                logical_id: "Alarm".into(),
                resource_type: "AWS::CloudWatch::Alarm".into()
            })
        );
        assert_eq!(
            resolve(Expr::Ref("Nothing".into())),
            Err(ResolveError::UnknownName("Nothing".into()))
        );
        let mut partial = deployed();
        partial.created.retain(|(id, _)| id != "Queue");
        assert_eq!(
            partial.resolve(&get_att("Queue", "Arn")),
            Err(ResolveError::NotCreatedYet("Queue".into()))
        );
    }

    #[test]
    fn environment_resolves_every_variable() {
        let deployed = deployed();
        let function = &deployed.template.functions()[0];
        let environment = deployed.environment(function).unwrap();
        assert_eq!(
            environment,
            BTreeMap::from([
                ("MODE".into(), "relaxed".into()),
                ("TABLE".into(), "s-Table".into())
            ])
        );
    }

    #[test]
    fn a_variable_of_no_value_is_left_out() {
        let deployed = deployed();
        let mut function = deployed.template.functions()[0].clone();
        function.environment.insert(
            "ENDPOINT".into(),
            Expr::If(
                "IsProd".into(),
                text("https://example.com"),
                Box::new(Expr::Ref("AWS::NoValue".into())),
            ),
        );
        let environment = deployed.environment(&function).unwrap();
        assert!(!environment.contains_key("ENDPOINT"), "{environment:?}");
        assert_eq!(
            resolve(Expr::Ref("AWS::NoValue".into())),
            Err(ResolveError::NoValue)
        );
    }

    #[test]
    fn an_environment_error_names_the_variable() {
        let deployed = deployed();
        let mut function = deployed.template.functions()[0].clone();
        function
            .environment
            .insert("ALARM".into(), Expr::Ref("Alarm".into()));
        let error = deployed.environment(&function).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable ALARM: Alarm is an AWS::CloudWatch::Alarm, which the local stack does not create"
        );
    }

    #[test]
    fn dead_letter_queues_come_first_and_cycles_are_refused() {
        let template = Template::parse(
            "Resources:\n  Main:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 3}\n  Dlq: {Type: AWS::SQS::Queue}\n",
        )
        .unwrap();
        let queues = template.queues();
        let order: Vec<&str> = in_redrive_order(&queues)
            .unwrap()
            .iter()
            .map(|q| q.logical_id.as_str())
            .collect();
        assert_eq!(order, ["Dlq", "Main"]);

        let mut cyclic = queues.clone();
        cyclic[1].redrive = Some(crate::template::Redrive {
            dead_letter_queue: "Main".into(),
            max_receive_count: 1,
        });
        assert!(matches!(
            in_redrive_order(&cyclic),
            Err(DeployError::RedriveCycle(ids)) if ids.len() == 2
        ));
    }
}
