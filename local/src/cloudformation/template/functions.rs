//! `AWS::Serverless::Function`: a function, with `Globals.Function` merged in, and its `Events`:
//! the API routes, queues, table streams and topics that invoke it (SAM turns each into an API
//! method, an event source mapping or a subscription; an SNS event is read in `messaging.rs`).
//!
//! SAM's rule for `Globals` is here ([`merge_globals`]), used for `Globals.Api` too.

use std::collections::BTreeMap;

use serde_norway::Value;

use super::{
    DYNAMODB_TABLE, Expr, Node, Problem, ResourceTypes, RouteAuth, SQS_QUEUE, TemplateError, api,
    messaging,
};
use crate::cloudformation::intrinsics::is_long_form_intrinsic;

/// An `AWS::Serverless::Function`, with `Globals.Function` merged in.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// The workspace binary: `Metadata.BuildProperties.Binary`.
    pub binary: String,
    pub description: Option<String>,
    /// Lambda's default is 3.
    pub timeout_seconds: u64,
    /// Lambda's default is 128.
    pub memory_mb: u32,
    /// `ReservedConcurrentExecutions` (the function's or `Globals.Function`'s). `None`: the
    /// function draws on the account's unreserved pool; `Some(0)`: every invocation is throttled.
    pub reserved_concurrency: Option<u32>,
    /// `Environment.Variables`, the globals' and the function's own (which win).
    pub environment: BTreeMap<String, Expr>,
    /// `LoggingConfig.LogFormat`: `JSON` or `Text`.
    pub log_format: Option<String>,
    /// `LoggingConfig.ApplicationLogLevel`.
    pub application_log_level: Option<Expr>,
    /// `Tracing: Active`.
    pub tracing_active: bool,
    /// `EventInvokeConfig`: what Lambda does with a failed asynchronous event.
    pub event_invoke_config: Option<EventInvokeSpec>,
    pub events: Vec<EventSpec>,
}

/// SAM's `EventInvokeConfig` of a function (an `AWS::Lambda::EventInvokeConfig`). Exam: by
/// default Lambda retries a failed asynchronous event twice and keeps it up to 6 hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInvokeSpec {
    /// `MaximumRetryAttempts`, 0–2; `None`: 2.
    pub maximum_retry_attempts: Option<u32>,
    /// `MaximumEventAgeInSeconds`, 60–21600; `None`: 21600 (6 hours).
    pub maximum_event_age_seconds: Option<u64>,
    /// The logical id of the queue of `DestinationConfig.OnFailure` (`Type: SQS`). Other
    /// destination types (SNS, EventBridge, Lambda, S3) and `OnSuccess` are not played.
    pub on_failure_queue: Option<String>,
}

/// One of a function's `Events`: what invokes it. Event types the local stack does not run
/// (`Schedule`, `S3`, ...) are left out.
#[derive(Debug, Clone, PartialEq)]
pub enum EventSpec {
    /// An API Gateway route.
    Api {
        name: String,
        path: String,
        /// Upper case: `GET`, `POST`, ...
        method: String,
        /// The logical id of its `AWS::Serverless::Api` (`RestApiId`); `None`: SAM's implicit API.
        rest_api: Option<String>,
        /// The route's own `Auth`, over the API's defaults.
        auth: RouteAuth,
        /// `TimeoutInMillis`: the integration timeout; unset, API Gateway's 29 s.
        timeout_millis: Option<u64>,
        /// The `RequestParameters` marked `Caching: true`, in order: the method's cache key
        /// (`method.request.path.orderId`, `method.request.header.Authorization`, ...).
        cache_key_parameters: Vec<String>,
    },
    /// An event source mapping on a queue.
    Sqs {
        name: String,
        /// The logical id of the queue.
        queue: String,
        /// Default 10.
        batch_size: u32,
        /// Default 0.
        batching_window_seconds: u32,
        report_batch_item_failures: bool,
    },
    /// An event source mapping on a table's stream.
    DynamoDbStream {
        name: String,
        /// The logical id of the table whose `StreamArn` the event names.
        table: String,
        /// `TRIM_HORIZON` or `LATEST`.
        starting_position: String,
        /// Default 100.
        batch_size: u32,
        /// Default 0.
        batching_window_seconds: u32,
        report_batch_item_failures: bool,
        /// `None`: Lambda's default, -1 (retry until the record expires).
        maximum_retry_attempts: Option<i64>,
        bisect_on_error: bool,
        /// `FilterCriteria.Filters[].Pattern`, parsed.
        filter_patterns: Vec<serde_json::Value>,
        /// The logical id of the queue of `DestinationConfig.OnFailure` (`Type: SQS`), where
        /// Lambda describes what it gives up on. An SNS topic destination is not played.
        on_failure_queue: Option<String>,
    },
    /// A subscription of the function to a topic: SNS invokes it asynchronously.
    Sns(messaging::SnsEventSpec),
}

