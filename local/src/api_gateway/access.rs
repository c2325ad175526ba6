//! Who may call a method: API Gateway's checks before the integration, in its order.
//!
//! | step | check                                          | refused with                        |
//! |------|------------------------------------------------|-------------------------------------|
//! | 1    | a route for the method and path                | `MISSING_AUTHENTICATION_TOKEN` (403) |
//! | 2    | the method's authorizer: a valid ID token      | `UNAUTHORIZED` (401)                |
//! | 3    | the method's API key: `x-api-key` of the plan  | `INVALID_API_KEY` (403)             |
//! | 4    | the quota and the throttles: usage plan (per key), method, account | `QUOTA_EXCEEDED`, `THROTTLED` (429), see [`throttling`](super::throttling) |
//!
//! Why the authorizer comes before the key: AWS documents that an API may take its keys from the
//! authorizer (`apiKeySource: AUTHORIZER`, the Lambda authorizer returns `usageIdentifierKey`),
//! so API Gateway must have run the authorizer before it can look the key up; with keys from the
//! header (this API) the order is the same. So a request without either is a 401, not a 403.
//!
//! Exam: an API key is not authentication. It names a client *app* (for the usage plan's quota
//! and throttling), anyone who holds it is that app, and a browser app's key is public. Who the
//! *user* is comes from the token, which only the user pool can sign.
//!
//! What the checks establish travels on to the function in the proxy event:
//! `requestContext.authorizer.claims` (the token's claims) and `requestContext.identity.apiKey` /
//! `apiKeyId`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName};

use super::authorizer::{Claims, CognitoAuthorizer, Refusal};

/// The header API Gateway reads the API key from (`apiKeySource: HEADER`).
pub const API_KEY_HEADER: &str = "x-api-key";

/// A method's authorizer: its name in the template, the header its token comes in, and the check.
#[derive(Debug, Clone)]
pub struct RouteAuthorizer {
    pub name: String,
    /// The identity source (`Authorization`).
    pub header: HeaderName,
    pub check: Arc<CognitoAuthorizer>,
}

/// What a method requires of a caller.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub authorizer: Option<RouteAuthorizer>,
    pub api_key_required: bool,
}

/// The API keys of the API's usage plan: value -> key id.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    by_value: HashMap<String, String>,
}

impl ApiKeys {
    /// The keys `(id, value)` a usage plan of the API's stage holds.
    pub fn new(keys: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            by_value: keys.into_iter().map(|(id, value)| (value, id)).collect(),
        }
    }
}

/// The API key a request was admitted with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedApiKey {
    pub id: String,
    pub value: String,
}

/// What the checks established about an admitted request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Admitted {
    /// The token's claims, as the function will see them; `None` on a method without an
    /// authorizer.
    pub claims: Option<Claims>,
    pub api_key: Option<UsedApiKey>,
}

impl Admitted {
    /// Whether the caller is allowed `execute-api:InvalidateCache` (and so may refresh a cache
    /// entry with `Cache-Control: max-age=0`). That permission is an IAM policy's, for a caller
    /// API Gateway authorized with IAM (SigV4); the local API's methods admit callers by Cognito
    /// token or by none, who have no IAM identity, so no caller here has it.
    pub fn may_invalidate_cache(&self) -> bool {
        false
    }
}

/// Why a request never reached the function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("authorizer {authorizer} refused the request: {refusal}")]
    Unauthorized {
        authorizer: String,
        refusal: Refusal,
    },
    #[error("no x-api-key header")]
    NoApiKey,
    #[error("the x-api-key is not a key of the API's usage plan")]
    UnknownApiKey,
}

