//! Cognito in the template: the user pool customers sign in to, its app clients and its groups.
//!
//! A user pool is a user directory that signs JWTs; an app client is a way in (which sign-in
//! flows, whether it holds a secret, how long its tokens live); a group is a name that appears in
//! the members' ID tokens (`cognito:groups`). The local stack creates them on moto, whose
//! Cognito signs RS256 tokens and serves the pool's JWKS as Cognito does.

use std::time::Duration;

use super::{Expr, Node, ResourceTypes, TemplateError};

pub(super) const USER_POOL: &str = "AWS::Cognito::UserPool";

/// An `AWS::Cognito::UserPool`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPoolSpec {
    pub logical_id: String,
    /// `UserPoolName`; unset: the stack names it.
    pub name: Option<Expr>,
    /// `email` and/or `phone_number`: what users sign in with instead of a user name.
    pub username_attributes: Vec<String>,
    /// Attributes confirmed with a code at sign-up (`email`).
    pub auto_verified_attributes: Vec<String>,
    pub password_policy: Option<PasswordPolicySpec>,
    /// `AdminCreateUserConfig.AllowAdminCreateUserOnly`: no self sign-up.
    pub admin_create_user_only: bool,
}

/// `Policies.PasswordPolicy`: what sign-up requires of a password (moto enforces it too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicySpec {
    pub minimum_length: i32,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
    pub temporary_password_validity_days: Option<i32>,
}

/// An `AWS::Cognito::UserPoolClient`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPoolClientSpec {
    pub logical_id: String,
    /// The logical id of its user pool.
    pub user_pool: String,
    /// `ClientName`.
    pub name: Option<Expr>,
    /// A confidential client (a server) holds a secret; a public one (a browser) cannot.
    pub generate_secret: bool,
    /// `ALLOW_USER_PASSWORD_AUTH`, `ALLOW_USER_SRP_AUTH`, `ALLOW_REFRESH_TOKEN_AUTH`, ...
    pub explicit_auth_flows: Vec<String>,
    /// How long its ID tokens live (`IdTokenValidity` in `TokenValidityUnits.IdToken`; Cognito's
    /// default is one hour).
    pub id_token_validity: Duration,
}

/// An `AWS::Cognito::UserPoolGroup`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPoolGroupSpec {
    pub logical_id: String,
    /// The logical id of its user pool.
    pub user_pool: String,
    /// `GroupName`: what `cognito:groups` holds.
    pub name: Expr,
    pub description: Option<Expr>,
}

pub(super) fn read_user_pool(properties: &Node) -> Result<UserPoolSpec, TemplateError> {
    let password_policy = match properties
        .field("Policies")
        .and_then(|p| p.field("PasswordPolicy"))
    {
        Some(policy) => Some(PasswordPolicySpec {
            minimum_length: policy.optional("MinimumLength", Node::number)?.unwrap_or(8),
            require_lowercase: flag(&policy, "RequireLowercase")?,
            require_uppercase: flag(&policy, "RequireUppercase")?,
            require_numbers: flag(&policy, "RequireNumbers")?,
            require_symbols: flag(&policy, "RequireSymbols")?,
            temporary_password_validity_days: policy
                .optional("TemporaryPasswordValidityDays", Node::number)?,
        }),
        None => None,
    };
    let admin_create_user_only = match properties.field("AdminCreateUserConfig") {
        Some(config) => flag(&config, "AllowAdminCreateUserOnly")?,
        None => false,
    };
    Ok(UserPoolSpec {
        logical_id: properties.resource.to_owned(),
        name: properties.optional("UserPoolName", Node::expr)?,
        username_attributes: texts(properties, "UsernameAttributes")?,
        auto_verified_attributes: texts(properties, "AutoVerifiedAttributes")?,
        password_policy,
        admin_create_user_only,
    })
}