pub(super) fn read_function(
    definition: &Node,
    globals: Option<&Value>,
    types: &ResourceTypes,
) -> Result<FunctionSpec, TemplateError> {
    let binary = definition
        .required("Metadata")?
        .required("BuildProperties")?
        .required("Binary")?
        .text()?;
    let merged = with_globals(definition, globals);
    let properties = Node {
        value: &merged,
        ..definition.child("Properties")
    };

    let mut environment = BTreeMap::new();
    if let Some(variables) = properties
        .field("Environment")
        .and_then(|e| e.field("Variables"))
    {
        for (name, value) in variables.entries()? {
            environment.insert(name, value.expr()?);
        }
    }
    let logging = properties.field("LoggingConfig");
    let mut events = Vec::new();
    if let Some(declared) = properties.field("Events") {
        for (name, event) in declared.entries()? {
            events.extend(read_event(name, &event, types)?);
        }
    }
    Ok(FunctionSpec {
        logical_id: definition.resource.to_owned(),
        binary,
        description: properties.optional("Description", Node::text)?,
        timeout_seconds: properties.optional("Timeout", Node::number)?.unwrap_or(3),
        memory_mb: properties
            .optional("MemorySize", Node::number)?
            .unwrap_or(128),
        reserved_concurrency: properties.optional("ReservedConcurrentExecutions", Node::number)?,
        environment,
        log_format: match &logging {
            Some(logging) => logging.optional("LogFormat", Node::text)?,
            None => None,
        },
        application_log_level: match &logging {
            Some(logging) => logging.optional("ApplicationLogLevel", Node::expr)?,
            None => None,
        },
        tracing_active: properties.optional("Tracing", Node::text)?.as_deref() == Some("Active"),
        event_invoke_config: properties.optional("EventInvokeConfig", |config| {
            read_event_invoke_config(config, types)
        })?,
        events,
    })
}

/// A resource's `Properties` with the template's `Globals` for its type merged in.
pub(super) fn with_globals(definition: &Node, globals: Option<&Value>) -> Value {
    let own = definition.value.get("Properties").unwrap_or(&Value::Null);
    match globals {
        Some(globals) => merge_globals(globals, own),
        None => own.clone(),
    }
}

