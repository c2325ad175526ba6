//! `MethodSettings` of an `AWS::Serverless::Api`: the stage's throttling limits and caching, the
//! default for every method (`ResourcePath: /*`, `HttpMethod: *`) and each method's own entry. An entry may be
//! an `!If` on a condition, as the cached method's is in this template: it is read when the
//! condition holds and its branch is not `AWS::NoValue`.

use std::collections::BTreeMap;

use serde_norway::Value;

use super::api::rate;
use super::{Node, Problem, TemplateError};
use crate::cloudformation::intrinsics::intrinsic_call;

/// One entry of `MethodSettings`: the throttling limits and caching of a method, or of every
/// method (`ResourcePath: /*`, `HttpMethod: *`). Its metrics and logging settings are not read.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodSettingSpec {
    /// `/*`, or a resource with each `/` escaped `~1`: `/~1orders~1{orderId}`.
    pub resource_path: String,
    /// `*` or a method (`POST`).
    pub http_method: String,
    /// `ThrottlingRateLimit`: requests per second.
    pub rate_limit: Option<f64>,
    /// `ThrottlingBurstLimit`: the token bucket's size.
    pub burst_limit: Option<u32>,
    /// `CachingEnabled` (with the stage's cache cluster).
    pub caching_enabled: Option<bool>,
    /// `CacheTtlInSeconds` (API Gateway: 0 to 3,600; unset, 300).
    pub cache_ttl_seconds: Option<u32>,
}

impl MethodSettingSpec {
    /// The entry that sets every method's default.
    pub fn is_stage_default(&self) -> bool {
        self.resource_path == "/*" && self.http_method == "*"
    }

    /// The resource path it names, unescaped (`/~1orders~1{orderId}` is `/orders/{orderId}`);
    /// `None` for `/*`.
    pub fn resource(&self) -> Option<String> {
        let escaped = self.resource_path.strip_prefix('/')?;
        (escaped != "*").then(|| escaped.replace("~1", "/"))
    }
}

/// Every entry of `MethodSettings` whose condition holds.
pub(super) fn read_method_settings(
    settings: &Node,
    conditions: &BTreeMap<String, bool>,
) -> Result<Vec<MethodSettingSpec>, TemplateError> {
    let mut read = Vec::new();
    for entry in settings.items()? {
        if let Some(entry) = conditional_entry(entry, conditions)? {
            read.push(read_method_setting(&entry)?);
        }
    }
    Ok(read)
}

/// A list entry that may be `!If [Condition, entry, !Ref AWS::NoValue]`: the branch the
/// condition takes, or `None` when that branch is `AWS::NoValue` (no entry).
pub(super) fn conditional_entry<'a>(
    entry: Node<'a>,
    conditions: &BTreeMap<String, bool>,
) -> Result<Option<Node<'a>>, TemplateError> {
    let Some((function, arguments)) = intrinsic_call(entry.value) else {
        return Ok(Some(entry));
    };
    let branches = match (function.as_str(), arguments.as_sequence()) {
        ("If", Some(branches)) if branches.len() == 3 => branches,
        _ => {
            return Err(entry.problem(Problem::Expected(
                "a map, or !If [Condition, a map, !Ref AWS::NoValue]",
            )));
        }
    };
    let name = branches[0].as_str().unwrap_or_default();
    let holds = conditions
        .get(name)
        .ok_or_else(|| entry.problem(Problem::UnknownCondition(name.to_owned())))?;
    let value: &'a Value = if *holds { &branches[1] } else { &branches[2] };
    let no_value = matches!(
        intrinsic_call(value),
        Some((function, name)) if function == "Ref" && name.as_str() == Some("AWS::NoValue")
    );
    Ok((!no_value).then(|| Node {
        value,
        path: format!("{}.Fn::If[{}]", entry.path, if *holds { 1 } else { 2 }),
        ..entry
    }))
}

fn read_method_setting(entry: &Node) -> Result<MethodSettingSpec, TemplateError> {
    Ok(MethodSettingSpec {
        resource_path: entry.required("ResourcePath")?.text()?,
        http_method: entry.required("HttpMethod")?.text()?,
        rate_limit: entry.optional("ThrottlingRateLimit", rate)?,
        burst_limit: entry.optional("ThrottlingBurstLimit", Node::number)?,
        caching_enabled: entry.optional("CachingEnabled", Node::flag)?,
        cache_ttl_seconds: entry.optional("CacheTtlInSeconds", Node::number)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::cloudformation::template::Template;
    use crate::cloudformation::template::tests::real_template;

    #[test]
    fn the_stage_and_method_throttling_limits_are_read() {
        let api = real_template().apis().remove(0);
        let throttling: Vec<_> = api
            .method_settings
            .iter()
            .map(|s| {
                (
                    s.resource(),
                    s.http_method.as_str(),
                    s.rate_limit,
                    s.burst_limit,
                )
            })
            .collect();
        // The cached method's entry is an `!If` on ApiCacheOn, false by default: left out.
        assert_eq!(
            throttling,
            [
                (None, "*", Some(50.0), Some(100)),
                (Some("/orders".into()), "POST", Some(10.0), Some(20)),
            ]
        );
        assert!(api.method_settings[0].is_stage_default());
        assert_eq!(api.method_settings[0].caching_enabled, Some(false));
    }

    #[test]
    fn the_cached_methods_entry_is_read_when_the_cache_is_on() {
        let overrides = [("ApiCacheEnabled".to_owned(), "true".to_owned())];
        let template =
            Template::parse_with_overrides(include_str!("../../../../template.yaml"), &overrides)
                .unwrap();
        let api = template.apis().remove(0);
        let cached: Vec<_> = api
            .method_settings
            .iter()
            .filter(|s| s.caching_enabled == Some(true))
            .map(|s| (s.resource(), s.http_method.as_str(), s.cache_ttl_seconds))
            .collect();
        assert_eq!(
            cached,
            [(Some("/orders/{orderId}".into()), "GET", Some(60))]
        );
        assert_eq!(api.cache_cluster_size.as_deref(), Some("0.5"));
    }

    #[test]
    fn a_method_setting_behind_a_condition_is_read_when_it_holds() {
        let template = |cache: &str| {
            Template::parse(&format!(
                "Parameters: {{Cache: {{Type: String, Default: '{cache}'}}}}
Conditions: {{CacheOn: !Equals [!Ref Cache, 'true']}}
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: dev
      MethodSettings:
        - !If
          - CacheOn
          - {{ResourcePath: '/~1orders~1{{orderId}}', HttpMethod: GET, ThrottlingRateLimit: 5, ThrottlingBurstLimit: 7}}
          - !Ref AWS::NoValue
"
            ))
            .unwrap()
            .apis()
            .remove(0)
            .method_settings
        };
        assert_eq!(template("false"), []);
        let on = template("true");
        assert_eq!(on[0].resource().as_deref(), Some("/orders/{orderId}"));
        assert_eq!((on[0].rate_limit, on[0].burst_limit), (Some(5.0), Some(7)));
    }
}
