//! The authorizer's checks, with tokens signed by a test key (`local/tests/fixtures/`).

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

const SIGNING_KEY: &str = include_str!("../../../tests/fixtures/test-signing-key.pem");
const OTHER_SIGNING_KEY: &str = include_str!("../../../tests/fixtures/test-other-signing-key.pem");
const JWKS: &str = include_str!("../../../tests/fixtures/test-jwks.json");
const KID: &str = "local-test-key";
const POOL: &str = "us-east-1_TestPool1";
const CLIENT: &str = "4l0ca1testc1ient";
const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1";
/// 2023-04-04 17:39:39 UTC: when the test tokens are issued.
const IAT: u64 = 1_680_629_979;
/// The app client's `IdTokenValidity`: 15 minutes, as in the template.
const VALIDITY: Duration = Duration::from_secs(15 * 60);

fn trust() -> UserPoolTrust {
    UserPoolTrust {
        region: "us-east-1".to_owned(),
        user_pool_id: POOL.to_owned(),
        validation_expression: Some(CLIENT.to_owned()),
        max_token_age: Some(VALIDITY),
    }
}

fn jwks() -> Value {
    serde_json::from_str(JWKS).expect("the fixture is JSON")
}

fn authorizer() -> CognitoAuthorizer {
    CognitoAuthorizer::new(trust(), &jwks()).expect("the fixture is a JWKS")
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// A minute after the test tokens are issued.
fn now() -> SystemTime {
    at(IAT + 60)
}

/// An ID token's claims as moto issues them (valid for an hour).
fn id_claims() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "5f1e8c2a-7d4b-4f0e-9a61-2b3c4d5e6f70",
        "aud": CLIENT,
        "token_use": "id",
        "iat": IAT,
        "auth_time": IAT,
        "exp": IAT + 3600,
        "jti": "0c8a6c1e-3f5b-4f7d-8e2a-9b1c2d3e4f50",
        "cognito:username": "5f1e8c2a-7d4b-4f0e-9a61-2b3c4d5e6f70",
        "email": "ada@example.com",
        "email_verified": true,
        "cognito:groups": ["support", "vip"],
    })
}

fn with(claims: Value, name: &str, value: Value) -> Value {
    let mut claims = claims;
    claims[name] = value;
    claims
}

fn sign_with(claims: &Value, pem: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.to_owned());
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("the fixture is an RSA key");
    jsonwebtoken::encode(&header, claims, &key).expect("signs")
}

fn sign(claims: &Value) -> String {
    sign_with(claims, SIGNING_KEY)
}

fn refuse(header: &str, now: SystemTime) -> Refusal {
    authorizer()
        .authorize(Some(header), now)
        .expect_err("the token is refused")
}

#[test]
fn a_valid_id_token_yields_its_claims_as_strings() {
    let claims = authorizer()
        .authorize(Some(&sign(&id_claims())), now())
        .expect("a valid token");
    assert_eq!(claims["sub"], "5f1e8c2a-7d4b-4f0e-9a61-2b3c4d5e6f70");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["email_verified"], "true");
    assert_eq!(claims["cognito:groups"], "support,vip");
    assert_eq!(claims["iat"], "Tue Apr 04 17:39:39 UTC 2023");
    assert_eq!(claims["exp"], "Tue Apr 04 18:39:39 UTC 2023");
    assert_eq!(claims["auth_time"], "1680629979");
    assert_eq!(claims["aud"], CLIENT);
    assert!(claims.values().all(Value::is_string), "{claims:?}");
    assert_eq!(authorizer().issuer(), ISSUER);
}

#[test]
fn a_bearer_prefix_is_accepted_in_any_case() {
    let token = sign(&id_claims());
    for scheme in ["Bearer ", "bearer ", "BEARER "] {
        let header = format!("{scheme}{token}");
        assert!(
            authorizer().authorize(Some(&header), now()).is_ok(),
            "{scheme}"
        );
    }
    let two_spaces = format!("Bearer  {token}");
    assert!(matches!(refuse(&two_spaces, now()), Refusal::Malformed(_)));
}

#[test]
fn a_missing_or_empty_header_is_unauthorized() {
    let authorizer = authorizer();
    for header in [None, Some(""), Some("Bearer ")] {
        let refusal = authorizer.authorize(header, now()).expect_err("refused");
        assert_eq!(refusal, Refusal::NoToken, "{header:?}");
        assert_eq!(refusal.message(), "Unauthorized");
    }
}

