//! Identity in the template as CloudFormation deploys it: the customers' user pool, its app
//! client and the support group, and the API's access control (every method but the CORS
//! preflight behind the user pool authorizer and an API key). `policies/api.guard` checks the
//! same rule with cfn-guard; this test says why each setting matters.

use std::collections::BTreeSet;

use orders_tests::translated::{api_body, only, reference, translated};
use serde_json::{Value, json};

/// The authorizer every method uses (the API's `DefaultAuthorizer`).
const AUTHORIZER: &str = "CustomerPoolAuthorizer";

fn strings(value: &Value) -> BTreeSet<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("a list: {value}"))
        .iter()
        .map(|item| item.as_str().unwrap())
        .collect()
}

#[test]
fn every_method_but_the_cors_preflight_needs_a_customer_token_and_an_api_key() {
    let body = api_body(translated());
    let mut methods = 0;
    for (path, operations) in body["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            if method == "options" {
                // A browser's preflight carries neither a token nor a key: it stays open (and
                // answers only CORS headers, from a mock integration).
                assert!(operation["security"].is_null(), "OPTIONS {path}");
                continue;
            }
            methods += 1;
            assert_eq!(
                operation["security"],
                json!([{ AUTHORIZER: [] }, {"api_key": []}]),
                "{method} {path}: the token (who the customer is) and the key (which app meters it)"
            );
        }
    }
    assert!(methods >= 5, "{methods} methods");
}

#[test]
fn the_authorizer_takes_id_tokens_of_this_pool_and_app_client_from_the_authorization_header() {
    let template = translated();
    let scheme = &api_body(template)["components"]["securitySchemes"][AUTHORIZER];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "Authorization");
    assert_eq!(scheme["x-amazon-apigateway-authtype"], "cognito_user_pools");
    let authorizer = &scheme["x-amazon-apigateway-authorizer"];
    assert_eq!(authorizer["type"], "cognito_user_pools");
    let (pool_id, _) = only(template, "AWS::Cognito::UserPool");
    let (client_id, _) = only(template, "AWS::Cognito::UserPoolClient");
    assert_eq!(
        authorizer["providerARNs"],
        json!([{"Fn::GetAtt": [pool_id, "Arn"]}])
    );
    // API Gateway matches the token's `aud` against this: only this app client's tokens pass.
    assert_eq!(
        authorizer["identityValidationExpression"],
        reference(client_id)
    );
    // No OAuth scopes on any method: API Gateway then takes the token as an ID token (an access
    // token is refused), whose claims name the customer.
    for operations in api_body(template)["paths"].as_object().unwrap().values() {
        for operation in operations.as_object().unwrap().values() {
            if let Some(security) = operation["security"].as_array() {
                assert!(
                    security
                        .iter()
                        .filter_map(|s| s.get(AUTHORIZER))
                        .all(|scopes| scopes == &json!([])),
                    "{security:?}"
                );
            }
        }
    }
}

#[test]
fn customers_sign_up_with_their_email_under_a_real_password_policy() {
    let template = translated();
    let (_, pool) = only(template, "AWS::Cognito::UserPool");
    let properties = &pool["Properties"];
    assert_eq!(strings(&properties["UsernameAttributes"]), ["email"].into());
    assert_eq!(
        strings(&properties["AutoVerifiedAttributes"]),
        ["email"].into()
    );
    assert_eq!(
        properties["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], false,
        "self sign-up"
    );
    let policy = &properties["Policies"]["PasswordPolicy"];
    assert!(policy["MinimumLength"].as_u64().unwrap() >= 12, "{policy}");
    for required in ["RequireLowercase", "RequireUppercase", "RequireNumbers"] {
        assert_eq!(policy[required], true, "{required}");
    }
    assert_eq!(
        properties["DeletionProtection"],
        json!({"Fn::If": ["IsProd", "ACTIVE", "INACTIVE"]})
    );
}

#[test]
fn the_app_client_is_public_with_short_lived_tokens() {
    let template = translated();
    let (pool_id, _) = only(template, "AWS::Cognito::UserPool");
    let (_, client) = only(template, "AWS::Cognito::UserPoolClient");
    let properties = &client["Properties"];
    assert_eq!(properties["UserPoolId"], reference(pool_id));
    // Code on a customer's device cannot keep a secret.
    assert_eq!(properties["GenerateSecret"], false);
    assert_eq!(
        strings(&properties["ExplicitAuthFlows"]),
        [
            "ALLOW_REFRESH_TOKEN_AUTH",
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_USER_SRP_AUTH"
        ]
        .into()
    );
    let units = &properties["TokenValidityUnits"];
    for (validity, unit) in [
        ("IdTokenValidity", "IdToken"),
        ("AccessTokenValidity", "AccessToken"),
    ] {
        assert_eq!(units[unit], "minutes", "{unit}");
        let minutes = properties[validity].as_u64().unwrap();
        assert!((5..=60).contains(&minutes), "{validity}: {minutes} minutes");
    }
    assert_eq!(properties["PreventUserExistenceErrors"], "ENABLED");
    assert_eq!(properties["EnableTokenRevocation"], true);
}

#[test]
fn the_support_group_is_in_the_customers_pool() {
    let template = translated();
    let (pool_id, _) = only(template, "AWS::Cognito::UserPool");
    let (_, group) = only(template, "AWS::Cognito::UserPoolGroup");
    assert_eq!(group["Properties"]["UserPoolId"], reference(pool_id));
    assert_eq!(
        group["Properties"]["GroupName"],
        orders_shared::identity::SUPPORT_GROUP,
        "the name shared/src/identity.rs looks for in cognito:groups"
    );
}

#[test]
fn the_outputs_name_the_pool_and_its_client() {
    let template = translated();
    let (pool_id, _) = only(template, "AWS::Cognito::UserPool");
    let (client_id, _) = only(template, "AWS::Cognito::UserPoolClient");
    let outputs = &template["Outputs"];
    assert_eq!(outputs["UserPoolId"]["Value"], reference(pool_id));
    assert_eq!(outputs["UserPoolClientId"]["Value"], reference(client_id));
}
