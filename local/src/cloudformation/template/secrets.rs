//! `AWS::SecretsManager::Secret`: a secret whose value the template gives (`SecretString`) or,
//! better, has Secrets Manager generate (`GenerateSecretString`), so that it appears in no
//! template, parameter or environment variable.
//!
//! Exam: Secrets Manager always encrypts a secret with KMS: the AWS managed key
//! `aws/secretsmanager` unless `KmsKeyId` names a customer managed key, which is read (see
//! [`read_key_reference`]) and given to `CreateSecret`. With a customer managed key, whoever reads
//! the secret needs `kms:Decrypt` on that key too, and another account can be given access (the
//! AWS managed key's policy cannot be changed). `Tags` make no difference locally and are not
//! read. `ReplicaRegions` is refused: the local stack has one region.

use super::keys::read_key_reference;
use super::{Expr, Node, Problem, ResourceTypes, TemplateError};

/// An `AWS::SecretsManager::Secret`.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretSpec {
    pub logical_id: String,
    /// `Name`; unset, the stack names it (`<stack>-<LogicalId>` locally).
    pub name: Option<Expr>,
    pub description: Option<Expr>,
    /// `KmsKeyId`; unset, Secrets Manager's `aws/secretsmanager`.
    pub kms_key: Option<Expr>,
    pub value: SecretValue,
}

/// Where the secret's first value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretValue {
    /// `SecretString`: given by the template.
    Given(Expr),
    /// `GenerateSecretString`: a random password from Secrets Manager (`GetRandomPassword`).
    Generated(PasswordSpec),
}

/// `GenerateSecretString`: the `GetRandomPassword` request, and where the password goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordSpec {
    /// `PasswordLength`; Secrets Manager's default is 32.
    pub length: i64,
    pub exclude_characters: Option<String>,
    pub exclude_lowercase: bool,
    pub exclude_uppercase: bool,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub include_space: bool,
    /// `RequireEachIncludedType`; default true: at least one of each included character type.
    pub require_each_included_type: bool,
    /// `SecretStringTemplate` (a JSON object) and `GenerateStringKey`: the password goes into the
    /// object under that key. `None`: the secret is the password itself.
    pub json_template: Option<(serde_json::Map<String, serde_json::Value>, String)>,
}

/// Secrets Manager's default password length.
const DEFAULT_PASSWORD_LENGTH: i64 = 32;

pub(super) fn read_secret(
    properties: &Node,
    types: &ResourceTypes,
) -> Result<SecretSpec, TemplateError> {
    if let Some(replicas) = properties.field("ReplicaRegions") {
        return Err(replicas.problem(Problem::Unsupported("the local stack has one region")));
    }
    let given = properties.optional("SecretString", Node::expr)?;
    let generate = properties.field("GenerateSecretString");
    let value = match (given, generate) {
        (Some(_), Some(generate)) => {
            return Err(generate.problem(Problem::Expected(
                "absent when SecretString is set: a secret has one of the two",
            )));
        }
        (Some(given), None) => SecretValue::Given(given),
        (None, Some(generate)) => SecretValue::Generated(read_password(&generate)?),
        (None, None) => {
            return Err(properties
                .child("SecretString")
                .problem(Problem::Unsupported(
                    "a secret without SecretString or GenerateSecretString (an empty secret)",
                )));
        }
    };
    Ok(SecretSpec {
        logical_id: properties.resource.to_owned(),
        name: properties.optional("Name", Node::expr)?,
        description: properties.optional("Description", Node::expr)?,
        kms_key: properties.optional("KmsKeyId", |key| read_key_reference(key, types))?,
        value,
    })
}