#[test]
fn a_value_that_is_not_a_jwt_is_unauthorized() {
    for header in ["allow", "Bearer a.b.c", "e30.e30", "Basic dXNlcjpwYXNz"] {
        let refusal = refuse(header, now());
        assert!(
            matches!(refusal, Refusal::Malformed(_)),
            "{header}: {refusal:?}"
        );
        assert_eq!(refusal.message(), "Unauthorized");
    }
}

#[test]
fn a_tampered_payload_fails_the_signature_check() {
    let token = sign(&id_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let forged = with(id_claims(), "sub", json!("someone-else"));
    let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    let refusal = refuse(&tampered, now());
    assert_eq!(refusal, Refusal::BadSignature);
    assert_eq!(refusal.message(), "Unauthorized");
}

#[test]
fn a_token_signed_by_another_key_is_unauthorized() {
    let token = sign_with(&id_claims(), OTHER_SIGNING_KEY);
    assert_eq!(refuse(&token, now()), Refusal::BadSignature);
}

#[test]
fn an_hs256_token_keyed_with_the_public_key_is_unauthorized() {
    // Algorithm confusion: the public key (which anyone can fetch) as an HMAC secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID.to_owned());
    let key = EncodingKey::from_secret(JWKS.as_bytes()).expect("a secret");
    let token = jsonwebtoken::encode(&header, &id_claims(), &key).expect("signs");
    let refusal = refuse(&token, now());
    assert_eq!(refusal, Refusal::Algorithm("HS256".to_owned()));
    assert_eq!(refusal.message(), "Unauthorized");
}

#[test]
fn an_unknown_kid_is_unauthorized() {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("another-key".to_owned());
    let key = EncodingKey::from_rsa_pem(SIGNING_KEY.as_bytes()).expect("an RSA key");
    let token = jsonwebtoken::encode(&header, &id_claims(), &key).expect("signs");
    let expected = Refusal::UnknownKey(Some("another-key".to_owned()));
    assert_eq!(refuse(&token, now()), expected);

    header.kid = None;
    let token = jsonwebtoken::encode(&header, &id_claims(), &key).expect("signs");
    assert_eq!(refuse(&token, now()), Refusal::UnknownKey(None));
}

#[test]
fn an_unsigned_alg_none_token_is_unauthorized() {
    let header = json!({"alg": "none", "typ": "JWT", "kid": KID});
    let token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(id_claims().to_string())
    );
    let refusal = refuse(&token, now());
    assert!(matches!(refusal, Refusal::Malformed(_)), "{refusal:?}");
    assert_eq!(refusal.message(), "Unauthorized");
}

#[test]
fn an_expired_token_says_it_has_expired() {
    let authorizer = CognitoAuthorizer::new(
        UserPoolTrust {
            max_token_age: None,
            ..trust()
        },
        &jwks(),
    )
    .expect("an authorizer");
    let token = sign(&id_claims());
    let exp = IAT + 3600;
    assert!(authorizer.authorize(Some(&token), at(exp - 1)).is_ok());
    for now in [at(exp), at(exp + 1), at(exp + 86_400)] {
        let refusal = authorizer
            .authorize(Some(&token), now)
            .expect_err("expired");
        assert_eq!(refusal, Refusal::Expired);
        assert_eq!(refusal.message(), "The incoming token has expired");
    }
}

#[test]
fn a_token_older_than_the_clients_validity_has_expired() {
    // moto's token is valid for an hour; the app client's tokens for 15 minutes.
    let token = sign(&id_claims());
    let validity = VALIDITY.as_secs();
    assert!(
        authorizer()
            .authorize(Some(&token), at(IAT + validity - 1))
            .is_ok()
    );
    let refusal = refuse(&token, at(IAT + validity));
    assert_eq!(refusal, Refusal::TooOld);
    assert_eq!(refusal.message(), "The incoming token has expired");

    let no_iat = sign(&with(id_claims(), "iat", Value::Null));
    assert_eq!(refuse(&no_iat, now()), Refusal::MissingTime("iat"));
}

#[test]
fn a_token_of_another_pool_is_unauthorized() {
    let other = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool";
    let token = sign(&with(id_claims(), "iss", json!(other)));
    let refusal = refuse(&token, now());
    assert_eq!(refusal, Refusal::Issuer(Some(other.to_owned())));
    assert_eq!(refusal.message(), "Unauthorized");
}

#[test]
fn a_token_of_another_app_client_is_unauthorized() {
    let token = sign(&with(id_claims(), "aud", json!("0therc1ient")));
    let refusal = refuse(&token, now());
    assert_eq!(refusal, Refusal::Audience(Some("0therc1ient".to_owned())));
    assert_eq!(refusal.message(), "Unauthorized");
}

