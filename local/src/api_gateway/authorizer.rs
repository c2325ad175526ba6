//! # The Cognito user pool authorizer (`COGNITO_USER_POOLS`), locally
//!
//! A REST API method with a Cognito user pool authorizer is guarded by API Gateway itself: it
//! checks the caller's token before any function runs, and a request it refuses never reaches
//! Lambda. The token is a JWT that the user pool issued at sign-in, sent in the method's
//! *identity source* header (here `Authorization`), bare or as `Bearer <token>`.
//!
//! A JWT is three base64url parts, `header.payload.signature`. Cognito signs with RS256 (an RSA
//! signature over SHA-256) using one of the pool's private keys; the header's `kid` names which.
//! The public halves are the pool's JWKS (JSON Web Key Set), served at
//! `https://cognito-idp.<region>.amazonaws.com/<userPoolId>/.well-known/jwks.json`, so anyone
//! can check a token without asking Cognito.
//!
//! With no OAuth scopes on the method, API Gateway expects an *ID token* (who the user is) and
//! answers `401` unless every check passes:
//!
//! | check                                                              | `401` message if not             |
//! |--------------------------------------------------------------------|----------------------------------|
//! | the header is present and not empty                                | `Unauthorized`                   |
//! | `alg` is `RS256` (never `none` or `HS256`)                         | `Unauthorized`                   |
//! | `kid` is one of the pool's keys, and the signature holds           | `Unauthorized`                   |
//! | `iss` is `https://cognito-idp.<region>.amazonaws.com/<userPoolId>` | `Unauthorized`                   |
//! | `token_use` is `id` (an access token says `access`)                | `Unauthorized`                   |
//! | `aud` (the app client) matches the identity validation expression  | `Unauthorized`                   |
//! | `exp` is in the future                                             | `The incoming token has expired` |
//! | locally only: `iat` is within the app client's `IdTokenValidity`   | `The incoming token has expired` |
//!
//! Exam: the algorithm is fixed by the authorizer, not by the token. A verifier that believed
//! the token's `alg` would accept `none` (no signature at all), or an `HS256` token "signed" with
//! the public key as an HMAC secret: *algorithm confusion*.
//!
//! Exam: an ID token has `aud` (the app client id) and `token_use: id`; an access token has
//! `client_id` instead of `aud`, `token_use: access` and `scope`. An authorizer with no scopes
//! accepts only ID tokens; one with `AuthorizationScopes` accepts only access tokens holding a
//! scope (not modelled here: the template sets no scopes).
//!
//! A valid token's claims reach the function as `requestContext.authorizer.claims`, every value a
//! string (see [`CognitoAuthorizer::authorize`]):
//!
//! ```text
//! {"sub": "5f1e8c2a-...", "cognito:groups": "support,vip", "auth_time": "1680629979",
//!  "exp": "Tue Apr 04 18:39:39 UTC 2023", "email_verified": "true", ...}
//! ```
//!
//! Unlike AWS, the local Cognito (moto) serves its JWKS at
//! `<endpoint>/<userPoolId>/.well-known/jwks.json`, and issues every token for one hour whatever
//! the app client says; so the local authorizer also refuses a token older than the client's
//! `IdTokenValidity` ([`UserPoolTrust::max_token_age`]). The validation expression is a Rust
//! [`regex`], whose dialect may differ from API Gateway's in corner cases; an app client id (the
//! template's expression) is plain text in any dialect.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The claims a function receives in `requestContext.authorizer.claims`: every value a string.
pub type Claims = Map<String, Value>;

/// How far past `exp` a token is still accepted: none, as API Gateway allows none that we know of
/// (it documents no clock skew allowance). A token is refused from its `exp` second on.
const EXPIRY_LEEWAY: Duration = Duration::from_secs(0);

/// How long [`CognitoAuthorizer::fetch`] waits for the JWKS (moto answers in milliseconds).
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The `401` message of every refusal but an expired token's.
const UNAUTHORIZED: &str = "Unauthorized";
/// The `401` message of an expired token.
const EXPIRED: &str = "The incoming token has expired";

/// The user pool an authorizer trusts, and what it requires of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPoolTrust {
    /// The pool's region, the `<region>` of the issuer URL.
    pub region: String,
    /// The pool's id (`us-east-1_AbCdEf123`), the end of the issuer URL.
    pub user_pool_id: String,
    /// The authorizer's identity validation expression (SAM `Identity.ValidationExpression`,
    /// CloudFormation `IdentityValidationExpression`): a regular expression the token's whole
    /// `aud` must match. The template sets it to the app client id, so that only tokens issued
    /// to that client pass, not those of any other client of the same pool.
    pub validation_expression: Option<String>,
    /// The longest a token is accepted after its `iat`: the app client's `IdTokenValidity`. On
    /// AWS, `exp` already says so; moto issues every token for one hour, so without this a local
    /// token would outlive a deployed one, and code that handles expiry would never see it.
    pub max_token_age: Option<Duration>,
}