/// One event of a function; `None` for an event type the local stack does not run.
fn read_event(
    name: String,
    event: &Node,
    types: &ResourceTypes,
) -> Result<Option<EventSpec>, TemplateError> {
    let properties = event.required("Properties")?;
    let event = match event.required("Type")?.text()?.as_str() {
        "Api" => EventSpec::Api {
            name,
            path: properties.required("Path")?.text()?,
            method: properties.required("Method")?.text()?.to_uppercase(),
            rest_api: properties.optional("RestApiId", |api| {
                api.reference_to(api::SERVERLESS_API, types)
            })?,
            auth: api::read_route_auth(&properties)?,
            timeout_millis: properties.optional("TimeoutInMillis", Node::number)?,
            cache_key_parameters: cache_key_parameters(&properties)?,
        },
        "SQS" => EventSpec::Sqs {
            name,
            queue: properties
                .required("Queue")?
                .reference_to(SQS_QUEUE, types)?,
            batch_size: batch_size(&properties, 10)?,
            batching_window_seconds: batching_window_seconds(&properties)?,
            report_batch_item_failures: reports_batch_item_failures(&properties)?,
        },
        "DynamoDB" => {
            let mut filter_patterns = Vec::new();
            if let Some(filters) = properties
                .field("FilterCriteria")
                .and_then(|c| c.field("Filters"))
            {
                for filter in filters.items()? {
                    filter_patterns.push(filter.required("Pattern")?.json()?);
                }
            }
            EventSpec::DynamoDbStream {
                name,
                table: properties
                    .required("Stream")?
                    .reference_to(DYNAMODB_TABLE, types)?,
                starting_position: properties.required("StartingPosition")?.text()?,
                batch_size: batch_size(&properties, 100)?,
                batching_window_seconds: batching_window_seconds(&properties)?,
                report_batch_item_failures: reports_batch_item_failures(&properties)?,
                maximum_retry_attempts: properties
                    .optional("MaximumRetryAttempts", Node::number)?,
                bisect_on_error: properties
                    .optional("BisectBatchOnFunctionError", Node::flag)?
                    .unwrap_or(false),
                filter_patterns,
                on_failure_queue: on_failure_queue(&properties, types)?,
            }
        }
        "SNS" => EventSpec::Sns(messaging::read_sns_event(
            name,
            event.resource,
            &properties,
            types,
        )?),
        _ => return Ok(None),
    };
    Ok(Some(event))
}

/// A function's `EventInvokeConfig`, with Lambda's bounds checked (CloudFormation refuses a
/// value outside them).
fn read_event_invoke_config(
    config: &Node,
    types: &ResourceTypes,
) -> Result<EventInvokeSpec, TemplateError> {
    let maximum_retry_attempts = config.optional("MaximumRetryAttempts", |node| {
        let retries: u32 = node.number()?;
        if retries > 2 {
            return Err(node.problem(Problem::Expected("between 0 and 2")));
        }
        Ok(retries)
    })?;
    let maximum_event_age_seconds = config.optional("MaximumEventAgeInSeconds", |node| {
        let seconds: u64 = node.number()?;
        if !(60..=21_600).contains(&seconds) {
            return Err(node.problem(Problem::Expected("between 60 and 21600 seconds")));
        }
        Ok(seconds)
    })?;
    Ok(EventInvokeSpec {
        maximum_retry_attempts,
        maximum_event_age_seconds,
        on_failure_queue: on_failure_queue(config, types)?,
    })
}

/// `DestinationConfig.OnFailure.Destination` of a stream event or of a function's
/// `EventInvokeConfig`, when `Type` is `SQS`.
fn on_failure_queue(
    properties: &Node,
    types: &ResourceTypes,
) -> Result<Option<String>, TemplateError> {
    let Some(on_failure) = properties
        .field("DestinationConfig")
        .and_then(|config| config.field("OnFailure"))
    else {
        return Ok(None);
    };
    if on_failure.required("Type")?.text()? != "SQS" {
        return Ok(None);
    }
    on_failure
        .required("Destination")?
        .reference_to(SQS_QUEUE, types)
        .map(Some)
}

