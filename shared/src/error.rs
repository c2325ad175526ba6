//! The one error type, and the one place where errors become HTTP statuses.
//!
//! Every fallible step of a request returns [`AppError`]. [`AppError::status`] and
//! [`AppError::code`] are the whole mapping to the HTTP contract; `api::error_response` renders it
//! as `{"error": {"code", "message", "details"?}}`. Client errors say exactly what to fix; server
//! errors say nothing of their cause (no SDK message, ARN or table name reaches a client): the
//! cause is logged instead.

use crate::crypto::CryptoError;
use crate::domain::{FieldError, Order, OrderStatus};
use lambda_http::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The body is not JSON at all (or not UTF-8).
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON, but fields are missing, of the wrong type or out of range.
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    /// A header or query parameter is unusable (`If-Match: abc`, a forged `nextToken`).
    #[error("{0}")]
    BadRequest(String),
    /// No verified caller: the request reached the function without the authorizer's claims.
    #[error("the request is not signed in")]
    Unauthenticated,
    /// The caller is known, and this is not theirs to do (`support` changing an order).
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("no such order")]
    NotFound,
    /// The status machine forbids this change in the order's current status.
    #[error("cannot {action} an order that is {status}")]
    NotAllowedInStatus {
        action: &'static str,
        status: OrderStatus,
    },
    /// Optimistic locking: the client's copy is stale. Carries the current order, so the client
    /// can merge and retry without another read.
    #[error("the order has changed: it is at version {}", .current.version)]
    VersionConflict { current: Box<Order> },
    #[error("the request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The same `Idempotency-Key` was used before with a different body.
    #[error("this Idempotency-Key was used with a different request body")]
    IdempotencyKeyReused,
    /// Another request with the same `Idempotency-Key` is being written at this moment.
    #[error("another request with this Idempotency-Key is in progress: retry after a short wait")]
    ConcurrentRequest,
    /// A conditional write needs `If-Match`; without it the client could overwrite blindly.
    #[error("this request needs an If-Match header with the order's version (its ETag)")]
    PreconditionRequired,
    /// A dependency throttled us even after the SDK's retries (with backoff and jitter), or did
    /// not answer within the SDK's operation timeout (`config::sdk_timeouts`): both pass.
    #[error("the service is busy, retry after a short wait")]
    Throttled,
    /// Anything else: a bug or an outage. The cause is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::MalformedJson(_) | AppError::Validation(_) | AppError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::NotAllowedInStatus { .. } => StatusCode::CONFLICT,
            AppError::VersionConflict { .. } => StatusCode::PRECONDITION_FAILED,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::ConcurrentRequest => StatusCode::CONFLICT,
            AppError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            AppError::Throttled => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code of the error shape.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::MalformedJson(_) => "MalformedJson",
            AppError::Validation(_) => "ValidationFailed",
            AppError::BadRequest(_) => "BadRequest",
            // The same code as API Gateway's UNAUTHORIZED gateway response (template.yaml).
            AppError::Unauthenticated => "Unauthorized",
            AppError::Forbidden(_) => "Forbidden",
            AppError::NotFound => "OrderNotFound",
            AppError::NotAllowedInStatus { .. } => "InvalidStatusTransition",
            AppError::VersionConflict { .. } => "VersionConflict",
            AppError::PayloadTooLarge { .. } => "PayloadTooLarge",
            AppError::IdempotencyKeyReused => "IdempotencyKeyReused",
            AppError::ConcurrentRequest => "ConcurrentRequest",
            AppError::PreconditionRequired => "PreconditionRequired",
            AppError::Throttled => "ServiceUnavailable",
            AppError::Internal(_) => "InternalError",
        }
    }

    /// The message a client sees: the error's text, except for internal errors.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Internal(_) => "an internal error occurred".to_owned(),
            other => other.to_string(),
        }
    }
}

/// A failure to seal a card is never the client's fault: throttling is a 503 worth retrying,
/// anything else is internal (its cause, which holds no key or card data, goes to the log).
impl From<CryptoError> for AppError {
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::Throttled(_) => AppError::Throttled,
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<Vec<FieldError>> for AppError {
    fn from(errors: Vec<FieldError>) -> Self {
        AppError::Validation(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_its_status_and_code() {
        let cases = [
            (AppError::MalformedJson("eof".into()), 400, "MalformedJson"),
            (AppError::Validation(vec![]), 400, "ValidationFailed"),
            (AppError::BadRequest("x".into()), 400, "BadRequest"),
            (AppError::Unauthenticated, 401, "Unauthorized"),
            (AppError::Forbidden("no"), 403, "Forbidden"),
            (AppError::NotFound, 404, "OrderNotFound"),
            (
                AppError::NotAllowedInStatus {
                    action: "cancel",
                    status: OrderStatus::Cancelled,
                },
                409,
                "InvalidStatusTransition",
            ),
            (
                AppError::PayloadTooLarge { limit: 1 },
                413,
                "PayloadTooLarge",
            ),
            (AppError::IdempotencyKeyReused, 422, "IdempotencyKeyReused"),
            (AppError::ConcurrentRequest, 409, "ConcurrentRequest"),
            (AppError::PreconditionRequired, 428, "PreconditionRequired"),
            (AppError::Throttled, 503, "ServiceUnavailable"),
            (AppError::Internal("boom".into()), 500, "InternalError"),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.code(), code);
        }
    }

    #[test]
    fn internal_causes_stay_private() {
        let error = AppError::Internal("DynamoDB said arn:aws:dynamodb:... is missing".into());
        assert_eq!(error.public_message(), "an internal error occurred");
    }

    #[test]
    fn transitions_name_the_action_and_status() {
        let error = AppError::NotAllowedInStatus {
            action: "cancel",
            status: OrderStatus::Shipped,
        };
        assert_eq!(error.to_string(), "cannot cancel an order that is SHIPPED");
    }
}