fn read_password(generate: &Node) -> Result<PasswordSpec, TemplateError> {
    let flag = |name: &str, default: bool| -> Result<bool, TemplateError> {
        Ok(generate.optional(name, Node::flag)?.unwrap_or(default))
    };
    let length = match generate.field("PasswordLength") {
        Some(node) => {
            let length: i64 = node.number()?;
            // GetRandomPassword's bounds.
            if !(1..=4096).contains(&length) {
                return Err(node.problem(Problem::Expected("between 1 and 4096")));
            }
            length
        }
        None => DEFAULT_PASSWORD_LENGTH,
    };
    let key = generate.optional("GenerateStringKey", Node::text)?;
    let template = generate.field("SecretStringTemplate");
    let json_template = match (template, key) {
        (None, None) => None,
        (Some(template), Some(key)) => {
            let serde_json::Value::Object(object) = template.json()? else {
                return Err(template.problem(Problem::Expected("a JSON object")));
            };
            Some((object, key))
        }
        (Some(template), None) => {
            let problem = Problem::Expected("given with GenerateStringKey");
            return Err(template.problem(problem));
        }
        (None, Some(_)) => {
            let key = generate.child("GenerateStringKey");
            return Err(key.problem(Problem::Expected("given with SecretStringTemplate")));
        }
    };
    Ok(PasswordSpec {
        length,
        exclude_characters: generate.optional("ExcludeCharacters", Node::text)?,
        exclude_lowercase: flag("ExcludeLowercase", false)?,
        exclude_uppercase: flag("ExcludeUppercase", false)?,
        exclude_numbers: flag("ExcludeNumbers", false)?,
        exclude_punctuation: flag("ExcludePunctuation", false)?,
        include_space: flag("IncludeSpace", false)?,
        require_each_included_type: flag("RequireEachIncludedType", true)?,
        json_template,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Template;
    use super::*;

    fn secret(properties: &str) -> Result<SecretSpec, TemplateError> {
        let yaml = format!(
            "Resources:\n  Key:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n{properties}"
        );
        Ok(Template::parse(&yaml)?.secrets().remove(0))
    }

    #[test]
    fn generate_secret_string_is_read_with_secrets_managers_defaults() {
        let spec = secret(
            "      Description: a key\n      GenerateSecretString:\n        PasswordLength: 64\n        ExcludePunctuation: true\n",
        )
        .unwrap();
        assert_eq!(spec.description, Some(Expr::Literal("a key".into())));
        let SecretValue::Generated(password) = spec.value else {
            panic!("a generated secret");
        };
        assert_eq!(password.length, 64);
        assert!(password.exclude_punctuation);
        assert!(!password.exclude_numbers);
        assert!(password.require_each_included_type);
        assert_eq!(password.json_template, None);
        let default = secret("      GenerateSecretString: {}\n").unwrap();
        let SecretValue::Generated(password) = default.value else {
            panic!("a generated secret");
        };
        assert_eq!(password.length, 32);
    }

    #[test]
    fn a_customer_managed_key_is_read() {
        let yaml = "Resources:\n  Key: {Type: AWS::KMS::Key}\n  Secret:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n      KmsKeyId: !GetAtt Key.Arn\n      GenerateSecretString: {}\n";
        let spec = Template::parse(yaml).unwrap().secrets().remove(0);
        assert_eq!(spec.kms_key, Some(Expr::GetAtt("Key".into(), "Arn".into())));
        let default = secret("      SecretString: x\n").unwrap();
        assert_eq!(default.kms_key, None, "aws/secretsmanager");
    }

    #[test]
    fn a_json_template_needs_its_key_and_a_secret_has_one_value() {
        let templated = secret(
            "      GenerateSecretString:\n        SecretStringTemplate: '{\"username\": \"shop\"}'\n        GenerateStringKey: password\n",
        )
        .unwrap();
        let SecretValue::Generated(password) = templated.value else {
            panic!("a generated secret");
        };
        let (object, key) = password.json_template.unwrap();
        assert_eq!(object["username"], "shop");
        assert_eq!(key, "password");

        let no_key = secret("      GenerateSecretString:\n        SecretStringTemplate: '{}'\n")
            .unwrap_err();
        assert!(no_key.to_string().contains("GenerateStringKey"), "{no_key}");
        let both = secret("      SecretString: x\n      GenerateSecretString: {}\n").unwrap_err();
        assert!(both.to_string().contains("one of the two"), "{both}");
        let neither = secret("      Description: nothing\n").unwrap_err();
        assert!(neither.to_string().contains("empty secret"), "{neither}");
        let replicated =
            secret("      SecretString: x\n      ReplicaRegions: [{Region: eu-west-1}]\n")
                .unwrap_err();
        assert!(
            replicated.to_string().contains("one region"),
            "{replicated}"
        );
    }
}
