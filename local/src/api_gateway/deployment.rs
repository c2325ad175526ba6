//! The API as deployed to its stage: the template's `AWS::Serverless::Api` and the functions'
//! `Api` events, every expression resolved against the created resources, ready to serve.
//!
//! On AWS, a *deployment* is a snapshot of the API's methods, authorizers and gateway responses
//! that a stage serves. Here it is built once at start: each method with its access (the API's
//! default authorizer and `ApiKeyRequired`, unless its event overrides them), each Cognito
//! authorizer with its user pool's public keys (fetched from moto), the usage plan's API key, the
//! gateway responses, the CORS preflight, the limits: `MethodSettings`' throttling, the usage
//! plan's `Throttle` and `Quota`; and the stage's cache
//! ([`cache_settings`](super::cache_settings)): the methods whose `MethodSettings` enable caching
//! when the stage has a cache cluster, each with its TTL and its event's cache-key parameters.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};

use super::access::{Access, ApiKeys, RouteAuthorizer};
use super::authorizer::{AuthorizerError, CognitoAuthorizer, UserPoolTrust};
use super::cache_settings::cached_methods;
use super::gateway_responses::{GatewayResponse, GatewayResponses, static_value};
use super::quota::{Quota, QuotaPeriod};
use super::routes::Route;
use super::throttling::{MethodThrottle, RateLimit, ThrottleSettings};
use super::{ApiSettings, INTEGRATION_TIMEOUT, MIN_INTEGRATION_TIMEOUT, Preflight};
use crate::cloudformation::template::{ApiSpec, CognitoAuthorizerSpec, EventSpec, FunctionSpec};
use crate::cloudformation::{Deployed, ResolveError};

/// SAM's name for the API it makes when `Api` events name none, and that API's stage.
const IMPLICIT_API: (&str, &str) = ("ServerlessRestApi", "Prod");

/// Why the API cannot be served as the template declares it.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    #[error("the template has {0} AWS::Serverless::Api resources; the local stack serves one")]
    SeveralApis(usize),
    #[error("{api}: {cause}")]
    Resolve { api: String, cause: ResolveError },
    #[error("{api}: authorizer {authorizer}: {cause}")]
    Authorizer {
        api: String,
        authorizer: String,
        cause: AuthorizerError,
    },
    #[error("{api}: authorizer {authorizer}: user pool {pool} was not created")]
    NoUserPool {
        api: String,
        authorizer: String,
        pool: String,
    },
    #[error("{function}: event {event} names authorizer {authorizer}, which {api} does not have")]
    UnknownAuthorizer {
        function: String,
        event: String,
        authorizer: String,
        api: String,
    },
    #[error("{api}: {header} is not a valid header name or value")]
    Header { api: String, header: String },
    #[error("{api}: {setting}")]
    Limits { api: String, setting: String },
    #[error(
        "{function}: event {event}: TimeoutInMillis {millis} is outside API Gateway's 50 to 29,000"
    )]
    IntegrationTimeout {
        function: String,
        event: String,
        millis: u64,
    },
}

