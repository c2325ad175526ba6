//! The template's Cognito resources on moto: user pools, their app clients and groups.
//!
//! Each is found by name first (a pool by its name, a client by its name in the pool, a group by
//! its name), so that deploying again onto the same moto finds what the last deploy made. moto's
//! Cognito does what the local stack needs of Cognito: sign-up with the pool's password policy,
//! confirmation, `InitiateAuth` with `USER_PASSWORD_AUTH`, RS256 ID and access tokens whose
//! `iss` is the pool's issuer URL, and the pool's JWKS at `/<poolId>/.well-known/jwks.json`.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::operation::get_group::GetGroupError;
use aws_sdk_cognitoidentityprovider::types::{
    AdminCreateUserConfigType, ExplicitAuthFlowsType, PasswordPolicyType,
    UserPoolClientDescription, UserPoolDescriptionType, UserPoolPolicyType, UsernameAttributeType,
    VerifiedAttributeType,
};

use super::{
    ACCOUNT_ID, Deletion, DeployError, Deployed, Physical, failed, find_listed, incomplete,
};
use crate::cloudformation::Expr;
use crate::cloudformation::template::UserPoolSpec;

/// Every user pool, then every app client, then every group of the template.
pub(super) async fn deploy_user_pools(
    cognito: &Client,
    deployed: &mut Deployed,
) -> Result<(), DeployError> {
    for pool in deployed.template.user_pools() {
        let name = deployed.name_for(&pool.logical_id, pool.name.as_ref())?;
        let id = match find_user_pool(cognito, &pool.logical_id, &name).await? {
            Some(id) => id,
            None => {
                let id = create_user_pool(cognito, &pool, &name).await?;
                let deletion = Deletion::UserPool { id: id.clone() };
                deployed.created_now(&pool.logical_id, deletion);
                id
            }
        };
        let physical = user_pool(&deployed.region, id);
        deployed.record(&pool.logical_id, physical);
    }

    for client in deployed.template.user_pool_clients() {
        let logical_id = client.logical_id.as_str();
        let pool_id = deployed.resolve_for(logical_id, &Expr::Ref(client.user_pool.clone()))?;
        let name = deployed.name_for(logical_id, client.name.as_ref())?;
        let request = cognito.list_user_pool_clients().user_pool_id(&pool_id);
        let listed = request.into_paginator().items().send();
        let named = |c: &UserPoolClientDescription| c.client_name() == Some(name.as_str());
        let existing = find_listed(listed.collect(), logical_id, "ListUserPoolClients", named)
            .await?
            .and_then(|c| c.client_id);
        let id = match existing {
            Some(id) => id,
            None => {
                let id = cognito
                    .create_user_pool_client()
                    .user_pool_id(&pool_id)
                    .client_name(&name)
                    .generate_secret(client.generate_secret)
                    .set_explicit_auth_flows(Some(
                        client
                            .explicit_auth_flows
                            .iter()
                            .map(|flow| ExplicitAuthFlowsType::from(flow.as_str()))
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(failed(logical_id, "CreateUserPoolClient"))?
                    .user_pool_client
                    .and_then(|c| c.client_id)
                    .ok_or(incomplete(logical_id, "CreateUserPoolClient", "ClientId"))?;
                let deletion = Deletion::UserPoolClient {
                    pool_id: pool_id.clone(),
                    id: id.clone(),
                };
                deployed.created_now(logical_id, deletion);
                id
            }
        };
        deployed.record(logical_id, Physical::UserPoolClient { id });
    }

    for group in deployed.template.user_pool_groups() {
        let logical_id = group.logical_id.as_str();
        let pool_id = deployed.resolve_for(logical_id, &Expr::Ref(group.user_pool.clone()))?;
        let name = deployed.resolve_for(logical_id, &group.name)?;
        let found = cognito
            .get_group()
            .user_pool_id(&pool_id)
            .group_name(&name)
            .send()
            .await;
        match found {
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(GetGroupError::ResourceNotFoundException(_))
                ) =>
            {
                let description =
                    deployed.resolve_optional_for(logical_id, group.description.as_ref())?;
                cognito
                    .create_group()
                    .user_pool_id(&pool_id)
                    .group_name(&name)
                    .set_description(description)
                    .send()
                    .await
                    .map_err(failed(logical_id, "CreateGroup"))?;
                let deletion = Deletion::UserPoolGroup {
                    pool_id: pool_id.clone(),
                    name: name.clone(),
                };
                deployed.created_now(logical_id, deletion);
            }
            Err(error) => return Err(failed(logical_id, "GetGroup")(error)),
        }
        deployed.record(logical_id, Physical::UserPoolGroup { name });
    }
    Ok(())
}

/// A pool's id and the attributes CloudFormation gives it.
fn user_pool(region: &str, id: String) -> Physical {
    let provider_name = format!("cognito-idp.{region}.amazonaws.com/{id}");
    Physical::UserPool {
        arn: format!("arn:aws:cognito-idp:{region}:{ACCOUNT_ID}:userpool/{id}"),
        provider_url: format!("https://{provider_name}"),
        provider_name,
        id,
    }
}

async fn find_user_pool(
    cognito: &Client,
    logical_id: &str,
    name: &str,
) -> Result<Option<String>, DeployError> {
    let request = cognito.list_user_pools().max_results(60);
    let listed = request.into_paginator().items().send();
    let named = |pool: &UserPoolDescriptionType| pool.name() == Some(name);
    let found = find_listed(listed.collect(), logical_id, "ListUserPools", named);
    Ok(found.await?.and_then(|pool| pool.id))
}

/// A new pool with the template's sign-in attributes and password policy (moto enforces the
/// policy at sign-up, as Cognito does).
async fn create_user_pool(
    cognito: &Client,
    pool: &UserPoolSpec,
    name: &str,
) -> Result<String, DeployError> {
    let logical_id = pool.logical_id.as_str();
    let mut request = cognito
        .create_user_pool()
        .pool_name(name)
        .set_username_attributes(Some(
            pool.username_attributes
                .iter()
                .map(|attribute| UsernameAttributeType::from(attribute.as_str()))
                .collect(),
        ))
        .set_auto_verified_attributes(Some(
            pool.auto_verified_attributes
                .iter()
                .map(|attribute| VerifiedAttributeType::from(attribute.as_str()))
                .collect(),
        ))
        .admin_create_user_config(
            AdminCreateUserConfigType::builder()
                .allow_admin_create_user_only(pool.admin_create_user_only)
                .build(),
        );
    if let Some(policy) = &pool.password_policy {
        request = request.policies(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .minimum_length(policy.minimum_length)
                        .require_lowercase(policy.require_lowercase)
                        .require_uppercase(policy.require_uppercase)
                        .require_numbers(policy.require_numbers)
                        .require_symbols(policy.require_symbols)
                        .set_temporary_password_validity_days(
                            policy.temporary_password_validity_days,
                        )
                        .build(),
                )
                .build(),
        );
    }
    request
        .send()
        .await
        .map_err(failed(logical_id, "CreateUserPool"))?
        .user_pool
        .and_then(|pool| pool.id)
        .ok_or(incomplete(logical_id, "CreateUserPool", "Id"))
}
