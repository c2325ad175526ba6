//! A subsegment for every AWS SDK call, recorded by an SDK interceptor.
//!
//! The AWS SDK for Rust lets code hook into every request it sends ("interceptors"). This one opens
//! a span when an operation starts and closes it when the operation ends, retries included, with
//! what X-Ray shows for AWS calls: namespace `aws`, the service and the operation, the table, the
//! HTTP status, and `error` (4xx), `throttle` (429) or `fault` (5xx) with the error code as cause.
//! The clients are built with [`dynamodb_client`], [`kms_client`] and [`sns_client`], so no call
//! goes untraced. A function crate that calls another service builds its client with the same
//! interceptor, and names the error codes of its own operations with
//! [`AwsCallTracing::reading_error_codes`] (the pre-traffic hook does, for CodeDeploy and Lambda).
//!
//! DynamoDB calls that asked for it (`ReturnConsumedCapacity`, as every call of the store does)
//! also get the capacity units DynamoDB reports they consumed: X-Ray metadata
//! `consumedCapacity` on the subsegment, and a log line `consumed capacity` with the operation and
//! table, inside the invocation's span (request id, trace id). Exam: capacity units
//! (`store::capacity`); a strongly consistent read reports twice the units of an eventual one.
//!
//! Exam: trace propagation. Each request also carries the `X-Amzn-Trace-Id` header, naming the
//! call's subsegment as the parent: a service with active tracing continues the trace from there.
//! SNS does, and passes the header on to SQS, which keeps it with the message as the
//! `AWSTraceHeader` system attribute for the consumer to read.

use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::{QueryError, QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{
    UpdateItemError, UpdateItemInput, UpdateItemOutput,
};
use aws_sdk_dynamodb::types::ConsumedCapacity;
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyError;
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::operation::publish_batch::PublishBatchError;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut, Error,
    FinalizerInterceptorContextRef, Output,
};
use aws_smithy_runtime_api::client::orchestrator::{Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tracing::field::Empty;

use super::xray::{self, SPAN_EVENTS, SPANS};

/// A DynamoDB client whose calls are traced.
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(config)
        .interceptor(AwsCallTracing::default())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A KMS client whose calls are traced.
pub fn kms_client(config: &aws_config::SdkConfig) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::config::Builder::from(config)
        .interceptor(AwsCallTracing::default())
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// An SNS client whose calls are traced (and carry the trace header on to the queues).
pub fn sns_client(config: &aws_config::SdkConfig) -> aws_sdk_sns::Client {
    let config = aws_sdk_sns::config::Builder::from(config)
        .interceptor(AwsCallTracing::default())
        .build();
    aws_sdk_sns::Client::from_conf(config)
}

/// A Secrets Manager client whose calls are traced.
pub fn secrets_manager_client(config: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::config::Builder::from(config)
        .interceptor(AwsCallTracing::default())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// The interceptor: stateless; the open span travels in the operation's `ConfigBag`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsCallTracing {
    /// Reads the error codes of operations [`error_code`] does not know (a function crate's own).
    more_error_codes: Option<ErrorCodeOf>,
}

/// The error of a failed operation, as the interceptor sees it: type-erased.
pub use aws_smithy_runtime_api::client::interceptors::context::Error as OperationError;

/// Reads the error code of a failed operation, `None` if the error is of none of its types.
pub type ErrorCodeOf = fn(&OperationError) -> Option<String>;

impl AwsCallTracing {
    /// The interceptor for a client whose operations this module does not call: `error_code_of`
    /// names their errors' codes, with [`code_of`] for each operation's error type.
    pub fn reading_error_codes(error_code_of: ErrorCodeOf) -> Self {
        Self {
            more_error_codes: Some(error_code_of),
        }
    }
}

/// The error code of `error` if it is an `E` (the error of one operation, `InvokeError` say).
pub fn code_of<E>(error: &OperationError) -> Option<String>
where
    E: ProvideErrorMetadata + std::error::Error + std::fmt::Debug + Send + Sync + 'static,
{
    error
        .downcast_ref::<E>()
        .map(|error| error.code().unwrap_or("ServiceError").to_owned())
}

/// The span of the operation in flight, and what it calls (for the consumed-capacity log line).
#[derive(Debug)]
struct CallSpan {
    span: tracing::Span,
    operation: String,
    table: Option<String>,
}

impl Storable for CallSpan {
    type Storer = StoreReplace<Self>;
}

impl Intercept for AwsCallTracing {
    fn name(&self) -> &'static str {
        "AwsCallTracing"
    }

    /// Once per operation (retries reuse the serialized request), when the operation's metadata
    /// (service and operation name) is in the config bag.
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (xray_service_name(m.service()), m.name().to_owned()))
            .unwrap_or_else(|| ("AWS".to_owned(), "unknown".to_owned()));
        let span = tracing::info_span!(
            target: SPANS,
            "aws",
            otel.name = %service,
            otel.kind = "client",
            otel.status_code = Empty,
            rpc.system = "aws-api",
            rpc.service = %service,
            rpc.method = %operation,
            aws.table.name = Empty,
            http.response.status_code = Empty,
            // The `metadata.` prefix makes the X-Ray exporter file it as (unindexed) metadata.
            metadata.consumedCapacity = Empty,
        );
        let table = table_name(context);
        if let Some(table) = &table {
            span.record("aws.table.name", table.as_str());
        }
        cfg.interceptor_state().store_put(CallSpan {
            span,
            operation,
            table,
        });
        Ok(())
    }

    /// Propagation: the call's subsegment becomes the parent in `X-Amzn-Trace-Id` (the SDK's own
    /// recursion detection would otherwise copy the invocation's `_X_AMZN_TRACE_ID`). AWS leaves
    /// this header out of the SigV4 signature, so it may be set here.
    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(CallSpan { span, .. }) = cfg.load::<CallSpan>()
            && let Some(header) = xray::trace_header(span)
        {
            context
                .request_mut()
                .headers_mut()
                .insert(xray::TRACE_HEADER, header);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(CallSpan {
            span,
            operation,
            table,
        }) = cfg.load::<CallSpan>()
        else {
            return Ok(());
        };
        if let Some(response) = context.response() {
            span.record("http.response.status_code", response.status().as_u16());
        }
        if let Some(Ok(output)) = context.output_or_error()
            && let Some(units) = consumed_capacity_units(output)
        {
            span.record("metadata.consumedCapacity", units);
            tracing::info!(
                operation = %operation,
                table = table.as_deref().unwrap_or_default(),
                consumedCapacity = units,
                "consumed capacity"
            );
        }
        if let Some(Err(error)) = context.output_or_error() {
            span.record("otel.status_code", "error");
            // The cause shown on the subsegment: the error code only (never a message, which
            // may quote request data).
            tracing::event!(
                target: SPAN_EVENTS,
                parent: span,
                tracing::Level::ERROR,
                exception.type = error_code(error, self.more_error_codes),
                "exception"
            );
        }
        // Dropping the stored span ends it: the subsegment's end time is now.
        cfg.interceptor_state().unset::<CallSpan>();
        Ok(())
    }
}

