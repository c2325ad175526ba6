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
//! Templates connect resources with `!Ref` and `!GetAtt`, resolved ([`Deployed::resolve`], in
//! [`super::intrinsics`]) from the physical resources, as CloudFormation resolves them for each
//! resource type:
//!
//! | type                        | `!Ref X`          | `!GetAtt X.<attribute>` |
//! |-----------------------------|-------------------|-------------------------|
//! | `AWS::DynamoDB::Table`      | the table name    | `Arn`, `StreamArn`      |
//! | `AWS::SQS::Queue`           | the queue URL     | `Arn`, `QueueName`      |
//! | `AWS::SNS::Topic`           | the topic ARN     | `TopicName`             |
//! | `AWS::SNS::Subscription`    | its ARN           |                         |
//! | `AWS::KMS::Key`             | the key id        | `Arn`, `KeyId`          |
//! | `AWS::KMS::Alias`           | the alias name    |                         |
//! | `AWS::SecretsManager::Secret` | the secret's ARN | `Id` (the ARN too)      |
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
//! [`deploy`] creates, in dependency order: KMS keys, then their aliases; secrets, their value
//! given or generated, encrypted with their `KmsKeyId`, and reused as they are by a later deploy
//! (`secrets.rs`); tables (keys, indexes, stream, then TTL); queues, dead-letter queues before
//! the queues that redrive to them, with their `KmsMasterKeyId` and `KmsDataKeyReusePeriodSeconds`
//! (SSE-KMS) or `SqsManagedSseEnabled`; topics, named by their `TopicName` if they have one, with
//! their `KmsMasterKeyId`; subscriptions; Cognito user pools, their app clients and groups
//! (`cognito.rs`); the REST API with its API key and usage plan (`api.rs`). Keys come first: the
//! secrets, queues and topics name them, and `!Ref` of a key gives its key id, which the local
//! resources then report as their key (`messaging.rs` and `secrets.rs` say what moto does with
//! it). Functions are not created here (the Lambda service runs them), but their names are fixed
//! here, so that `!Ref SomeFunction` resolves. Each step looks for what exists first, so
//! deploying twice onto the same moto returns the same physical ids (and changes nothing: a queue
//! an earlier deploy made without a key keeps none).
//!
//! A function's `SNS` event is a subscription of the function to the topic on AWS (SAM names it
//! `<Function><Event>`). Locally the subscription is the topic's to a *delivery queue*,
//! `<Function><Event>Queue`, that the local stack reads for the function
//! ([`crate::event_source_mappings::sns`] says why): the template reader declares both
//! (`template/functions.rs`), and they are created here as the template's other queues and
//! subscriptions are.
//!
//! Not created, because moto neither needs nor enforces them: queue policies and IAM (moto does
//! not check permissions), the table's encryption at rest, point-in-time recovery and deletion
//! protection, key policies and rotation, log groups (and so their `KmsKeyId`), CloudWatch
//! alarms, the X-Ray sampling rule, and the API's methods and stage (played by
//! [`crate::api_gateway`]). Tables are always on-demand (`PAY_PER_REQUEST`): there is no capacity
//! to size locally.
//!
//! With key policies and IAM unenforced, what the encrypted topic, queues and secret need of
//! their key on AWS is not checked locally: SNS delivers to an SSE-KMS queue only if the key's
//! policy lets `sns.amazonaws.com` use it (`kms:GenerateDataKey*`, `kms:Decrypt`); a publisher to
//! an encrypted topic needs `kms:GenerateDataKey*` and `kms:Decrypt` on its key, a consumer of an
//! encrypted queue `kms:Decrypt`, a reader of the secret `kms:Decrypt` through Secrets Manager. A
//! template missing one deploys and runs here; on AWS the deliveries or calls that need it fail.
//!
//! A deploy that fails at one resource deletes what it created before it, as CloudFormation's
//! rollback does, and reports `ROLLBACK_COMPLETE` ([`DeployError::RolledBack`], `rollback.rs`).
//!
//! One file a resource kind: `keys.rs`, `secrets.rs`, `table.rs`, `messaging.rs` (queues, topics
//! and subscriptions), `cognito.rs`, `api.rs`; `physical.rs` holds what a created resource gives
//! `!Ref` and `!GetAtt`; `rollback.rs` takes back a failed deploy.

mod api;
mod cognito;
mod keys;
mod messaging;
mod physical;
mod rollback;
mod secrets;
mod table;
#[cfg(test)]
mod tests;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::DisplayErrorContext;

use super::intrinsics::{Expr, ResolveError};
use super::template::Template;
use keys::deploy_keys_and_aliases;
use messaging::{deploy_queue, deploy_subscriptions, deploy_topic, in_redrive_order};
pub(super) use physical::Physical;
use rollback::{Deletion, Undo};
pub use rollback::{Rollback, RollbackStatus};
use table::deploy_table;

