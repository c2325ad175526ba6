//! What CloudFormation knows of a created resource: its physical id, what `!Ref` gives for its
//! type, and the attributes `!GetAtt` may ask for (the table in the module doc of
//! [`resources`](super)).

/// A created resource: its ids and the attributes `!GetAtt` may ask for.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::cloudformation) enum Physical {
    Key {
        id: String,
        arn: String,
    },
    Alias {
        name: String,
    },
    Secret {
        arn: String,
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
    pub(in crate::cloudformation) fn resource_type(&self) -> &'static str {
        match self {
            Physical::Key { .. } => "AWS::KMS::Key",
            Physical::Alias { .. } => "AWS::KMS::Alias",
            Physical::Secret { .. } => "AWS::SecretsManager::Secret",
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
    pub(in crate::cloudformation) fn reference(&self) -> &str {
        match self {
            Physical::Key { id, .. } => id,
            Physical::Alias { name } => name,
            Physical::Secret { arn, .. } => arn,
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
    pub(in crate::cloudformation) fn attribute(&self, attribute: &str) -> Option<&str> {
        match (self, attribute) {
            (Physical::Key { arn, .. }, "Arn") => Some(arn),
            (Physical::Key { id, .. }, "KeyId") => Some(id),
            (Physical::Secret { arn, .. }, "Id") => Some(arn),
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
