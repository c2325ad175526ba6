//! The stage's cache as the template sets it: which methods are cached, for how long, and keyed by
//! what ([`cache`](super::cache) keeps the entries).
//!
//! A method caches when the stage has a cache cluster (`CacheClusterEnabled`) and its
//! `MethodSettings` entry, or else the stage default's (`/*`, `*`), has `CachingEnabled: true`,
//! for `CacheTtlInSeconds` (its own, the stage default's, else 300 s; at most 3,600; 0 turns the
//! method's caching off). Its cache key is its `Api` event's `RequestParameters` marked
//! `Caching: true` (SAM writes them as the integration's `cacheKeyParameters`).

use std::time::Duration;

use axum::http::HeaderName;

use super::deployment::DeploymentError;
use crate::cloudformation::template::{ApiSpec, EventSpec, FunctionSpec};

/// `CacheTtlInSeconds` when a method sets none.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// The longest `CacheTtlInSeconds` API Gateway takes.
pub const MAX_TTL: Duration = Duration::from_secs(3600);

/// Where a cache-key parameter's value is: `method.request.path.orderId` is `Path("orderId")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyParameter {
    Path(String),
    QueryString(String),
    /// A header's name; headers are matched without case.
    Header(HeaderName),
}

impl KeyParameter {
    /// `method.request.{path,querystring,header}.<name>`; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("method.request.")?;
        let (location, name) = rest.split_once('.')?;
        if name.is_empty() {
            return None;
        }
        Some(match location {
            "path" => Self::Path(name.to_owned()),
            "querystring" => Self::QueryString(name.to_owned()),
            "header" => Self::Header(HeaderName::from_bytes(name.as_bytes()).ok()?),
            _ => return None,
        })
    }
}

/// A method the stage caches.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedMethod {
    /// Upper case, `GET`.
    pub http_method: String,
    /// The template's path: `/orders/{orderId}`.
    pub resource: String,
    /// `CacheTtlInSeconds`: more than 0 (0 is no caching: the method is not listed).
    pub ttl: Duration,
    /// The method's cache-key parameters, in the template's order.
    pub key_parameters: Vec<KeyParameter>,
}

/// The stage's cache as the template sets it: no methods when the stage has no cache cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheSettings {
    pub methods: Vec<CachedMethod>,
}