/// `BatchSize`: the most records one invocation gets; unset, Lambda's default for the source
/// (10 for a queue, 100 for a stream).
/// The `RequestParameters` of an `Api` event marked `Caching: true`. Each entry is a name
/// (`method.request.querystring.page`, neither required nor cached) or a one-key map of a name
/// to `{Required, Caching}`; SAM takes only `method.request.header.*`, `.querystring.*` and
/// `.path.*` names.
fn cache_key_parameters(properties: &Node) -> Result<Vec<String>, TemplateError> {
    let Some(parameters) = properties.field("RequestParameters") else {
        return Ok(Vec::new());
    };
    let mut cached = Vec::new();
    for parameter in parameters.items()? {
        let (name, caching) = if parameter.value.is_string() {
            (parameter.text()?, false)
        } else {
            let entries = parameter.entries()?;
            let [(name, settings)] = entries.as_slice() else {
                return Err(parameter.problem(Problem::Expected(
                    "a parameter name, or a map of one name to {Required, Caching}",
                )));
            };
            let caching = settings.optional("Caching", Node::flag)?.unwrap_or(false);
            (name.clone(), caching)
        };
        let valid = ["header", "querystring", "path"].iter().any(|location| {
            name.strip_prefix("method.request.")
                .and_then(|rest| rest.strip_prefix(location))
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|rest| !rest.is_empty())
        });
        if !valid {
            return Err(parameter.problem(Problem::Expected(
                "method.request.header.<name>, method.request.querystring.<name> or method.request.path.<name>",
            )));
        }
        if caching {
            cached.push(name);
        }
    }
    Ok(cached)
}

fn batch_size(properties: &Node, default: u32) -> Result<u32, TemplateError> {
    Ok(properties
        .optional("BatchSize", Node::number)?
        .unwrap_or(default))
}

/// `MaximumBatchingWindowInSeconds`: how long Lambda may wait to fill a batch; unset, 0.
fn batching_window_seconds(properties: &Node) -> Result<u32, TemplateError> {
    Ok(properties
        .optional("MaximumBatchingWindowInSeconds", Node::number)?
        .unwrap_or(0))
}

