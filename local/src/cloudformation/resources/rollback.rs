//! # Rollback: a failed deploy takes back what it created
//!
//! Exam: CloudFormation rolls back a failed stack operation.
//!
//! - A failed **create** (`CREATE_FAILED` on one resource) rolls the whole stack back: every
//!   resource it created is deleted, newest first, and the stack ends in `ROLLBACK_COMPLETE`
//!   (`ROLLBACK_FAILED` if one could not be deleted). A stack in `ROLLBACK_COMPLETE` can only be
//!   deleted: delete it before creating it again.
//! - A failed **update** returns the stack to its last working state: resources the update added
//!   are deleted, the ones it changed get their previous configuration back, and the stack ends
//!   in `UPDATE_ROLLBACK_COMPLETE` (or `UPDATE_ROLLBACK_FAILED`).
//! - `aws cloudformation create-stack --on-failure DO_NOTHING` (or `--disable-rollback`, also on
//!   `sam deploy`) keeps what was made, to debug the failure.
//! - A resource's `DeletionPolicy` decides what deleting it means, on a rollback as on a stack
//!   deletion: `Retain` keeps it (here the KMS key, whose loss would make every ciphertext
//!   unreadable; `--retain-except-on-create` deletes even those when the operation that created
//!   them rolls back), `Snapshot` (for the types that support it: RDS, EBS volumes, ...) keeps a
//!   snapshot, `Delete` is the default. `RetainExceptOnCreate` keeps it, except when the
//!   operation that created it rolls back. `UpdateReplacePolicy` does the same for the old
//!   resource when an update replaces it.
//! - A KMS key is never deleted at once: deleting it schedules its deletion, after its
//!   `PendingWindowInDays` (7 to 30, 30 by default).
//! - A Secrets Manager secret deleted without `ForceDeleteWithoutRecovery` waits a recovery
//!   window (7 to 30 days, 30 by default), and its name stays taken until then: the local
//!   rollback forces the deletion, so the next deploy can create the secret again at once.
//!
//! The local stack plays this as far as its deploy goes: every create call it makes is recorded
//! ([`Undo`]) the moment it succeeds, and a failed deploy deletes those, newest first, with each
//! service's delete call on moto. What an earlier deploy created (found by name, not created) is
//! left as it was: the local deploy does not update existing resources, so there is nothing to
//! put back. A failed deploy onto an existing stack therefore deletes only what it added, and
//! reports `UPDATE_ROLLBACK_COMPLETE`. Unlike AWS, a stack whose creation rolled back can be
//! deployed again at once: nothing of it is left, and the local stack keeps no stack record.
//! Only `Retain` keeps a resource here; `Snapshot` deletes it as `Delete` does (none of the local
//! stack's types has snapshots), and there is no `--disable-rollback`.
//!
//! moto differs from AWS in one refusal: its `Subscribe` stores the subscription before it
//! refuses a bad filter policy, so the deploy records that half-made subscription for the
//! rollback, as CloudFormation deletes the resource that failed.

use std::fmt;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::DisplayErrorContext;

use super::Deployed;

/// A resource a deploy created, and what deleting it takes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Undo {
    pub(super) logical_id: String,
    pub(super) deletion: Deletion,
}

/// The delete call for each kind of resource the deploy creates.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Deletion {
    /// `ScheduleKeyDeletion`: KMS deletes a key only after a waiting period.
    Key {
        id: String,
        pending_window_in_days: i32,
    },
    Alias {
        name: String,
    },
    /// `DeleteSecret` with `ForceDeleteWithoutRecovery`.
    Secret {
        arn: String,
    },
    Table {
        name: String,
    },
    Queue {
        url: String,
    },
    Topic {
        arn: String,
    },
    Subscription {
        arn: String,
    },
    UserPool {
        id: String,
    },
    UserPoolClient {
        pool_id: String,
        id: String,
    },
    UserPoolGroup {
        pool_id: String,
        name: String,
    },
    RestApi {
        id: String,
    },
    ApiKey {
        id: String,
    },
    UsagePlan {
        id: String,
    },
    UsagePlanKey {
        plan_id: String,
        key_id: String,
    },
}

/// CloudFormation's default wait before a deleted key is gone.
pub(super) const DEFAULT_PENDING_WINDOW_IN_DAYS: i32 = 30;

/// How the rollback ended, named as CloudFormation names the stack's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackStatus {
    /// A new stack: all it created is gone (or kept by `DeletionPolicy: Retain`).
    RollbackComplete,
    /// A new stack, and some of what it created could not be deleted.
    RollbackFailed,
    /// An existing stack: what this deploy added is gone, the earlier resources are as they were.
    UpdateRollbackComplete,
    UpdateRollbackFailed,
}

impl fmt::Display for RollbackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RollbackStatus::RollbackComplete => "ROLLBACK_COMPLETE",
            RollbackStatus::RollbackFailed => "ROLLBACK_FAILED",
            RollbackStatus::UpdateRollbackComplete => "UPDATE_ROLLBACK_COMPLETE",
            RollbackStatus::UpdateRollbackFailed => "UPDATE_ROLLBACK_FAILED",
        })
    }
}

/// What the rollback of a failed deploy did, by logical id.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    pub status: RollbackStatus,
    /// Deleted (for a key: its deletion scheduled), newest first.
    pub deleted: Vec<String>,
    /// Kept by their `DeletionPolicy: Retain`.
    pub retained: Vec<String>,
    /// Those whose delete call failed, with the service's error.
    pub not_deleted: Vec<(String, String)>,
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: deleted [{}]", self.status, self.deleted.join(", "))?;
        if !self.retained.is_empty() {
            let retained = self.retained.join(", ");
            write!(f, ", kept by DeletionPolicy Retain [{retained}]")?;
        }
        for (logical_id, cause) in &self.not_deleted {
            write!(f, ", could not delete {logical_id}: {cause}")?;
        }
        if matches!(
            self.status,
            RollbackStatus::UpdateRollbackComplete | RollbackStatus::UpdateRollbackFailed
        ) {
            f.write_str("; the resources of the earlier deploy are left as they were")?;
        }
        Ok(())
    }
}