#[test]
fn an_access_token_is_unauthorized() {
    let mut claims = id_claims();
    let fields = claims.as_object_mut().expect("an object");
    fields.remove("aud");
    fields.insert("client_id".to_owned(), json!(CLIENT));
    fields.insert("token_use".to_owned(), json!("access"));
    fields.insert("scope".to_owned(), json!("aws.cognito.signin.user.admin"));
    let refusal = refuse(&sign(&claims), now());
    assert_eq!(refusal, Refusal::NotAnIdToken(Some("access".to_owned())));
    assert_eq!(refusal.message(), "Unauthorized");
}

#[test]
fn an_expired_token_of_another_pool_is_only_unauthorized() {
    let token = sign(&with(id_claims(), "iss", json!("https://example.com")));
    let refusal = refuse(&token, at(IAT + 86_400));
    assert_eq!(refusal.message(), "Unauthorized");
}

#[test]
fn the_validation_expression_must_match_the_whole_audience() {
    for aud in [format!("{CLIENT}-b"), format!("x{CLIENT}")] {
        let token = sign(&with(id_claims(), "aud", json!(aud)));
        assert_eq!(refuse(&token, now()), Refusal::Audience(Some(aud)));
    }
    // An alternation is anchored as a whole, not just its first and last branch.
    let either = CognitoAuthorizer::new(
        UserPoolTrust {
            validation_expression: Some(format!("{CLIENT}|0therc1ient")),
            ..trust()
        },
        &jwks(),
    )
    .expect("an authorizer");
    let token = sign(&with(id_claims(), "aud", json!("0therc1ient")));
    assert!(either.authorize(Some(&token), now()).is_ok());
    let token = sign(&with(id_claims(), "aud", json!("0therc1ient-b")));
    assert!(either.authorize(Some(&token), now()).is_err());
}

#[test]
fn without_a_validation_expression_any_audience_is_accepted() {
    let any = CognitoAuthorizer::new(
        UserPoolTrust {
            validation_expression: None,
            ..trust()
        },
        &jwks(),
    )
    .expect("an authorizer");
    let token = sign(&with(id_claims(), "aud", json!("0therc1ient")));
    assert!(any.authorize(Some(&token), now()).is_ok());
}

#[test]
fn an_invalid_validation_expression_is_an_error() {
    let trust = UserPoolTrust {
        validation_expression: Some("(unclosed".to_owned()),
        ..trust()
    };
    let error = CognitoAuthorizer::new(trust, &jwks()).expect_err("invalid");
    assert!(
        matches!(error, AuthorizerError::ValidationExpression { .. }),
        "{error}"
    );
}

#[test]
fn a_document_that_is_not_a_jwks_is_an_error() {
    for document in [
        json!({"keys": "none"}),
        json!([1, 2]),
        json!({"kty": "RSA"}),
    ] {
        let error = CognitoAuthorizer::new(trust(), &document).expect_err("not a JWKS");
        assert!(
            matches!(error, AuthorizerError::NotAJwks(_)),
            "{document}: {error}"
        );
    }
    let empty = CognitoAuthorizer::new(trust(), &json!({"keys": []})).expect_err("no key");
    assert!(matches!(empty, AuthorizerError::NoSigningKey), "{empty}");
}

#[tokio::test]
async fn fetch_reads_the_jwks_where_moto_serves_it() {
    use axum::routing::get;
    let jwks = jwks();
    let app = axum::Router::new().route(
        &format!("/{POOL}/.well-known/jwks.json"),
        get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let authorizer = CognitoAuthorizer::fetch(&format!("http://{address}/"), trust())
        .await
        .expect("fetched");
    assert!(
        authorizer
            .authorize(Some(&sign(&id_claims())), now())
            .is_ok()
    );

    let other_pool = UserPoolTrust {
        user_pool_id: "us-east-1_Unknown".to_owned(),
        ..trust()
    };
    let error = CognitoAuthorizer::fetch(&format!("http://{address}"), other_pool)
        .await
        .expect_err("404");
    assert!(matches!(error, AuthorizerError::Fetch { .. }), "{error}");
}

#[tokio::test]
async fn fetch_from_a_closed_port_is_an_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("an address");
    drop(listener);
    let error = CognitoAuthorizer::fetch(&format!("http://{address}"), trust())
        .await
        .expect_err("nothing listens");
    assert!(matches!(error, AuthorizerError::Fetch { .. }), "{error}");
}
