//! The REST API in the template (`AWS::Serverless::Api`): what API Gateway checks and answers by
//! itself, before and instead of the functions.
//!
//! - `Auth`: the authorizers (here Cognito user pool authorizers), the default one every method
//!   gets, whether every method needs an API key, and the usage plan that meters the keys; an
//!   `Api` event of a function may override both for its route (`Auth.Authorizer: NONE`,
//!   `Auth.ApiKeyRequired: false`).
//! - `Cors`: the answer to a browser's preflight (`OPTIONS`), which SAM adds to every path.
//! - `GatewayResponses`: the status, headers and body of API Gateway's own answers (401, 403,
//!   404 for an unknown route, 429, 5XX ...), here reshaped into the app's error shape.
//! - `MethodSettings`: the stage's throttling limits ([`method_settings`](super::method_settings)).

use std::collections::BTreeMap;

use super::identity::USER_POOL;
use super::method_settings::{MethodSettingSpec, conditional_entry, read_method_settings};
use super::{Expr, Node, Problem, ResourceTypes, TemplateError};

pub(super) const SERVERLESS_API: &str = "AWS::Serverless::Api";

/// An `AWS::Serverless::Api`, with `Globals.Api` merged in.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSpec {
    pub logical_id: String,
    /// `Name`; unset: the stack names it.
    pub name: Option<Expr>,
    /// `StageName`: the last segment of the invoke URL.
    pub stage_name: Expr,
    pub auth: ApiAuthSpec,
    pub cors: Option<CorsSpec>,
    pub gateway_responses: Vec<GatewayResponseSpec>,
    /// `MethodSettings`, the entries whose condition holds.
    pub method_settings: Vec<MethodSettingSpec>,
    /// The stage's cache cluster, in GB (`CacheClusterSize`, 0.5 unless set), when
    /// `CacheClusterEnabled` is true; `None`: the stage has no cache.
    pub cache_cluster_size: Option<String>,
}

/// The sizes of a stage's cache cluster API Gateway offers, in GB.
pub const CACHE_CLUSTER_SIZES: [&str; 8] =
    ["0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237"];

/// `Auth` of an API.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiAuthSpec {
    /// The authorizer every method gets unless its event says otherwise.
    pub default_authorizer: Option<String>,
    pub authorizers: Vec<CognitoAuthorizerSpec>,
    /// Every method needs an API key (`x-api-key`) unless its event says otherwise.
    pub api_key_required: bool,
    /// `AddDefaultAuthorizerToCorsPreflight` (SAM's default: true).
    pub authorizer_on_preflight: bool,
    /// `AddApiKeyRequiredToCorsPreflight` (SAM's default: true).
    pub api_key_on_preflight: bool,
    pub usage_plan: Option<UsagePlanSpec>,
}

/// A Cognito user pool authorizer (`UserPoolArn`); Lambda authorizers are not played locally.
#[derive(Debug, Clone, PartialEq)]
pub struct CognitoAuthorizerSpec {
    /// Its name under `Authorizers`, as methods name it.
    pub name: String,
    /// The logical id of the user pool whose tokens it accepts.
    pub user_pool: String,
    /// `Identity.Header` (default `Authorization`): where the token is.
    pub header: String,
    /// `Identity.ValidationExpression`: a regular expression the token's `aud` must match.
    pub validation_expression: Option<Expr>,
}

/// `Auth.UsagePlan`: the plan SAM creates for the API's keys (`PER_API`: one key, one plan).
#[derive(Debug, Clone, PartialEq)]
pub struct UsagePlanSpec {
    /// `PER_API`, `SHARED` or `NONE`.
    pub create: String,
    pub description: Option<String>,
    /// Requests per `QuotaPeriod` (`DAY`, `WEEK`, `MONTH`).
    pub quota: Option<(i32, String)>,
    /// (burst, requests per second).
    pub throttle: Option<(i32, f64)>,
}

/// `Cors`: the preflight's answer; each value is a quoted string (`"'*'"`), as API Gateway's
/// mapping expressions write a static value.
#[derive(Debug, Clone, PartialEq)]
pub struct CorsSpec {
    pub allow_origin: Expr,
    pub allow_headers: Option<Expr>,
    pub allow_methods: Option<Expr>,
    pub max_age: Option<Expr>,
}

