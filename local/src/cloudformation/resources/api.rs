//! The template's REST API on moto's API Gateway: the API itself, and, for `Auth.ApiKeyRequired`
//! with a `PER_API` usage plan, what SAM creates beside it: `<Api>ApiKey`, `<Api>UsagePlan` (with
//! the template's quota and throttle, on the API's stage) and `<Api>UsagePlanKey` between them.
//!
//! The local stack's own API Gateway ([`crate::api_gateway`]) serves the requests; moto holds
//! the API's records, so that `aws apigateway get-api-keys --include-values` finds the key
//! clients must send, as on AWS. Each is found by name before it is created.

use aws_sdk_apigateway::Client;
use aws_sdk_apigateway::types::{
    ApiKey, ApiStage, QuotaPeriodType, QuotaSettings, RestApi, ThrottleSettings, UsagePlan,
    UsagePlanKey,
};

use super::{Deletion, DeployError, Deployed, Physical, failed, find_listed, incomplete};
use crate::cloudformation::template::ApiSpec;

/// Every `AWS::Serverless::Api`, with its key and usage plan.
pub(super) async fn deploy_apis(
    apigateway: &Client,
    deployed: &mut Deployed,
) -> Result<(), DeployError> {
    for api in deployed.template.apis() {
        let logical_id = api.logical_id.as_str();
        let name = deployed.name_for(logical_id, api.name.as_ref())?;
        let listed = apigateway.get_rest_apis().into_paginator().items().send();
        let named = |rest_api: &RestApi| rest_api.name() == Some(name.as_str());
        let existing = find_listed(listed.collect(), logical_id, "GetRestApis", named).await?;
        let rest_api = match existing {
            Some(rest_api) => rest_api,
            None => {
                let created = apigateway
                    .create_rest_api()
                    .name(&name)
                    .send()
                    .await
                    .map_err(failed(logical_id, "CreateRestApi"))?;
                if let Some(id) = &created.id {
                    deployed.created_now(logical_id, Deletion::RestApi { id: id.clone() });
                }
                RestApi::builder()
                    .set_id(created.id)
                    .set_root_resource_id(created.root_resource_id)
                    .build()
            }
        };
        let id = rest_api
            .id
            .ok_or(incomplete(logical_id, "CreateRestApi", "Id"))?;
        let root_resource_id = rest_api.root_resource_id.unwrap_or_default();
        deployed.record(
            logical_id,
            Physical::RestApi {
                id: id.clone(),
                root_resource_id,
            },
        );
        if api.auth.api_key_required
            && let Some(plan) = &api.auth.usage_plan
            && plan.create == "PER_API"
        {
            deploy_key_and_plan(apigateway, deployed, &api, &id).await?;
        }
    }
    Ok(())
}

/// The API's key and usage plan, as SAM names them.
async fn deploy_key_and_plan(
    apigateway: &Client,
    deployed: &mut Deployed,
    api: &ApiSpec,
    rest_api_id: &str,
) -> Result<(), DeployError> {
    let key_logical_id = format!("{}ApiKey", api.logical_id);
    let key_name = deployed.physical_name(&key_logical_id);
    let request = apigateway.get_api_keys().name_query(&key_name);
    let listed = request.include_values(true).into_paginator().items().send();
    let named = |key: &ApiKey| key.name() == Some(key_name.as_str());
    let existing = find_listed(listed.collect(), &key_logical_id, "GetApiKeys", named).await?;
    let (key_id, value) = match existing {
        Some(key) => (key.id, key.value),
        None => {
            let created = apigateway
                .create_api_key()
                .name(&key_name)
                .enabled(true)
                .send()
                .await
                .map_err(failed(&key_logical_id, "CreateApiKey"))?;
            if let Some(id) = &created.id {
                deployed.created_now(&key_logical_id, Deletion::ApiKey { id: id.clone() });
            }
            (created.id, created.value)
        }
    };
    let key_id = key_id.ok_or(incomplete(&key_logical_id, "CreateApiKey", "Id"))?;
    let value = value.ok_or(incomplete(&key_logical_id, "CreateApiKey", "Value"))?;
    deployed.record(
        &key_logical_id,
        Physical::ApiKey {
            id: key_id.clone(),
            value,
        },
    );

    let plan_logical_id = format!("{}UsagePlan", api.logical_id);
    let plan_name = deployed.physical_name(&plan_logical_id);
    let stage = deployed.resolve_for(&api.logical_id, &api.stage_name)?;
    let listed = apigateway.get_usage_plans().into_paginator().items().send();
    let named = |plan: &UsagePlan| plan.name() == Some(plan_name.as_str());
    let existing = find_listed(listed.collect(), &plan_logical_id, "GetUsagePlans", named)
        .await?
        .and_then(|plan| plan.id);
    let plan_id = match existing {
        Some(id) => id,
        None => {
            let spec = api.auth.usage_plan.as_ref();
            let throttle = spec.and_then(|plan| plan.throttle).map(|(burst, rate)| {
                ThrottleSettings::builder()
                    .burst_limit(burst)
                    .rate_limit(rate)
                    .build()
            });
            let quota = spec
                .and_then(|plan| plan.quota.as_ref())
                .map(|(limit, period)| {
                    QuotaSettings::builder()
                        .limit(*limit)
                        .period(QuotaPeriodType::from(period.as_str()))
                        .build()
                });
            let plan_id = apigateway
                .create_usage_plan()
                .name(&plan_name)
                .set_description(spec.and_then(|plan| plan.description.clone()))
                .set_throttle(throttle)
                .set_quota(quota)
                .api_stages(ApiStage::builder().api_id(rest_api_id).stage(stage).build())
                .send()
                .await
                .map_err(failed(&plan_logical_id, "CreateUsagePlan"))?
                .id
                .ok_or(incomplete(&plan_logical_id, "CreateUsagePlan", "Id"))?;
            let deletion = Deletion::UsagePlan {
                id: plan_id.clone(),
            };
            deployed.created_now(&plan_logical_id, deletion);
            plan_id
        }
    };
    deployed.record(
        &plan_logical_id,
        Physical::UsagePlan {
            id: plan_id.clone(),
        },
    );

    let link_logical_id = format!("{}UsagePlanKey", api.logical_id);
    let request = apigateway.get_usage_plan_keys().usage_plan_id(&plan_id);
    let listed = request.into_paginator().items().send();
    let this_key = |key: &UsagePlanKey| key.id() == Some(key_id.as_str());
    let linked = find_listed(
        listed.collect(),
        &link_logical_id,
        "GetUsagePlanKeys",
        this_key,
    )
    .await?
    .is_some();
    if !linked {
        apigateway
            .create_usage_plan_key()
            .usage_plan_id(&plan_id)
            .key_id(&key_id)
            .key_type("API_KEY")
            .send()
            .await
            .map_err(failed(&link_logical_id, "CreateUsagePlanKey"))?;
        let deletion = Deletion::UsagePlanKey {
            plan_id: plan_id.clone(),
            key_id: key_id.clone(),
        };
        deployed.created_now(&link_logical_id, deletion);
    }
    Ok(())
}