/// The API the functions' `Api` events belong to, ready to serve. `endpoint` is where the
/// user pools' keys are fetched from (moto).
pub async fn deploy(
    deployed: &Deployed,
    functions: &[FunctionSpec],
    endpoint: &str,
) -> Result<ApiSettings, DeploymentError> {
    let apis = deployed.template().apis();
    let api = match apis.as_slice() {
        [] => None,
        [api] => Some(api),
        several => return Err(DeploymentError::SeveralApis(several.len())),
    };
    let Some(api) = api else {
        let (name, stage) = IMPLICIT_API;
        let routes = routes(functions, None, &[])?;
        return Ok(ApiSettings::open(name, stage, routes));
    };

    let resolve = |expr| {
        deployed
            .resolve(expr)
            .map_err(|cause| DeploymentError::Resolve {
                api: api.logical_id.clone(),
                cause,
            })
    };
    let mut authorizers = Vec::new();
    for spec in &api.auth.authorizers {
        authorizers.push(authorizer(deployed, api, spec, endpoint).await?);
    }
    let api_keys = match (
        deployed.api_key_value(&api.logical_id),
        deployed.api_key_id(&api.logical_id),
    ) {
        (Some(value), Some(id)) => ApiKeys::new([(id.to_owned(), value.to_owned())]),
        _ => ApiKeys::default(),
    };
    let mut gateway_responses = Vec::new();
    for spec in &api.gateway_responses {
        let mut headers = Vec::new();
        for (name, value) in &spec.headers {
            headers.push((name.clone(), resolve(value)?));
        }
        let response = GatewayResponse {
            status: spec.status_code,
            headers,
            json_template: spec.json_template.clone(),
        };
        gateway_responses.push((spec.kind.clone(), response));
    }
    let preflight = match &api.cors {
        Some(cors) => {
            let mut headers = Vec::new();
            for (name, value) in [
                ("access-control-allow-origin", Some(&cors.allow_origin)),
                ("access-control-allow-headers", cors.allow_headers.as_ref()),
                ("access-control-allow-methods", cors.allow_methods.as_ref()),
                ("access-control-max-age", cors.max_age.as_ref()),
            ] {
                if let Some(value) = value {
                    let value = resolve(value)?;
                    headers.push(header(&api.logical_id, name, static_value(&value))?);
                }
            }
            let default = default_access(api, &authorizers);
            let access = Access {
                authorizer: default
                    .authorizer
                    .filter(|_| api.auth.authorizer_on_preflight),
                api_key_required: default.api_key_required && api.auth.api_key_on_preflight,
            };
            Some(Preflight { headers, access })
        }
        None => None,
    };
    Ok(ApiSettings {
        name: api.logical_id.clone(),
        api_id: deployed
            .rest_api_id(&api.logical_id)
            .unwrap_or_default()
            .to_owned(),
        stage: resolve(&api.stage_name)?,
        routes: routes(functions, Some(api), &authorizers)?,
        api_keys,
        gateway_responses: GatewayResponses::new(gateway_responses),
        preflight,
        throttling: throttling(api)?,
        cache: cached_methods(api, functions)?,
    })
}

/// The stage's limits: `MethodSettings`' throttling (an entry without a limit of its own takes
/// the stage default's), the usage plan's `Throttle` and `Quota`, and the account's limit.
fn throttling(api: &ApiSpec) -> Result<ThrottleSettings, DeploymentError> {
    let invalid = |setting: String| DeploymentError::Limits {
        api: api.logical_id.clone(),
        setting,
    };
    let limit = |rate: Option<f64>, burst: Option<u32>, default: Option<RateLimit>| match (
        rate.or(default.map(|d| d.rate_per_second)),
        burst.or(default.map(|d| d.burst)),
    ) {
        (Some(rate_per_second), Some(burst)) => Some(RateLimit {
            rate_per_second,
            burst,
        }),
        _ => None,
    };
    let stage_default = api
        .method_settings
        .iter()
        .find(|setting| setting.is_stage_default())
        .and_then(|setting| limit(setting.rate_limit, setting.burst_limit, None));
    let mut methods = Vec::new();
    for setting in &api.method_settings {
        let Some(resource) = setting.resource() else {
            continue;
        };
        if let Some(own) = limit(setting.rate_limit, setting.burst_limit, stage_default) {
            methods.push(MethodThrottle {
                http_method: setting.http_method.clone(),
                resource,
                limit: own,
            });
        }
    }
    let plan = api.auth.usage_plan.as_ref();
    let per_key = plan
        .and_then(|plan| plan.throttle)
        .map(|(burst, rate)| RateLimit {
            rate_per_second: rate,
            burst: u32::try_from(burst).unwrap_or(0),
        });
    let quota = match plan.and_then(|plan| plan.quota.as_ref()) {
        Some((limit, period)) => Some(Quota {
            limit: u64::try_from(*limit)
                .map_err(|_| invalid(format!("a usage plan quota of {limit}")))?,
            period: QuotaPeriod::parse(period)
                .ok_or_else(|| invalid(format!("a usage plan quota period of {period}")))?,
        }),
        None => None,
    };
    Ok(ThrottleSettings {
        stage_default,
        methods,
        per_key,
        quota,
        ..ThrottleSettings::default()
    })
}