/// The stage's cached methods: none without a cache cluster. A method caches if its own
/// `MethodSettings` entry (or else the stage default's) has `CachingEnabled: true` and a TTL
/// (its own, the stage default's, else 300 s) above 0; its key is its event's `RequestParameters`
/// marked `Caching: true`.
pub(super) fn cached_methods(
    api: &ApiSpec,
    functions: &[FunctionSpec],
) -> Result<CacheSettings, DeploymentError> {
    if api.cache_cluster_size.is_none() {
        return Ok(CacheSettings::default());
    }
    let stage_default = api.method_settings.iter().find(|s| s.is_stage_default());
    let mut methods = Vec::new();
    for function in functions {
        for event in &function.events {
            let EventSpec::Api {
                path,
                method,
                cache_key_parameters,
                ..
            } = event
            else {
                continue;
            };
            let own = api.method_settings.iter().find(|setting| {
                setting.resource().as_deref() == Some(path.as_str())
                    && (setting.http_method == "*"
                        || setting.http_method.eq_ignore_ascii_case(method))
            });
            let caching = own
                .and_then(|s| s.caching_enabled)
                .or(stage_default.and_then(|s| s.caching_enabled))
                .unwrap_or(false);
            let ttl = own
                .and_then(|s| s.cache_ttl_seconds)
                .or(stage_default.and_then(|s| s.cache_ttl_seconds))
                .map_or(DEFAULT_TTL, |seconds| Duration::from_secs(seconds.into()));
            if ttl > MAX_TTL {
                return Err(DeploymentError::Limits {
                    api: api.logical_id.clone(),
                    setting: format!(
                        "{method} {path}: CacheTtlInSeconds {} is over API Gateway's 3,600",
                        ttl.as_secs()
                    ),
                });
            }
            // Exam: a TTL of 0 turns the method's caching off.
            if !caching || ttl.is_zero() {
                continue;
            }
            let mut key_parameters = Vec::new();
            for name in cache_key_parameters {
                key_parameters.push(KeyParameter::parse(name).ok_or_else(|| {
                    DeploymentError::Limits {
                        api: api.logical_id.clone(),
                        setting: format!("{method} {path}: {name} cannot be a cache key"),
                    }
                })?);
            }
            methods.push(CachedMethod {
                http_method: method.to_uppercase(),
                resource: path.clone(),
                ttl,
                key_parameters,
            });
        }
    }
    Ok(CacheSettings { methods })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::HeaderName;

    use super::{KeyParameter, cached_methods};
    use crate::cloudformation::Template;

    /// The cached methods of an API with a cache cluster and `method_settings`, whose one route
    /// is `GET /orders/{orderId}` keyed on its order id.
    fn cached(cluster: bool, method_settings: &str) -> Result<Vec<(String, Duration)>, String> {
        let template = Template::parse(&format!(
            "Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      CacheClusterEnabled: {cluster}
      MethodSettings: {method_settings}
  Get:
    Type: AWS::Serverless::Function
    Metadata: {{BuildProperties: {{Binary: get}}}}
    Properties:
      Events:
        Get:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /orders/{{orderId}}
            Method: get
            RequestParameters:
              - method.request.path.orderId: {{Required: true, Caching: true}}
"
        ))
        .unwrap();
        let api = template.apis().remove(0);
        assert_eq!(api.cache_cluster_size.is_some(), cluster);
        let settings = cached_methods(&api, &template.functions()).map_err(|e| e.to_string())?;
        Ok(settings
            .methods
            .into_iter()
            .map(|m| (format!("{} {}", m.http_method, m.resource), m.ttl))
            .collect())
    }

    #[test]
    fn a_method_caches_with_a_cluster_caching_enabled_and_a_ttl_above_0() {
        let own = |ttl: &str| {
            format!(
                "[{{ResourcePath: '/~1orders~1{{orderId}}', HttpMethod: GET, CachingEnabled: true{ttl}}}]"
            )
        };
        let get = "GET /orders/{orderId}".to_owned();
        assert_eq!(
            cached(true, &own(", CacheTtlInSeconds: 60")).unwrap(),
            [(get.clone(), Duration::from_secs(60))]
        );
        // Exam: the TTL is 300 s unless set, and 0 turns caching off.
        assert_eq!(
            cached(true, &own("")).unwrap(),
            [(get.clone(), Duration::from_secs(300))]
        );
        assert_eq!(cached(true, &own(", CacheTtlInSeconds: 0")).unwrap(), []);
        // The stage default's setting applies to a method without its own.
        let stage_wide = "[{ResourcePath: '/*', HttpMethod: '*', CachingEnabled: true}]";
        assert_eq!(
            cached(true, stage_wide).unwrap(),
            [(get, Duration::from_secs(300))]
        );
        // No cache cluster, no cache, whatever the methods say.
        assert_eq!(cached(false, &own("")).unwrap(), []);
        let too_long = cached(true, &own(", CacheTtlInSeconds: 3601")).unwrap_err();
        assert!(too_long.contains("over API Gateway's 3,600"), "{too_long}");
    }

    #[test]
    fn only_path_query_and_header_parameters_are_key_parameters() {
        assert_eq!(
            KeyParameter::parse("method.request.header.Authorization"),
            Some(KeyParameter::Header(HeaderName::from_static(
                "authorization"
            )))
        );
        assert_eq!(KeyParameter::parse("method.request.body.x"), None);
        assert_eq!(KeyParameter::parse("method.request.path."), None);
        assert_eq!(KeyParameter::parse("integration.request.path.x"), None);
    }
}