/// Why a [`CognitoAuthorizer`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    #[error(
        "the identity validation expression {expression:?} is not a valid regular expression: {source}"
    )]
    ValidationExpression {
        expression: String,
        source: regex::Error,
    },
    #[error("the user pool's key set is not a JWKS: {0}")]
    NotAJwks(serde_json::Error),
    #[error("the user pool's key {kid:?} is not a usable RSA key: {source}")]
    BadKey {
        kid: String,
        source: jsonwebtoken::errors::Error,
    },
    #[error("the user pool's key set has no RS256 key with a kid")]
    NoSigningKey,
    #[error("could not fetch the user pool's key set from {url}: {source}")]
    Fetch { url: String, source: reqwest::Error },
}

/// Why a request was refused: the local stack's log line (never the token itself). The client
/// only sees [`Refusal::message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no token in the identity source header")]
    NoToken,
    /// Not three base64url parts of JSON, or an `alg` jsonwebtoken does not know (`none`).
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the token's algorithm is {0}, not RS256")]
    Algorithm(String),
    #[error("the token's kid {0:?} is not one of the user pool's keys")]
    UnknownKey(Option<String>),
    #[error("the token's signature does not verify with the user pool's key")]
    BadSignature,
    #[error("the token's issuer {0:?} is not this user pool")]
    Issuer(Option<String>),
    #[error("the token's token_use is {0:?}, not id")]
    NotAnIdToken(Option<String>),
    #[error("the token's aud {0:?} does not match the identity validation expression")]
    Audience(Option<String>),
    #[error("the token has no {0} claim in whole seconds")]
    MissingTime(&'static str),
    #[error("the token expired (exp passed)")]
    Expired,
    #[error("the token is older than the app client's token validity")]
    TooOld,
}

impl Refusal {
    /// The message of API Gateway's `401` (`$context.error.messageString`).
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::Expired | Refusal::TooOld => EXPIRED,
            _ => UNAUTHORIZED,
        }
    }
}

/// A `COGNITO_USER_POOLS` authorizer: the pool's public keys and the rules of the module
/// documentation.
#[derive(Debug)]
pub struct CognitoAuthorizer {
    issuer: String,
    keys: HashMap<String, DecodingKey>,
    audience: Option<Regex>,
    max_token_age: Option<Duration>,
    validation: Validation,
}

