//! The template as CloudFormation deploys it, for the tests that read it.
//!
//! The SAM transform turns each function into a function, a role, a version, the `live` alias and a
//! CodeDeploy deployment group, and the API into a REST API (its OpenAPI body holds every method,
//! authorizer and gateway response), a stage, an API key and a usage plan: what IAM, CodeDeploy and
//! API Gateway enforce exists only in that output. `scripts/translate-template.py` runs the
//! transform offline (every parameter at its default unless a test says otherwise).
//!
//! Needs the project's `.venv` (the SAM CLI brings the translator): `make venv`.

use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::moto::workspace_root;

/// The translated template with the given `NAME=VALUE` parameters (the others at their defaults).
pub fn translate(parameters: &[&str]) -> Value {
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make venv` (the SAM translator comes with the SAM CLI)",
        python.display()
    );
    let output = Command::new(&python)
        .arg(root.join("scripts/translate-template.py"))
        .args(["--output", "-"])
        .args(parameters)
        .current_dir(root)
        .output()
        .expect("run scripts/translate-template.py");
    assert!(
        output.status.success(),
        "the template does not translate (if a module is missing, run `make venv`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the translation is JSON")
}

/// The translated template with every parameter at its default, translated once per test run.
pub fn translated() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| translate(&[]))
}

pub fn resource<'a>(template: &'a Value, logical_id: &str) -> &'a Value {
    let resource = &template["Resources"][logical_id];
    assert!(!resource.is_null(), "no resource {logical_id}");
    resource
}

/// (logical id, resource) of every resource of one type.
pub fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(id, resource)| (id.as_str(), resource))
        .collect()
}

pub fn reference(logical_id: &str) -> Value {
    json!({ "Ref": logical_id })
}

/// `!GetAtt <logical_id>.<attribute>`, as the translated template writes it.
pub fn get_att(logical_id: &str, attribute: &str) -> Value {
    json!({"Fn::GetAtt": [logical_id, attribute]})
}

/// The one resource of a type; panics if there are none or several.
pub fn only<'a>(template: &'a Value, kind: &str) -> (&'a str, &'a Value) {
    let mut found = resources_of_type(template, kind);
    assert_eq!(found.len(), 1, "{kind}: {found:?}");
    found.remove(0)
}

/// The deployed API's OpenAPI body.
pub fn api_body(template: &Value) -> &Value {
    let (_, api) = only(template, "AWS::ApiGateway::RestApi");
    &api["Properties"]["Body"]
}

/// The value with every object's keys in sorted order, so equal values print equally.
pub fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// A string or a list of strings, as IAM allows for `Action` and `Resource`.
pub fn strings(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        single => vec![single.clone()],
    }
}
