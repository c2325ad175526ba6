//! `template.yaml` as written (not translated by SAM: see `translated.rs` for that), and small
//! readers for the tests that check what it declares.

use serde_norway::Value;

use crate::moto::workspace_root;

/// `template.yaml` as YAML, its CloudFormation tags (`!Ref`, `!GetAtt`, ...) kept as tags.
pub fn template() -> Value {
    let path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).expect("template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

/// The `Properties` of the resource `name` (which must exist).
pub fn resource<'a>(template: &'a Value, name: &str) -> &'a Value {
    let resource = &template["Resources"][name];
    assert!(!resource.is_null(), "no resource {name}");
    &resource["Properties"]
}

/// `!Ref X` -> ("Ref", "X"), `!GetAtt X.Arn` -> ("GetAtt", "X.Arn").
pub fn intrinsic(value: &Value) -> (String, String) {
    match value {
        Value::Tagged(tagged) => (
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            tagged.value.as_str().unwrap_or_default().to_owned(),
        ),
        other => panic!("expected an intrinsic function, got {other:?}"),
    }
}

/// The logical ids of every function in the template.
pub fn functions(template: &Value) -> Vec<String> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .collect()
}

/// The logical ids and properties of every resource of one type.
pub fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str().unwrap().to_owned(), &r["Properties"]))
        .collect()
}

/// Every event of one type (`SQS`, `DynamoDB`, ...) in the template: (function, event properties).
pub fn events_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    let mut events = Vec::new();
    for function in functions(template) {
        let Some(declared) = resource(template, &function)["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in declared {
            if event["Type"] == kind {
                events.push((function.clone(), &event["Properties"]));
            }
        }
    }
    events
}

/// `!GetAtt X.Arn` (or `.QueueName`, ...) -> "X": the resource an attribute belongs to.
pub fn get_att_resource(value: &Value, attribute: &str) -> String {
    let (function, target) = intrinsic(value);
    assert_eq!(function, "GetAtt", "{value:?}");
    target
        .strip_suffix(&format!(".{attribute}"))
        .unwrap_or_else(|| panic!("expected !GetAtt <resource>.{attribute}, got {target}"))
        .to_owned()
}
