//! The function's answer as a response: reading a proxy response, or finding it malformed.
//!
//! The function owns the status code, headers and body; API Gateway only checks the answer's
//! shape. Anything that is not a proxy response is a *malformed Lambda proxy response*, which
//! the client sees as `502` (the caller, [`crate::api_gateway`], maps it).

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

/// A function's answer that is not a proxy response.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MalformedResponse {
    #[error("the function's output is not JSON")]
    NotJson,
    #[error("the function's output is not a JSON object")]
    NotAnObject,
    #[error("the function's output has no statusCode")]
    MissingStatusCode,
    #[error("statusCode is not a number")]
    StatusCodeNotANumber,
    #[error("statusCode {0} is not an HTTP status")]
    InvalidStatusCode(String),
    #[error("header {0:?} is not a valid header name and value")]
    InvalidHeader(String),
    #[error("body is neither a string nor null")]
    BodyNotAString,
    #[error("isBase64Encoded is not a boolean")]
    Base64FlagNotABoolean,
    #[error("body is marked base64 but does not decode")]
    InvalidBase64,
}

/// The HTTP response of a proxy response. Where `headers` and `multiValueHeaders` name the same
/// header, the multi-value list wins (as API Gateway merges them). Without a `Content-Type`,
/// the response is `application/json`.
pub fn http_response(function_output: &[u8]) -> Result<Response, MalformedResponse> {
    let output: Value =
        serde_json::from_slice(function_output).map_err(|_| MalformedResponse::NotJson)?;
    let Value::Object(output) = output else {
        return Err(MalformedResponse::NotAnObject);
    };
    let status = match output.get("statusCode") {
        None | Some(Value::Null) => return Err(MalformedResponse::MissingStatusCode),
        Some(Value::Number(number)) => number
            .as_u64()
            .filter(|code| (100..=599).contains(code))
            .and_then(|code| StatusCode::from_u16(code as u16).ok())
            .ok_or_else(|| MalformedResponse::InvalidStatusCode(number.to_string()))?,
        Some(_) => return Err(MalformedResponse::StatusCodeNotANumber),
    };

    let mut headers = HeaderMap::new();
    if let Some(multi_value) = output.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in multi_value {
            let values = match values {
                Value::Array(values) => values.as_slice(),
                Value::Null => &[],
                _ => return Err(MalformedResponse::InvalidHeader(name.clone())),
            };
            for value in values {
                let (name, value) = header(name, value)?;
                headers.append(name, value);
            }
        }
    }
    if let Some(single) = output.get("headers").and_then(Value::as_object) {
        for (name, value) in single {
            let (name, value) = header(name, value)?;
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }

    let base64 = match output.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(MalformedResponse::Base64FlagNotABoolean),
    };
    let body = match output.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if base64 => BASE64
            .decode(text)
            .map_err(|_| MalformedResponse::InvalidBase64)?,
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(_) => return Err(MalformedResponse::BodyNotAString),
    };

    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// One header of a proxy response; a number or boolean value is taken as its text.
fn header(name: &str, value: &Value) -> Result<(HeaderName, HeaderValue), MalformedResponse> {
    let invalid = || MalformedResponse::InvalidHeader(name.to_owned());
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => return Err(invalid()),
    };
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
    let value = HeaderValue::from_str(&text).map_err(|_| invalid())?;
    Ok((name, value))
}