/// One of `GatewayResponses`: `UNAUTHORIZED`, `INVALID_API_KEY`, `DEFAULT_4XX`, ...
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayResponseSpec {
    pub kind: String,
    /// `StatusCode`; unset: the type's own status.
    pub status_code: Option<u16>,
    /// `ResponseParameters.Headers`: quoted static values (`"'*'"`).
    pub headers: Vec<(String, Expr)>,
    /// `ResponseTemplates["application/json"]`, with `$context.error.messageString` and friends.
    pub json_template: Option<String>,
}

/// An `Api` event's own `Auth`: it overrides the API's default for its route.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteAuth {
    /// `Authorizer`: a name, or `NONE` for none.
    pub authorizer: Option<String>,
    pub api_key_required: Option<bool>,
}

pub(super) fn read_api(
    properties: &Node,
    types: &ResourceTypes,
    conditions: &BTreeMap<String, bool>,
) -> Result<ApiSpec, TemplateError> {
    let auth = match properties.field("Auth") {
        Some(auth) => read_auth(&auth, types)?,
        None => ApiAuthSpec {
            authorizer_on_preflight: true,
            api_key_on_preflight: true,
            ..ApiAuthSpec::default()
        },
    };
    let cors = match properties.field("Cors") {
        None => None,
        // `Cors: "'https://example.com'"` is the origin alone.
        Some(origin) if origin.value.is_string() => Some(CorsSpec {
            allow_origin: origin.expr()?,
            allow_headers: None,
            allow_methods: None,
            max_age: None,
        }),
        Some(cors) => Some(CorsSpec {
            allow_origin: cors.required("AllowOrigin")?.expr()?,
            allow_headers: cors.optional("AllowHeaders", Node::expr)?,
            allow_methods: cors.optional("AllowMethods", Node::expr)?,
            max_age: cors.optional("MaxAge", Node::expr)?,
        }),
    };
    let mut gateway_responses = Vec::new();
    if let Some(responses) = properties.field("GatewayResponses") {
        for (kind, response) in responses.entries()? {
            gateway_responses.push(read_gateway_response(kind, &response)?);
        }
    }
    let method_settings = match properties.field("MethodSettings") {
        Some(settings) => read_method_settings(&settings, conditions)?,
        None => Vec::new(),
    };
    // Either may be an `!If` on a parameter's condition, as this template's are.
    let cache_enabled = match properties.field("CacheClusterEnabled") {
        Some(enabled) => match conditional_entry(enabled, conditions)? {
            Some(enabled) => enabled.flag()?,
            None => false,
        },
        None => false,
    };
    let cache_cluster_size =
        match properties.field("CacheClusterSize") {
            Some(size) => match conditional_entry(size, conditions)? {
                Some(size) => {
                    let size = size.text()?;
                    if !CACHE_CLUSTER_SIZES.contains(&size.as_str()) {
                        return Err(properties.child("CacheClusterSize").problem(
                            Problem::Expected("one of 0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118, 237"),
                        ));
                    }
                    Some(size)
                }
                None => None,
            },
            None => None,
        };
    Ok(ApiSpec {
        cache_cluster_size: cache_enabled
            .then(|| cache_cluster_size.unwrap_or_else(|| "0.5".to_owned())),
        logical_id: properties.resource.to_owned(),
        name: properties.optional("Name", Node::expr)?,
        stage_name: properties.required("StageName")?.expr()?,
        auth,
        cors,
        gateway_responses,
        method_settings,
    })
}

