//! Signed test tokens: ID tokens of a test user pool whose keys are the fixtures in
//! `tests/fixtures/` (made for these tests, trusted by nothing else), for the cases the local
//! Cognito's own tokens cannot express.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderName;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orders_local::api_gateway::RouteAuthorizer;
use orders_local::api_gateway::authorizer::{CognitoAuthorizer, UserPoolTrust};
use serde_json::{Value, json};

const SIGNING_KEY: &str = include_str!("../fixtures/test-signing-key.pem");
const JWKS: &str = include_str!("../fixtures/test-jwks.json");
const KID: &str = "local-test-key";
pub const REGION: &str = "us-east-1";
pub const POOL: &str = "us-east-1_TestPool1";
pub const CLIENT: &str = "testclient0123456789abcdef";

/// An authorizer of the test pool, on `Authorization`, that accepts the test client's tokens.
pub fn test_authorizer() -> RouteAuthorizer {
    let jwks: Value = serde_json::from_str(JWKS).expect("the fixture JWKS");
    let trust = UserPoolTrust {
        region: REGION.into(),
        user_pool_id: POOL.into(),
        validation_expression: Some(CLIENT.into()),
        max_token_age: Some(Duration::from_secs(15 * 60)),
    };
    RouteAuthorizer {
        name: "TestPoolAuthorizer".into(),
        header: HeaderName::from_static("authorization"),
        check: Arc::new(CognitoAuthorizer::new(trust, &jwks).expect("the fixture authorizer")),
    }
}

/// An ID token of the test pool and client for `sub`, issued now, valid for five minutes.
pub fn id_token(sub: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    sign(&json!({
        "sub": sub,
        "iss": format!("https://cognito-idp.{REGION}.amazonaws.com/{POOL}"),
        "aud": CLIENT,
        "token_use": "id",
        "email": format!("{sub}@example.com"),
        "iat": now,
        "auth_time": now,
        "exp": now + 300,
    }))
}

/// `claims`, signed with the test pool's key.
pub fn sign(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.into());
    let key = EncodingKey::from_rsa_pem(SIGNING_KEY.as_bytes()).expect("the fixture key");
    jsonwebtoken::encode(&header, claims, &key).expect("a signed token")
}
