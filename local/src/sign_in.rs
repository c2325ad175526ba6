//! Signing a customer in to the user pool: what a client app does before it calls the API.
//!
//! ```text
//! SignUp(client id, email, password)        the pool checks the password policy
//! AdminConfirmSignUp(pool id, email)        on AWS the customer types the emailed code
//!                                           (ConfirmSignUp); an administrator may confirm instead
//! [AdminAddUserToGroup(pool id, email, g)]  membership shows in the ID token's cognito:groups
//! InitiateAuth(USER_PASSWORD_AUTH)          -> ID token, access token, refresh token
//! ```
//!
//! Exam: the *ID token* says who the user is (`sub`, `email`, `cognito:groups`, `aud` = the app
//! client): it is what a Cognito user pool authorizer without OAuth scopes accepts. The *access
//! token* says what the user may call (`scope`, `client_id`, no `aud`): it is for APIs that check
//! scopes, and for Cognito's own user APIs. The *refresh token* gets new ones
//! (`REFRESH_TOKEN_AUTH`) without the password.
//!
//! `make token`, `make demo` and the tests sign customers in through [`sign_in`], against the
//! pool the stack created from the template.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
use aws_sdk_cognitoidentityprovider::operation::sign_up::SignUpError;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType};

use crate::cloudformation::Deployed;

/// A password that meets the template's policy (12 characters, upper and lower case, digits),
/// for local customers only.
pub const LOCAL_PASSWORD: &str = "Orders-Local-2026";

/// Where customers sign in: a user pool and one of its app clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPool {
    pub pool_id: String,
    pub client_id: String,
}

impl UserPool {
    /// The pool of the template's (first) app client, as deployed.
    pub fn of(deployed: &Deployed) -> Option<Self> {
        let client = deployed.template().user_pool_clients().into_iter().next()?;
        Some(Self {
            pool_id: deployed.user_pool_id(&client.user_pool)?.to_owned(),
            client_id: deployed.user_pool_client_id(&client.logical_id)?.to_owned(),
        })
    }
}

/// The API key of the template's API, as deployed: what clients send in `x-api-key`.
pub fn api_key(deployed: &Deployed) -> Option<&str> {
    let api = deployed.template().apis().into_iter().next()?;
    deployed.api_key_value(&api.logical_id)
}

/// What a successful sign-in returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// What the API's authorizer takes, in `Authorization`.
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

/// Why a customer could not be signed in (the service's message, never the password).
#[derive(Debug, thiserror::Error)]
#[error("{step} failed: {cause}")]
pub struct SignInError {
    pub step: &'static str,
    pub cause: String,
}

/// Signs `email` up (unless the pool knows it already), confirms it, adds it to `group` if one
/// is given, and signs it in with `password`.
pub async fn sign_in(
    cognito: &Client,
    pool: &UserPool,
    email: &str,
    password: &str,
    group: Option<&str>,
) -> Result<Tokens, SignInError> {
    let signed_up = cognito
        .sign_up()
        .client_id(&pool.client_id)
        .username(email)
        .password(password)
        .user_attributes(
            AttributeType::builder()
                .name("email")
                .value(email)
                .build()
                .map_err(|error| failed("SignUp", error))?,
        )
        .send()
        .await;
    match signed_up {
        Ok(_) => {
            cognito
                .admin_confirm_sign_up()
                .user_pool_id(&pool.pool_id)
                .username(email)
                .send()
                .await
                .map_err(|error| failed("AdminConfirmSignUp", error))?;
        }
        // Signed up before: sign in with the password given.
        Err(error)
            if matches!(
                error.as_service_error(),
                Some(SignUpError::UsernameExistsException(_))
            ) => {}
        Err(error) => return Err(failed("SignUp", error)),
    }
    if let Some(group) = group {
        cognito
            .admin_add_user_to_group()
            .user_pool_id(&pool.pool_id)
            .username(email)
            .group_name(group)
            .send()
            .await
            .map_err(|error| failed("AdminAddUserToGroup", error))?;
    }
    let result = cognito
        .initiate_auth()
        .client_id(&pool.client_id)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", email)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .map_err(|error| failed("InitiateAuth", error))?
        .authentication_result
        .ok_or_else(|| SignInError {
            step: "InitiateAuth",
            cause: "no AuthenticationResult (a challenge?)".into(),
        })?;
    let missing = |token| SignInError {
        step: "InitiateAuth",
        cause: format!("no {token} in the AuthenticationResult"),
    };
    Ok(Tokens {
        id_token: result.id_token.ok_or_else(|| missing("IdToken"))?,
        access_token: result.access_token.ok_or_else(|| missing("AccessToken"))?,
        refresh_token: result.refresh_token,
    })
}

fn failed<E: std::error::Error>(step: &'static str, error: E) -> SignInError {
    SignInError {
        step,
        cause: DisplayErrorContext(&error).to_string(),
    }
}
