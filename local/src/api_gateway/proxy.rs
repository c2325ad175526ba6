//! The Lambda proxy integration: the request as an event, the function's answer as a response.
//!
//! With a *proxy integration* API Gateway does no mapping of its own: it hands the whole HTTP
//! request to the function as one JSON event and turns the function's JSON answer back into the
//! HTTP response. See the module documentation of [`crate::api_gateway`] for both shapes.
//!
//! | module       | what it plays                                                   |
//! |--------------|-----------------------------------------------------------------|
//! | [`event`]    | the request as a REST API (v1) proxy event                      |
//! | [`response`] | the function's answer as the HTTP response, or malformed (502)  |

pub mod event;
pub mod response;

pub use event::{Context, proxy_event};
pub(super) use event::{extended_request_id, header_text};
pub use response::{MalformedResponse, http_response};

#[cfg(test)]
mod tests;