pub(super) fn read_user_pool_client(
    properties: &Node,
    types: &ResourceTypes,
) -> Result<UserPoolClientSpec, TemplateError> {
    let unit = properties
        .field("TokenValidityUnits")
        .map(|units| units.optional("IdToken", Node::text))
        .transpose()?
        .flatten()
        .unwrap_or_else(|| "hours".into());
    let seconds_per_unit = match unit.as_str() {
        "seconds" => 1,
        "minutes" => 60,
        "hours" => 60 * 60,
        "days" => 24 * 60 * 60,
        _ => {
            let units = properties
                .required("TokenValidityUnits")?
                .required("IdToken")?;
            return Err(units.problem(super::Problem::Expected("seconds, minutes, hours or days")));
        }
    };
    let id_token_validity = match properties.optional("IdTokenValidity", Node::number::<u64>)? {
        Some(count) => Duration::from_secs(count * seconds_per_unit),
        None => Duration::from_secs(60 * 60),
    };
    Ok(UserPoolClientSpec {
        logical_id: properties.resource.to_owned(),
        user_pool: properties
            .required("UserPoolId")?
            .reference_to(USER_POOL, types)?,
        name: properties.optional("ClientName", Node::expr)?,
        generate_secret: flag(properties, "GenerateSecret")?,
        explicit_auth_flows: texts(properties, "ExplicitAuthFlows")?,
        id_token_validity,
    })
}

pub(super) fn read_user_pool_group(
    properties: &Node,
    types: &ResourceTypes,
) -> Result<UserPoolGroupSpec, TemplateError> {
    Ok(UserPoolGroupSpec {
        logical_id: properties.resource.to_owned(),
        user_pool: properties
            .required("UserPoolId")?
            .reference_to(USER_POOL, types)?,
        name: properties.required("GroupName")?.expr()?,
        description: properties.optional("Description", Node::expr)?,
    })
}

/// A list of strings; absent is empty.
fn texts(properties: &Node, key: &str) -> Result<Vec<String>, TemplateError> {
    match properties.field(key) {
        Some(list) => list.items()?.iter().map(Node::text).collect(),
        None => Ok(Vec::new()),
    }
}

/// A flag; absent is `false`.
fn flag(properties: &Node, key: &str) -> Result<bool, TemplateError> {
    Ok(properties.optional(key, Node::flag)?.unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use crate::cloudformation::template::Template;
    use crate::cloudformation::template::tests::{real_template, the_one};
    use std::time::Duration;

    #[test]
    fn the_customer_pool_signs_in_by_email_with_its_password_policy() {
        let pools = real_template().user_pools();
        let pool = the_one(&pools, "pool");
        assert_eq!(pool.logical_id, "CustomerPool");
        assert_eq!(pool.username_attributes, ["email"]);
        assert_eq!(pool.auto_verified_attributes, ["email"]);
        assert!(!pool.admin_create_user_only);
        let policy = pool.password_policy.as_ref().expect("a password policy");
        assert_eq!(policy.minimum_length, 12);
        assert!(policy.require_lowercase && policy.require_uppercase && policy.require_numbers);
    }

    #[test]
    fn the_app_client_is_public_and_its_id_tokens_live_fifteen_minutes() {
        let clients = real_template().user_pool_clients();
        let client = the_one(&clients, "client");
        assert_eq!(client.user_pool, "CustomerPool");
        assert!(!client.generate_secret);
        assert!(
            client
                .explicit_auth_flows
                .contains(&"ALLOW_USER_PASSWORD_AUTH".to_owned())
        );
        assert_eq!(client.id_token_validity, Duration::from_secs(15 * 60));
    }

    #[test]
    fn a_token_validity_without_units_is_in_hours() {
        let template = Template::parse(
            "Resources:
  Pool: {Type: AWS::Cognito::UserPool}
  Client:
    Type: AWS::Cognito::UserPoolClient
    Properties: {UserPoolId: !Ref Pool, IdTokenValidity: 2}
  Group:
    Type: AWS::Cognito::UserPoolGroup
    Properties: {UserPoolId: !Ref Pool, GroupName: support}
",
        )
        .unwrap();
        let client = &template.user_pool_clients()[0];
        assert_eq!(client.id_token_validity, Duration::from_secs(2 * 60 * 60));
        assert_eq!(template.user_pool_groups()[0].user_pool, "Pool");
    }
}