/// The account moto puts every resource in.
pub const ACCOUNT_ID: &str = "123456789012";
pub(super) const PARTITION: &str = "aws";
pub(super) const URL_SUFFIX: &str = "amazonaws.com";

/// The resource types that [`deploy`] creates (or, for functions, names).
pub(super) const CREATED_TYPES: &[&str] = &[
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::SecretsManager::Secret",
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
    pub(super) template: Template,
    pub(super) stack_name: String,
    pub(super) region: String,
    /// In creation order.
    created: Vec<(String, Physical)>,
    /// What this deploy created (rather than found), in order: what a rollback deletes.
    created_here: Vec<Undo>,
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
    /// The deploy failed at one resource (`CREATE_FAILED`), then deleted what it had created.
    #[error("CREATE_FAILED {failure}; rollback: {rollback}")]
    RolledBack {
        failure: Box<DeployError>,
        rollback: Rollback,
    },
}

impl DeployError {
    /// The logical id of the resource the deploy failed at, if the failure is one resource's.
    pub fn failed_resource(&self) -> Option<&str> {
        match self {
            DeployError::Resolve { logical_id, .. }
            | DeployError::Aws { logical_id, .. }
            | DeployError::Incomplete { logical_id, .. } => Some(logical_id),
            DeployError::RolledBack { failure, .. } => failure.failed_resource(),
            DeployError::NoRegion | DeployError::RedriveCycle(_) => None,
        }
    }

    /// What the rollback did, if the deploy failed after creating resources.
    pub fn rollback(&self) -> Option<&Rollback> {
        match self {
            DeployError::RolledBack { rollback, .. } => Some(rollback),
            _ => None,
        }
    }
}

/// Creates the template's resources (or finds them, created by an earlier deploy) on the
/// endpoint `aws` points at. If one fails, deletes what this deploy created before it
/// (`rollback.rs`) and returns [`DeployError::RolledBack`].
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
        created_here: Vec::new(),
    };
    match create_resources(aws, &mut deployed).await {
        Ok(()) => Ok(deployed),
        // Exam: a failed create rolls back: what it created is deleted (ROLLBACK_COMPLETE).
        Err(failure) => Err(DeployError::RolledBack {
            failure: Box::new(failure),
            rollback: rollback::roll_back(aws, &deployed).await,
        }),
    }
}

/// Each resource in dependency order, recorded in `deployed` as soon as it exists.
async fn create_resources(aws: &SdkConfig, deployed: &mut Deployed) -> Result<(), DeployError> {
    let template = deployed.template.clone();
    let kms = aws_sdk_kms::Client::new(aws);
    deploy_keys_and_aliases(&kms, deployed).await?;
    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    secrets::deploy_secrets(&secrets, deployed).await?;

    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    for table in template.tables() {
        let physical = deploy_table(&dynamodb, &table, deployed).await?;
        deployed.record(&table.logical_id, physical);
    }

    let sqs = aws_sdk_sqs::Client::new(aws);
    let queues = template.queues();
    for queue in in_redrive_order(&queues)? {
        let physical = deploy_queue(&sqs, queue, deployed).await?;
        deployed.record(&queue.logical_id, physical);
    }

    let sns = aws_sdk_sns::Client::new(aws);
    for topic in template.topics() {
        let physical = deploy_topic(&sns, &topic, deployed).await?;
        deployed.record(&topic.logical_id, physical);
    }
    deploy_subscriptions(&sns, deployed).await?;

    let cognito = aws_sdk_cognitoidentityprovider::Client::new(aws);
    cognito::deploy_user_pools(&cognito, deployed).await?;
    let apigateway = aws_sdk_apigateway::Client::new(aws);
    api::deploy_apis(&apigateway, deployed).await?;

    for function in template.functions() {
        let name = deployed.physical_name(&function.logical_id);
        let arn = format!(
            "arn:{PARTITION}:lambda:{}:{ACCOUNT_ID}:function:{name}",
            deployed.region
        );
        deployed.record(&function.logical_id, Physical::Function { name, arn });
    }
    Ok(())
}

impl Deployed {
    // The accessors below ask for what `!Ref` or `!GetAtt` gives a resource of one type, so that
    // `queue_url("OrdersTable")` is `None` rather than the table's name.

    pub fn table_name(&self, logical_id: &str) -> Option<&str> {
        self.reference_of(logical_id, "AWS::DynamoDB::Table")
    }

    pub fn stream_arn(&self, table_logical_id: &str) -> Option<&str> {
        self.attribute_of(table_logical_id, "AWS::DynamoDB::Table", "StreamArn")
    }

    pub fn queue_url(&self, logical_id: &str) -> Option<&str> {
        self.reference_of(logical_id, "AWS::SQS::Queue")
    }

    pub fn queue_arn(&self, logical_id: &str) -> Option<&str> {
        self.attribute_of(logical_id, "AWS::SQS::Queue", "Arn")
    }