/// A Cognito authorizer of the API, with its pool's keys.
async fn authorizer(
    deployed: &Deployed,
    api: &ApiSpec,
    spec: &CognitoAuthorizerSpec,
    endpoint: &str,
) -> Result<RouteAuthorizer, DeploymentError> {
    let user_pool_id = deployed
        .user_pool_id(&spec.user_pool)
        .ok_or_else(|| DeploymentError::NoUserPool {
            api: api.logical_id.clone(),
            authorizer: spec.name.clone(),
            pool: spec.user_pool.clone(),
        })?
        .to_owned();
    let validation_expression = match &spec.validation_expression {
        Some(expr) => Some(
            deployed
                .resolve(expr)
                .map_err(|cause| DeploymentError::Resolve {
                    api: api.logical_id.clone(),
                    cause,
                })?,
        ),
        None => None,
    };
    let trust = UserPoolTrust {
        region: deployed.region().to_owned(),
        max_token_age: token_lifetime(deployed, &spec.user_pool, validation_expression.as_deref()),
        user_pool_id,
        validation_expression,
    };
    let check = CognitoAuthorizer::fetch(endpoint, trust)
        .await
        .map_err(|cause| DeploymentError::Authorizer {
            api: api.logical_id.clone(),
            authorizer: spec.name.clone(),
            cause,
        })?;
    let header =
        HeaderName::from_bytes(spec.header.as_bytes()).map_err(|_| DeploymentError::Header {
            api: api.logical_id.clone(),
            header: spec.header.clone(),
        })?;
    Ok(RouteAuthorizer {
        name: spec.name.clone(),
        header,
        check: Arc::new(check),
    })
}

/// How long the pool's ID tokens live on AWS: the `IdTokenValidity` of the app client the
/// validation expression names (or of the pool's only client).
fn token_lifetime(deployed: &Deployed, pool: &str, audience: Option<&str>) -> Option<Duration> {
    let clients: Vec<_> = deployed
        .template()
        .user_pool_clients()
        .into_iter()
        .filter(|client| client.user_pool == pool)
        .collect();
    let named = clients.iter().find(|client| {
        audience.is_some() && deployed.user_pool_client_id(&client.logical_id) == audience
    });
    match (named, clients.as_slice()) {
        (Some(client), _) | (None, [client]) => Some(client.id_token_validity),
        _ => None,
    }
}

/// What a method of the API requires when its event says nothing.
fn default_access(api: &ApiSpec, authorizers: &[RouteAuthorizer]) -> Access {
    Access {
        authorizer: api
            .auth
            .default_authorizer
            .as_ref()
            .and_then(|name| authorizers.iter().find(|a| &a.name == name))
            .cloned(),
        api_key_required: api.auth.api_key_required,
    }
}

/// The methods of every function's `Api` events, each with its access.
fn routes(
    functions: &[FunctionSpec],
    api: Option<&ApiSpec>,
    authorizers: &[RouteAuthorizer],
) -> Result<Vec<Route>, DeploymentError> {
    let mut routes = Vec::new();
    for function in functions {
        for event in &function.events {
            let EventSpec::Api {
                name,
                path,
                method,
                auth,
                timeout_millis,
                ..
            } = event
            else {
                continue;
            };
            let integration_timeout = match timeout_millis {
                None => INTEGRATION_TIMEOUT,
                Some(millis) => {
                    let timeout = Duration::from_millis(*millis);
                    if !(MIN_INTEGRATION_TIMEOUT..=INTEGRATION_TIMEOUT).contains(&timeout) {
                        return Err(DeploymentError::IntegrationTimeout {
                            function: function.logical_id.clone(),
                            event: name.clone(),
                            millis: *millis,
                        });
                    }
                    timeout
                }
            };
            let access = match api {
                None => Access::default(),
                Some(api) => {
                    let default = default_access(api, authorizers);
                    let authorizer = match auth.authorizer.as_deref() {
                        None => default.authorizer,
                        Some("NONE") => None,
                        Some(named) => Some(
                            authorizers
                                .iter()
                                .find(|a| a.name == named)
                                .cloned()
                                .ok_or_else(|| DeploymentError::UnknownAuthorizer {
                                    function: function.logical_id.clone(),
                                    event: name.clone(),
                                    authorizer: named.to_owned(),
                                    api: api.logical_id.clone(),
                                })?,
                        ),
                    };
                    Access {
                        authorizer,
                        api_key_required: auth.api_key_required.unwrap_or(default.api_key_required),
                    }
                }
            };
            routes.push(Route {
                method: method.clone(),
                path: path.clone(),
                function: function.logical_id.clone(),
                access,
                integration_timeout,
            });
        }
    }
    Ok(routes)
}

fn header(
    api: &str,
    name: &'static str,
    value: &str,
) -> Result<(HeaderName, HeaderValue), DeploymentError> {
    let value = HeaderValue::from_str(value).map_err(|_| DeploymentError::Header {
        api: api.to_owned(),
        header: name.to_owned(),
    })?;
    Ok((HeaderName::from_static(name), value))
}