impl CognitoAuthorizer {
    /// Builds one from the pool's JWKS document (`{"keys": [...]}`), keeping its RS256 keys. An
    /// invalid validation expression, or a document with no usable key, is an error.
    pub fn new(trust: UserPoolTrust, jwks: &Value) -> Result<Self, AuthorizerError> {
        let audience = trust
            .validation_expression
            .as_deref()
            .map(|expression| {
                // Anchored: the whole `aud` must match, so `client` does not pass `client-b`.
                Regex::new(&format!("^(?:{expression})$")).map_err(|source| {
                    AuthorizerError::ValidationExpression {
                        expression: expression.to_owned(),
                        source,
                    }
                })
            })
            .transpose()?;
        let set = JwkSet::deserialize(jwks).map_err(AuthorizerError::NotAJwks)?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let rs256 = matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256));
            let (Some(kid), AlgorithmParameters::RSA(_), true) =
                (&jwk.common.key_id, &jwk.algorithm, rs256)
            else {
                continue;
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|source| AuthorizerError::BadKey {
                kid: kid.clone(),
                source,
            })?;
            keys.insert(kid.clone(), key);
        }
        if keys.is_empty() {
            return Err(AuthorizerError::NoSigningKey);
        }
        // jsonwebtoken checks the algorithm and the signature; the claims are checked in
        // `authorize` against its `now` (jsonwebtoken reads the system clock, allows 60 s of
        // leeway by default, and refuses any `aud` unless told which).
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        Ok(Self {
            issuer: format!(
                "https://cognito-idp.{}.amazonaws.com/{}",
                trust.region, trust.user_pool_id
            ),
            keys,
            audience,
            max_token_age: trust.max_token_age,
            validation,
        })
    }

    /// Fetches the JWKS where the local Cognito (moto) serves it,
    /// `GET {endpoint}/{user_pool_id}/.well-known/jwks.json` (on AWS the same path lives under
    /// the issuer URL), then builds the authorizer with [`CognitoAuthorizer::new`].
    pub async fn fetch(endpoint: &str, trust: UserPoolTrust) -> Result<Self, AuthorizerError> {
        let url = format!(
            "{}/{}/.well-known/jwks.json",
            endpoint.trim_end_matches('/'),
            trust.user_pool_id
        );
        let jwks = async {
            let client = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build()?;
            let response = client.get(&url).send().await?.error_for_status()?;
            response.json::<Value>().await
        }
        .await
        .map_err(|source| AuthorizerError::Fetch {
            url: url.clone(),
            source,
        })?;
        Self::new(trust, &jwks)
    }

    /// The issuer tokens must name: `https://cognito-idp.<region>.amazonaws.com/<userPoolId>`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Checks the identity source header's value at time `now`: on success, the token's claims
    /// as API Gateway passes them to the function (`requestContext.authorizer.claims`), every
    /// value a string: strings as they are; `exp` and `iat` as dates (`Tue Apr 04 18:39:39 UTC
    /// 2023`); other numbers as their decimal text; booleans as `true`/`false`; arrays (moto's
    /// `cognito:groups`) as their items joined with `,`; objects as their JSON text.
    ///
    /// The token's identity is checked before its age, so a stranger's expired token is
    /// `Unauthorized`, and only one the API would accept is told it has expired.
    pub fn authorize(&self, header: Option<&str>, now: SystemTime) -> Result<Claims, Refusal> {
        let token = bearer_token(header).ok_or(Refusal::NoToken)?;
        let jwt_header =
            jsonwebtoken::decode_header(token).map_err(|e| Refusal::Malformed(e.to_string()))?;
        if jwt_header.alg != Algorithm::RS256 {
            return Err(Refusal::Algorithm(format!("{:?}", jwt_header.alg)));
        }
        let key = match &jwt_header.kid {
            Some(kid) => self.keys.get(kid),
            None => None,
        }
        .ok_or_else(|| Refusal::UnknownKey(jwt_header.kid.clone()))?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => Refusal::BadSignature,
                _ => Refusal::Malformed(e.to_string()),
            })?
            .claims;

        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("iss") != Some(self.issuer.as_str()) {
            return Err(Refusal::Issuer(text("iss").map(str::to_owned)));
        }
        if text("token_use") != Some("id") {
            return Err(Refusal::NotAnIdToken(text("token_use").map(str::to_owned)));
        }
        if let Some(audience) = &self.audience
            && !text("aud").is_some_and(|aud| audience.is_match(aud))
        {
            return Err(Refusal::Audience(text("aud").map(str::to_owned)));
        }

        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let time = |name: &'static str| {
            claims
                .get(name)
                .and_then(Value::as_u64)
                .map(Duration::from_secs)
                .ok_or(Refusal::MissingTime(name))
        };
        if now >= time("exp")?.saturating_add(EXPIRY_LEEWAY) {
            return Err(Refusal::Expired);
        }
        if let Some(max_age) = self.max_token_age
            && now >= time("iat")?.saturating_add(max_age)
        {
            return Err(Refusal::TooOld);
        }

        Ok(claims
            .iter()
            .map(|(name, value)| {
                let date = match name.as_str() {
                    "exp" | "iat" => date_text(value),
                    _ => None,
                };
                let rendered = date.unwrap_or_else(|| claim_text(value));
                (name.clone(), Value::String(rendered))
            })
            .collect())
    }
}

/// The token in the identity source header: `<jwt>` or `Bearer <jwt>` (any case, one space).
fn bearer_token(header: Option<&str>) -> Option<&str> {
    let header = header?;
    let token = match header.split_at_checked("Bearer ".len()) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer ") => token,
        _ => header,
    };
    (!token.is_empty()).then_some(token)
}

/// A claim as API Gateway's REST API renders it in `requestContext.authorizer.claims`.
fn claim_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(claim_text).collect::<Vec<_>>().join(","),
        // Numbers as their decimal text, booleans as `true`/`false`, objects (and null) as JSON.
        other => other.to_string(),
    }
}

/// `exp` and `iat` as API Gateway renders them: `Tue Apr 04 18:39:39 UTC 2023`.
fn date_text(value: &Value) -> Option<String> {
    let date = chrono::DateTime::from_timestamp(value.as_i64()?, 0)?;
    Some(date.format("%a %b %d %H:%M:%S UTC %Y").to_string())
}

#[cfg(test)]
mod tests;