fn read_auth(auth: &Node, types: &ResourceTypes) -> Result<ApiAuthSpec, TemplateError> {
    let mut authorizers = Vec::new();
    if let Some(declared) = auth.field("Authorizers") {
        for (name, authorizer) in declared.entries()? {
            if authorizer.field("FunctionArn").is_some() {
                return Err(authorizer.problem(Problem::Unsupported(
                    "Lambda authorizers: the local stack plays Cognito user pool authorizers",
                )));
            }
            let identity = authorizer.field("Identity");
            let header = match &identity {
                Some(identity) => identity.optional("Header", Node::text)?,
                None => None,
            };
            let validation_expression = match &identity {
                Some(identity) => identity.optional("ValidationExpression", Node::expr)?,
                None => None,
            };
            if let Some(scopes) = authorizer.field("AuthorizationScopes") {
                return Err(scopes.problem(Problem::Unsupported(
                    "OAuth scopes (access tokens): the local authorizer takes ID tokens",
                )));
            }
            authorizers.push(CognitoAuthorizerSpec {
                name,
                user_pool: authorizer
                    .required("UserPoolArn")?
                    .reference_to(USER_POOL, types)?,
                header: header.unwrap_or_else(|| "Authorization".into()),
                validation_expression,
            });
        }
    }
    let default_authorizer = auth.optional("DefaultAuthorizer", Node::text)?;
    if let Some(name) = &default_authorizer
        && !authorizers.iter().any(|a| &a.name == name)
    {
        return Err(auth
            .child("DefaultAuthorizer")
            .problem(Problem::Expected("the name of one of Auth.Authorizers")));
    }
    let usage_plan = match auth.field("UsagePlan") {
        Some(plan) => Some(UsagePlanSpec {
            create: plan.required("CreateUsagePlan")?.text()?,
            description: plan.optional("Description", Node::text)?,
            quota: match plan.field("Quota") {
                Some(quota) => Some((
                    quota.required("Limit")?.number()?,
                    quota.required("Period")?.text()?,
                )),
                None => None,
            },
            throttle: match plan.field("Throttle") {
                Some(throttle) => Some((
                    throttle.required("BurstLimit")?.number()?,
                    rate(&throttle.required("RateLimit")?)?,
                )),
                None => None,
            },
        }),
        None => None,
    };
    let flag_or = |key: &str, default: bool| -> Result<bool, TemplateError> {
        Ok(auth.optional(key, Node::flag)?.unwrap_or(default))
    };
    Ok(ApiAuthSpec {
        default_authorizer,
        authorizers,
        api_key_required: flag_or("ApiKeyRequired", false)?,
        authorizer_on_preflight: flag_or("AddDefaultAuthorizerToCorsPreflight", true)?,
        api_key_on_preflight: flag_or("AddApiKeyRequiredToCorsPreflight", true)?,
        usage_plan,
    })
}

fn read_gateway_response(
    kind: String,
    response: &Node,
) -> Result<GatewayResponseSpec, TemplateError> {
    let mut headers = Vec::new();
    if let Some(declared) = response
        .field("ResponseParameters")
        .and_then(|parameters| parameters.field("Headers"))
    {
        for (name, value) in declared.entries()? {
            headers.push((name, value.expr()?));
        }
    }
    let json_template = match response.field("ResponseTemplates") {
        Some(templates) => templates.optional("application/json", Node::text)?,
        None => None,
    };
    Ok(GatewayResponseSpec {
        kind,
        status_code: response.optional("StatusCode", Node::number)?,
        headers,
        json_template,
    })
}

/// An `Api` event's `Auth`, if it has one.
pub(super) fn read_route_auth(properties: &Node) -> Result<RouteAuth, TemplateError> {
    let Some(auth) = properties.field("Auth") else {
        return Ok(RouteAuth::default());
    };
    Ok(RouteAuth {
        authorizer: auth.optional("Authorizer", Node::text)?,
        api_key_required: auth.optional("ApiKeyRequired", Node::flag)?,
    })
}