    pub fn topic_arn(&self, logical_id: &str) -> Option<&str> {
        self.reference_of(logical_id, "AWS::SNS::Topic")
    }

    pub fn subscription_arn(&self, logical_id: &str) -> Option<&str> {
        self.reference_of(logical_id, "AWS::SNS::Subscription")
    }

    pub fn key_arn(&self, logical_id: &str) -> Option<&str> {
        self.attribute_of(logical_id, "AWS::KMS::Key", "Arn")
    }

    /// A secret's ARN, as `!Ref` gives it.
    pub fn secret_arn(&self, logical_id: &str) -> Option<&str> {
        self.reference_of(logical_id, "AWS::SecretsManager::Secret")
    }

    /// A user pool's id.
    pub fn user_pool_id(&self, logical_id: &str) -> Option<&str> {
        self.reference_of(logical_id, "AWS::Cognito::UserPool")
    }

    /// An app client's id.
    pub fn user_pool_client_id(&self, logical_id: &str) -> Option<&str> {
        self.reference_of(logical_id, "AWS::Cognito::UserPoolClient")
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
        self.reference_of(
            &format!("{api_logical_id}ApiKey"),
            "AWS::ApiGateway::ApiKey",
        )
    }

    /// The id of a REST API (its `requestContext.apiId`).
    pub fn rest_api_id(&self, logical_id: &str) -> Option<&str> {
        self.reference_of(logical_id, "AWS::Serverless::Api")
    }

    /// The name the local stack gives the function (`<stack>-<LogicalId>`), as `!Ref` does.
    pub fn function_name(&self, logical_id: &str) -> Option<&str> {
        self.reference_of(logical_id, "AWS::Serverless::Function")
    }

    /// The function's ARN, as `!GetAtt <Function>.Arn`.
    pub fn function_arn(&self, logical_id: &str) -> Option<&str> {
        self.attribute_of(logical_id, "AWS::Serverless::Function", "Arn")
    }

    /// The resource `logical_id`, if it is one of `resource_type`.
    fn physical_of(&self, logical_id: &str, resource_type: &str) -> Option<&Physical> {
        self.physical(logical_id)
            .filter(|physical| physical.resource_type() == resource_type)
    }

    /// What `!Ref` gives for `logical_id`, if it is a resource of `resource_type`.
    fn reference_of(&self, logical_id: &str, resource_type: &str) -> Option<&str> {
        Some(self.physical_of(logical_id, resource_type)?.reference())
    }

    /// What `!GetAtt <logical_id>.<attribute>` gives, if it is a resource of `resource_type`.
    fn attribute_of(&self, logical_id: &str, resource_type: &str, attribute: &str) -> Option<&str> {
        self.physical_of(logical_id, resource_type)?
            .attribute(attribute)
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

    /// The name the template gives `logical_id` (`UserPoolName`, `Name`, ...), resolved; without
    /// one, the stack's name for it ([`Self::physical_name`]).
    fn name_for(&self, logical_id: &str, name: Option<&Expr>) -> Result<String, DeployError> {
        match name {
            Some(name) => self.resolve_for(logical_id, name),
            None => Ok(self.physical_name(logical_id)),
        }
    }

    fn record(&mut self, logical_id: &str, physical: Physical) {
        self.created.push((logical_id.to_owned(), physical));
    }

    /// Notes that this deploy has just created `logical_id` (not found it): a rollback deletes
    /// it. Called right after the create call, before anything else about it can fail.
    fn created_now(&mut self, logical_id: &str, deletion: Deletion) {
        self.created_here.push(Undo {
            logical_id: logical_id.to_owned(),
            deletion,
        });
    }

    pub(super) fn physical(&self, logical_id: &str) -> Option<&Physical> {
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

    /// An optional property (a description) resolved while creating `logical_id`, if it is set.
    fn resolve_optional_for(
        &self,
        logical_id: &str,
        expr: Option<&Expr>,
    ) -> Result<Option<String>, DeployError> {
        expr.map(|expr| self.resolve_for(logical_id, expr))
            .transpose()
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

/// The first item of a paginated list call (`ListUserPools`, `GetRestApis`, ...) that `wanted`
/// picks: how a step finds what an earlier deploy created. `listed` is the call's
/// `.into_paginator().items().send().collect()`: every page, read before looking.
async fn find_listed<T, E: std::error::Error>(
    listed: impl Future<Output = Result<Vec<T>, E>>,
    logical_id: &str,
    operation: &'static str,
    wanted: impl Fn(&T) -> bool,
) -> Result<Option<T>, DeployError> {
    let items = listed.await.map_err(failed(logical_id, operation))?;
    Ok(items.into_iter().find(|item| wanted(item)))
}

fn incomplete(logical_id: &str, operation: &'static str, field: &'static str) -> DeployError {
    DeployError::Incomplete {
        logical_id: logical_id.to_owned(),
        operation,
        field,
    }
}