/// Deletes what `deployed` records as created by this deploy, newest first, except what the
/// template's `DeletionPolicy: Retain` keeps.
pub(super) async fn roll_back(aws: &SdkConfig, deployed: &Deployed) -> Rollback {
    // An update if some resource was found from an earlier deploy rather than created now.
    let is_update = deployed.created.iter().any(|(logical_id, _)| {
        !deployed
            .created_here
            .iter()
            .any(|undo| &undo.logical_id == logical_id)
    });
    let mut rollback = Rollback {
        status: RollbackStatus::RollbackComplete,
        deleted: Vec::new(),
        retained: Vec::new(),
        not_deleted: Vec::new(),
    };
    let services = Services::new(aws);
    for undo in deployed.created_here.iter().rev() {
        let policy = deployed.template.deletion_policy(&undo.logical_id);
        // Exam: DeletionPolicy Retain keeps the resource, on a rollback as on a stack deletion.
        if policy == Some("Retain") {
            rollback.retained.push(undo.logical_id.clone());
            continue;
        }
        match services.delete(&undo.deletion).await {
            Ok(()) => rollback.deleted.push(undo.logical_id.clone()),
            Err(cause) => rollback.not_deleted.push((undo.logical_id.clone(), cause)),
        }
    }
    rollback.status = match (is_update, rollback.not_deleted.is_empty()) {
        (false, true) => RollbackStatus::RollbackComplete,
        (false, false) => RollbackStatus::RollbackFailed,
        (true, true) => RollbackStatus::UpdateRollbackComplete,
        (true, false) => RollbackStatus::UpdateRollbackFailed,
    };
    rollback
}

/// A client for each service the deploy creates resources in.
struct Services {
    kms: aws_sdk_kms::Client,
    secrets: aws_sdk_secretsmanager::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    cognito: aws_sdk_cognitoidentityprovider::Client,
    apigateway: aws_sdk_apigateway::Client,
}

/// The SDK error with its whole chain, as the rollback reports it.
fn cause<E: std::error::Error>(error: E) -> String {
    DisplayErrorContext(&error).to_string()
}

impl Services {
    fn new(aws: &SdkConfig) -> Self {
        Services {
            kms: aws_sdk_kms::Client::new(aws),
            secrets: aws_sdk_secretsmanager::Client::new(aws),
            dynamodb: aws_sdk_dynamodb::Client::new(aws),
            sqs: aws_sdk_sqs::Client::new(aws),
            sns: aws_sdk_sns::Client::new(aws),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(aws),
            apigateway: aws_sdk_apigateway::Client::new(aws),
        }
    }

    /// The one delete call that takes back `deletion`.
    async fn delete(&self, deletion: &Deletion) -> Result<(), String> {
        match deletion {
            Deletion::Key {
                id,
                pending_window_in_days,
            } => {
                // Exam: a KMS key cannot be deleted at once: its deletion waits 7 to 30 days.
                let request = self.kms.schedule_key_deletion().key_id(id);
                let request = request.pending_window_in_days(*pending_window_in_days);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::Alias { name } => {
                let request = self.kms.delete_alias().alias_name(name);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::Secret { arn } => {
                // Without it, the secret would wait out a recovery window (30 days by default)
                // and its name could not be used again until then.
                let request = self.secrets.delete_secret().secret_id(arn);
                let request = request.force_delete_without_recovery(true);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::Table { name } => {
                let request = self.dynamodb.delete_table().table_name(name);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::Queue { url } => {
                let request = self.sqs.delete_queue().queue_url(url);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::Topic { arn } => {
                let request = self.sns.delete_topic().topic_arn(arn);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::Subscription { arn } => {
                let request = self.sns.unsubscribe().subscription_arn(arn);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::UserPool { id } => {
                let request = self.cognito.delete_user_pool().user_pool_id(id);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::UserPoolClient { pool_id, id } => {
                let request = self.cognito.delete_user_pool_client();
                let request = request.user_pool_id(pool_id).client_id(id);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::UserPoolGroup { pool_id, name } => {
                let request = self.cognito.delete_group();
                let request = request.user_pool_id(pool_id).group_name(name);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::RestApi { id } => {
                let request = self.apigateway.delete_rest_api().rest_api_id(id);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::ApiKey { id } => {
                let request = self.apigateway.delete_api_key().api_key(id);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::UsagePlan { id } => {
                let request = self.apigateway.delete_usage_plan().usage_plan_id(id);
                request.send().await.map(drop).map_err(cause)
            }
            Deletion::UsagePlanKey { plan_id, key_id } => {
                let request = self.apigateway.delete_usage_plan_key();
                let request = request.usage_plan_id(plan_id).key_id(key_id);
                request.send().await.map(drop).map_err(cause)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_names_the_status_what_was_deleted_kept_and_left() {
        let rollback = Rollback {
            status: RollbackStatus::UpdateRollbackFailed,
            deleted: vec!["NewQueue".into(), "NewTable".into()],
            retained: vec!["Key".into()],
            not_deleted: vec![("Topic".into(), "AccessDenied".into())],
        };
        assert_eq!(
            rollback.to_string(),
            "UPDATE_ROLLBACK_FAILED: deleted [NewQueue, NewTable], kept by DeletionPolicy Retain \
             [Key], could not delete Topic: AccessDenied; the resources of the earlier deploy are \
             left as they were"
        );
    }
}