/// A rate: requests per second, whole or not.
pub(super) fn rate(node: &Node) -> Result<f64, TemplateError> {
    node.text()?
        .trim()
        .parse()
        .map_err(|_| node.problem(Problem::Expected("a number")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudformation::template::tests::{real_template, the_one};
    use crate::cloudformation::template::{EventSpec, Template};

    #[test]
    fn the_orders_api_has_the_cognito_authorizer_by_default_and_needs_a_key() {
        let apis = real_template().apis();
        let api = the_one(&apis, "API");
        assert_eq!(api.logical_id, "OrdersApi");
        assert_eq!(api.stage_name, Expr::Ref("StageName".into()));
        let auth = &api.auth;
        assert_eq!(
            auth.default_authorizer.as_deref(),
            Some("CustomerPoolAuthorizer")
        );
        let authorizer = the_one(&auth.authorizers, "authorizer");
        assert_eq!(authorizer.user_pool, "CustomerPool");
        assert_eq!(authorizer.header, "Authorization");
        assert_eq!(
            authorizer.validation_expression,
            Some(Expr::Ref("CustomerPoolClient".into()))
        );
        assert!(auth.api_key_required);
        assert!(!auth.authorizer_on_preflight && !auth.api_key_on_preflight);
        let plan = auth.usage_plan.as_ref().expect("a usage plan");
        assert_eq!(plan.create, "PER_API");
        assert_eq!(plan.quota, Some((10000, "DAY".into())));
        assert_eq!(plan.throttle, Some((50, 25.0)));
    }

    #[test]
    fn the_gateway_responses_and_cors_are_read() {
        let api = real_template().apis().remove(0);
        let unauthorized = api
            .gateway_responses
            .iter()
            .find(|r| r.kind == "UNAUTHORIZED")
            .expect("an UNAUTHORIZED response");
        assert_eq!(unauthorized.status_code, Some(401));
        assert!(
            unauthorized
                .json_template
                .as_deref()
                .is_some_and(|t| t.contains("$context.error.messageString"))
        );
        assert_eq!(unauthorized.headers[0].0, "Access-Control-Allow-Origin");
        let cors = api.cors.expect("Cors");
        assert!(matches!(cors.allow_origin, Expr::Sub(_)));
        assert!(cors.allow_headers.is_some() && cors.allow_methods.is_some());
    }

    #[test]
    fn every_route_names_the_api_and_takes_its_defaults() {
        for function in real_template().functions() {
            for event in function.events {
                if let EventSpec::Api { rest_api, auth, .. } = event {
                    assert_eq!(
                        rest_api.as_deref(),
                        Some("OrdersApi"),
                        "{}",
                        function.logical_id
                    );
                    assert_eq!(auth, RouteAuth::default(), "{}", function.logical_id);
                }
            }
        }
    }

    /// A one-API template with `auth` as its `Auth`, and a route with `route_auth`.
    fn parse(
        auth: &str,
        route_auth: &str,
    ) -> Result<Template, crate::cloudformation::template::TemplateError> {
        Template::parse(&format!(
            "Resources:
  Pool: {{Type: AWS::Cognito::UserPool}}
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      Auth: {auth}
  F:
    Type: AWS::Serverless::Function
    Metadata: {{BuildProperties: {{Binary: f}}}}
    Properties:
      Events:
        Get:
          Type: Api
          Properties: {{RestApiId: !Ref Api, Path: /x, Method: get, Auth: {route_auth}}}
"
        ))
    }

    #[test]
    fn a_route_may_override_the_apis_authorizer_and_key() {
        let template = parse(
            "{DefaultAuthorizer: A, ApiKeyRequired: true, Authorizers: {A: {UserPoolArn: !GetAtt Pool.Arn}}}",
            "{Authorizer: NONE, ApiKeyRequired: false}",
        )
        .unwrap();
        let EventSpec::Api { auth, .. } = &template.functions()[0].events[0] else {
            panic!("an Api event")
        };
        assert_eq!(
            auth,
            &RouteAuth {
                authorizer: Some("NONE".into()),
                api_key_required: Some(false)
            }
        );
        let api = &template.apis()[0];
        assert_eq!(
            api.auth.authorizers[0].header, "Authorization",
            "the default"
        );
        assert!(api.auth.authorizer_on_preflight, "SAM's default");
    }

    #[test]
    fn a_route_may_lower_its_integration_timeout_and_the_templates_keep_29_s() {
        let template = Template::parse(
            "Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: f}}
    Properties:
      Events:
        Get: {Type: Api, Properties: {Path: /x, Method: get, TimeoutInMillis: 500}}
",
        )
        .unwrap();
        let EventSpec::Api { timeout_millis, .. } = &template.functions()[0].events[0] else {
            panic!("an Api event")
        };
        assert_eq!(*timeout_millis, Some(500));
        for function in real_template().functions() {
            for event in function.events {
                if let EventSpec::Api { timeout_millis, .. } = event {
                    assert_eq!(timeout_millis, None, "{}", function.logical_id);
                }
            }
        }
    }

    #[test]
    fn what_the_local_stack_cannot_play_is_an_error_naming_it() {
        let lambda = parse(
            "{Authorizers: {L: {FunctionArn: arn:aws:lambda:us-east-1:1:function:f}}}",
            "{}",
        )
        .unwrap_err();
        assert!(
            lambda.to_string().contains("Lambda authorizers"),
            "{lambda}"
        );
        let unknown = parse(
            "{DefaultAuthorizer: Missing, Authorizers: {A: {UserPoolArn: !GetAtt Pool.Arn}}}",
            "{}",
        )
        .unwrap_err();
        assert!(
            unknown.to_string().contains("DefaultAuthorizer"),
            "{unknown}"
        );
        let not_a_pool =
            parse("{Authorizers: {A: {UserPoolArn: !GetAtt Api.Arn}}}", "{}").unwrap_err();
        assert!(not_a_pool.to_string().contains("UserPool"), "{not_a_pool}");
    }
}