fn reports_batch_item_failures(properties: &Node) -> Result<bool, TemplateError> {
    let Some(types) = properties.field("FunctionResponseTypes") else {
        return Ok(false);
    };
    for response_type in types.items()? {
        if response_type.text()? == "ReportBatchItemFailures" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// SAM's rule for `Globals`: maps merge key by key, lists are appended, anything else (an
/// intrinsic function too) is replaced by the function's own value.
fn merge_globals(global: &Value, own: &Value) -> Value {
    match (global, own) {
        (Value::Mapping(global), Value::Mapping(own))
            if !is_long_form_intrinsic(global) && !is_long_form_intrinsic(own) =>
        {
            let mut merged = global.clone();
            for (key, value) in own {
                let value = match global.get(key) {
                    Some(global_value) => merge_globals(global_value, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), value);
            }
            Value::Mapping(merged)
        }
        (Value::Sequence(global), Value::Sequence(own)) => {
            Value::Sequence(global.iter().chain(own).cloned().collect())
        }
        (global, Value::Null) => global.clone(),
        (_, own) => own.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Template;

    /// A template with `globals` under `Globals.Function` and functions `A` (with `own` among
    /// its properties) and `B` (with nothing of its own).
    fn reserved_concurrency(globals: &str, own: &str) -> Vec<(String, Option<u32>)> {
        let yaml = format!(
            "Globals:\n  Function:\n    Timeout: 3\n{globals}Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: a\n    Properties:\n      MemorySize: 128\n{own}  B:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: b\n"
        );
        let mut functions: Vec<_> = Template::parse(&yaml)
            .expect("the template parses")
            .functions()
            .into_iter()
            .map(|function| (function.logical_id, function.reserved_concurrency))
            .collect();
        functions.sort();
        functions
    }

    #[test]
    fn reserved_concurrency_comes_from_the_function_or_the_globals() {
        let none = reserved_concurrency("", "");
        assert_eq!(none, [("A".into(), None), ("B".into(), None)]);
        let own = reserved_concurrency("", "      ReservedConcurrentExecutions: 2\n");
        assert_eq!(own, [("A".into(), Some(2)), ("B".into(), None)]);
        let global = reserved_concurrency(
            "    ReservedConcurrentExecutions: 5\n",
            "      ReservedConcurrentExecutions: 0\n",
        );
        assert_eq!(global, [("A".into(), Some(0)), ("B".into(), Some(5))]);
    }

    #[test]
    fn a_key_for_the_environment_variables_is_accepted_and_left_to_lambda() {
        // Exam: `KmsKeyArn` encrypts the function's environment variables at rest with a customer
        // managed key. The local Lambda service keeps them in memory: nothing to encrypt.
        let yaml = "Globals:\n  Function:\n    KmsKeyArn: !GetAtt Key.Arn\nResources:\n  Key: {Type: AWS::KMS::Key}\n  A:\n    Type: AWS::Serverless::Function\n    Metadata: {BuildProperties: {Binary: a}}\n    Properties:\n      Environment: {Variables: {X: x}}\n";
        let template = Template::parse(yaml).expect("KmsKeyArn is not refused");
        assert_eq!(template.functions()[0].environment.len(), 1);
    }

    /// A template whose function `A` has `EventInvokeConfig` `config` (indented under it) and a
    /// queue `Failures`.
    fn with_event_invoke_config(config: &str) -> Result<Template, super::TemplateError> {
        Template::parse(&format!(
            "Resources:\n  Failures:\n    Type: AWS::SQS::Queue\n  A:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: a\n    Properties:\n      EventInvokeConfig:\n{config}"
        ))
    }

    #[test]
    fn event_invoke_config_is_read_with_its_on_failure_queue() {
        let template = with_event_invoke_config(
            "        MaximumRetryAttempts: 0\n        MaximumEventAgeInSeconds: 60\n        DestinationConfig:\n          OnFailure:\n            Type: SQS\n            Destination: !GetAtt Failures.Arn\n",
        )
        .expect("the template parses");
        let function = template.functions().into_iter().next().unwrap();
        assert_eq!(
            function.event_invoke_config,
            Some(super::EventInvokeSpec {
                maximum_retry_attempts: Some(0),
                maximum_event_age_seconds: Some(60),
                on_failure_queue: Some("Failures".into()),
            })
        );
    }

    #[test]
    fn event_invoke_config_out_of_lambdas_bounds_is_refused() {
        // Exam: 0 to 2 retries; an event age of 60 s to 6 h.
        let retries = with_event_invoke_config("        MaximumRetryAttempts: 3\n").unwrap_err();
        assert!(retries.to_string().contains("between 0 and 2"), "{retries}");
        let age = with_event_invoke_config("        MaximumEventAgeInSeconds: 59\n").unwrap_err();
        assert!(age.to_string().contains("between 60 and 21600"), "{age}");
    }

    #[test]
    fn the_cache_key_is_the_request_parameters_marked_caching() {
        let template = Template::parse(include_str!("../../../../template.yaml")).unwrap();
        let function = template
            .functions()
            .into_iter()
            .find(|f| f.logical_id == "GetOrderFunction")
            .unwrap();
        let super::EventSpec::Api {
            cache_key_parameters,
            ..
        } = &function.events[0]
        else {
            panic!("GetOrderFunction's event is an Api event");
        };
        // Exam: the caller's token is part of the key, or customers would share entries.
        assert_eq!(
            cache_key_parameters,
            &[
                "method.request.path.orderId",
                "method.request.querystring.consistent",
                "method.request.header.Authorization",
            ]
        );
    }

    #[test]
    fn a_request_parameter_sam_does_not_take_is_refused() {
        let yaml = |parameter: &str| {
            format!(
                "Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: a\n    Properties:\n      Events:\n        Get:\n          Type: Api\n          Properties:\n            Path: /a\n            Method: get\n            RequestParameters:\n              - {parameter}\n"
            )
        };
        assert!(Template::parse(&yaml("method.request.querystring.page")).is_ok());
        let error = Template::parse(&yaml("method.request.body.page")).unwrap_err();
        assert!(
            error.to_string().contains("method.request.header"),
            "{error}"
        );
    }
}