impl Access {
    /// Runs the method's checks, in API Gateway's order, on a request's headers at `now`.
    pub fn admit(
        &self,
        keys: &ApiKeys,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Admitted, Denied> {
        let claims = match &self.authorizer {
            Some(authorizer) => {
                let token = headers
                    .get(&authorizer.header)
                    .and_then(|value| value.to_str().ok());
                let claims = authorizer.check.authorize(token, now).map_err(|refusal| {
                    Denied::Unauthorized {
                        authorizer: authorizer.name.clone(),
                        refusal,
                    }
                })?;
                Some(claims)
            }
            None => None,
        };
        let api_key = if self.api_key_required {
            let value = headers
                .get(API_KEY_HEADER)
                .and_then(|value| value.to_str().ok())
                .filter(|value| !value.is_empty())
                .ok_or(Denied::NoApiKey)?;
            let id = keys.by_value.get(value).ok_or(Denied::UnknownApiKey)?;
            Some(UsedApiKey {
                id: id.clone(),
                value: value.to_owned(),
            })
        } else {
            None
        };
        Ok(Admitted { claims, api_key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_gateway::authorizer::UserPoolTrust;
    use axum::http::HeaderValue;

    /// An authorizer whose pool has no key a token could be signed with: every token fails it.
    fn closed_authorizer() -> RouteAuthorizer {
        let jwks: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/test-jwks.json")).unwrap();
        let trust = UserPoolTrust {
            region: "us-east-1".into(),
            user_pool_id: "us-east-1_Test".into(),
            validation_expression: None,
            max_token_age: None,
        };
        RouteAuthorizer {
            name: "Pool".into(),
            header: HeaderName::from_static("authorization"),
            check: Arc::new(CognitoAuthorizer::new(trust, &jwks).unwrap()),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    // The one key of the usage plan that `keys` makes: its id and its value.
    const KEY_ID: &str = "key-id-1";
    const KEY_VALUE: &str = "a-valid-api-key-value-0001";

    fn keys() -> ApiKeys {
        ApiKeys::new([(KEY_ID.to_owned(), KEY_VALUE.to_owned())])
    }

    /// A request's headers with the usage plan's key in `x-api-key`.
    fn valid_key() -> HeaderMap {
        headers(&[("x-api-key", KEY_VALUE)])
    }

    #[test]
    fn a_method_without_checks_admits_anyone_and_knows_nothing_of_them() {
        let admitted = Access::default()
            .admit(&keys(), &HeaderMap::new(), SystemTime::now())
            .unwrap();
        assert_eq!(admitted, Admitted::default());
    }

    #[test]
    fn the_api_key_must_be_one_of_the_usage_plans() {
        let access = Access {
            authorizer: None,
            api_key_required: true,
        };
        let now = SystemTime::now();
        assert_eq!(
            access.admit(&keys(), &HeaderMap::new(), now),
            Err(Denied::NoApiKey)
        );
        assert_eq!(
            access.admit(&keys(), &headers(&[("x-api-key", "")]), now),
            Err(Denied::NoApiKey)
        );
        assert_eq!(
            access.admit(&keys(), &headers(&[("x-api-key", "guessed")]), now),
            Err(Denied::UnknownApiKey)
        );
        let admitted = access.admit(&keys(), &valid_key(), now).unwrap();
        assert_eq!(
            admitted.api_key,
            Some(UsedApiKey {
                id: KEY_ID.into(),
                value: KEY_VALUE.into()
            })
        );
        assert_eq!(admitted.claims, None);
    }

    #[test]
    fn the_authorizer_runs_before_the_api_key_is_looked_at() {
        let access = Access {
            authorizer: Some(closed_authorizer()),
            api_key_required: true,
        };
        let now = SystemTime::now();
        // Neither a token nor a key: the authorizer's 401, not the key's 403.
        let denied = access.admit(&keys(), &HeaderMap::new(), now).unwrap_err();
        assert!(
            matches!(
                &denied,
                Denied::Unauthorized {
                    refusal: Refusal::NoToken,
                    ..
                }
            ),
            "{denied:?}"
        );
        // A valid key does not make up for a missing token.
        let denied = access.admit(&keys(), &valid_key(), now).unwrap_err();
        assert!(matches!(denied, Denied::Unauthorized { .. }), "{denied:?}");
        let garbage = headers(&[("authorization", "not-a-token")]);
        assert!(matches!(
            access.admit(&keys(), &garbage, now),
            Err(Denied::Unauthorized { .. })
        ));
    }
}