/// The error code of a failed call (`ConditionalCheckFailedException`, `ThrottlingException`, ...).
fn error_code(error: &OrchestratorError<Error>, more_error_codes: Option<ErrorCodeOf>) -> String {
    if error.is_timeout_error() {
        return "Timeout".into();
    }
    if error.is_connector_error() {
        return "ConnectionError".into();
    }
    let Some(error) = error.as_operation_error() else {
        return "ClientError".into();
    };
    // The orchestrator holds the operation's error type-erased: try the operations called here.
    macro_rules! code_of {
        ($($error:ty),*) => {$(
            if let Some(error) = error.downcast_ref::<$error>() {
                return error.code().unwrap_or("ServiceError").to_owned();
            }
        )*};
    }
    code_of!(
        GetItemError,
        PutItemError,
        UpdateItemError,
        QueryError,
        TransactWriteItemsError,
        GenerateDataKeyError,
        DecryptError,
        PublishError,
        PublishBatchError
    );
    more_error_codes
        .and_then(|error_code_of| error_code_of(error))
        .unwrap_or_else(|| "ServiceError".into())
}

/// The capacity units a DynamoDB call reports it consumed, if it was asked to
/// (`ReturnConsumedCapacity`); a transaction reports one figure per table, added up here.
fn consumed_capacity_units(output: &Output) -> Option<f64> {
    let total = |consumed: Option<&ConsumedCapacity>| consumed?.capacity_units();
    if let Some(output) = output.downcast_ref::<GetItemOutput>() {
        total(output.consumed_capacity())
    } else if let Some(output) = output.downcast_ref::<QueryOutput>() {
        total(output.consumed_capacity())
    } else if let Some(output) = output.downcast_ref::<PutItemOutput>() {
        total(output.consumed_capacity())
    } else if let Some(output) = output.downcast_ref::<UpdateItemOutput>() {
        total(output.consumed_capacity())
    } else if let Some(output) = output.downcast_ref::<TransactWriteItemsOutput>() {
        let tables = output.consumed_capacity();
        (!tables.is_empty()).then(|| {
            tables
                .iter()
                .filter_map(ConsumedCapacity::capacity_units)
                .sum()
        })
    } else {
        None
    }
}

/// X-Ray's names for the services this application calls (the service map shows these).
fn xray_service_name(sdk_service: &str) -> String {
    match sdk_service.to_ascii_lowercase().as_str() {
        "dynamodb" => "DynamoDB".into(),
        "kms" => "KMS".into(),
        "sns" => "SNS".into(),
        "sqs" => "SQS".into(),
        "lambda" => "Lambda".into(),
        "codedeploy" => "CodeDeploy".into(),
        other => other.to_owned(),
    }
}

/// The table a DynamoDB call names, for the subsegment's `aws.table_name`.
fn table_name(context: &BeforeSerializationInterceptorContextRef<'_>) -> Option<String> {
    let input = context.input();
    input
        .downcast_ref::<GetItemInput>()
        .and_then(|i| i.table_name())
        .or_else(|| input.downcast_ref::<PutItemInput>()?.table_name())
        .or_else(|| input.downcast_ref::<UpdateItemInput>()?.table_name())
        .or_else(|| input.downcast_ref::<QueryInput>()?.table_name())
        .map(str::to_owned)
}
