//! `template.yaml` says what the code assumes: the index projection the store reads, the key the
//! table and the cards are encrypted with, and who may use that key. (`make validate` checks the
//! template is valid; these tests check it is *this application's* template.)

use orders_shared::store::{CUSTOMER_INDEX, CUSTOMER_INDEX_ATTRIBUTES};
use orders_tests::moto::workspace_root;
use serde_norway::Value;

fn template() -> Value {
    let path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).expect("template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

fn resource<'a>(template: &'a Value, name: &str) -> &'a Value {
    let resource = &template["Resources"][name];
    assert!(!resource.is_null(), "no resource {name}");
    &resource["Properties"]
}

/// `!Ref X` -> ("Ref", "X"), `!GetAtt X.Arn` -> ("GetAtt", "X.Arn").
fn intrinsic(value: &Value) -> (String, String) {
    match value {
        Value::Tagged(tagged) => (
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            tagged.value.as_str().unwrap_or_default().to_owned(),
        ),
        other => panic!("expected an intrinsic function, got {other:?}"),
    }
}

/// The logical ids of every function in the template.
fn functions(template: &Value) -> Vec<String> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .collect()
}

/// A function's policies as text, to search for actions and policy templates.
fn policies_text(template: &Value, function: &str) -> String {
    serde_norway::to_string(&resource(template, function)["Policies"]).unwrap()
}

#[test]
fn the_customer_index_projects_what_the_store_reads() {
    let template = template();
    let table = resource(&template, "OrdersTable");
    let index = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|index| index["IndexName"] == CUSTOMER_INDEX)
        .expect("the customer index");
    assert_eq!(index["Projection"]["ProjectionType"], "INCLUDE");
    let mut projected: Vec<&str> = index["Projection"]["NonKeyAttributes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    projected.sort_unstable();
    let mut expected = CUSTOMER_INDEX_ATTRIBUTES.to_vec();
    expected.sort_unstable();
    assert_eq!(projected, expected);
}

#[test]
fn one_rotating_customer_managed_key_encrypts_the_table_and_the_cards() {
    let template = template();
    let key = resource(&template, "OrdersKey");
    assert_eq!(key["EnableKeyRotation"], true);
    assert_eq!(
        template["Resources"]["OrdersKey"]["DeletionPolicy"],
        "Retain"
    );
    let alias = resource(&template, "OrdersKeyAlias");
    assert_eq!(
        intrinsic(&alias["TargetKeyId"]),
        ("Ref".into(), "OrdersKey".into())
    );

    let sse = &resource(&template, "OrdersTable")["SSESpecification"];
    assert_eq!(sse["SSEType"], "KMS");
    assert_eq!(
        intrinsic(&sse["KMSMasterKeyId"]),
        ("Ref".into(), "OrdersKey".into())
    );

    let create = resource(&template, "CreateOrderFunction");
    assert_eq!(
        intrinsic(&create["Environment"]["Variables"]["PAYMENT_KEY_ID"]),
        ("GetAtt".into(), "OrdersKey.Arn".into())
    );
}

#[test]
fn only_create_order_may_generate_data_keys_and_only_fulfillment_may_decrypt() {
    let template = template();
    let create = resource(&template, "CreateOrderFunction");
    let encrypt = create["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|policy| policy.get("KMSEncryptPolicy_v2"))
        .expect("create-order has KMSEncryptPolicy_v2");
    assert_eq!(
        intrinsic(&encrypt["KeyId"]),
        ("Ref".into(), "OrdersKey".into())
    );

    let functions = functions(&template);
    assert!(functions.len() >= 5, "{functions:?}");
    for function in functions {
        let policies = policies_text(&template, &function);
        assert!(
            !policies.contains("kms:*"),
            "{function} may do anything with keys"
        );
        if function != "FulfillOrderFunction" {
            assert!(
                !policies.contains("Decrypt"),
                "{function} must not be able to open card data: {policies}"
            );
        }
        if function != "CreateOrderFunction" {
            assert!(
                !policies.contains("KMSEncrypt") && !policies.contains("GenerateDataKey"),
                "{function} has no reason to make data keys: {policies}"
            );
        }
    }
}

#[test]
fn every_function_and_the_api_are_traced_with_a_sampling_rule() {
    let template = template();
    assert_eq!(template["Globals"]["Function"]["Tracing"], "Active");
    assert_eq!(resource(&template, "OrdersApi")["TracingEnabled"], true);
    for function in functions(&template) {
        let tracing = &resource(&template, &function)["Tracing"];
        assert!(
            tracing.is_null() || tracing == "Active",
            "{function}: {tracing:?}"
        );
    }
    let rule = &resource(&template, "OrdersSamplingRule")["SamplingRule"];
    assert_eq!(rule["ReservoirSize"], 1);
    assert_eq!(rule["FixedRate"], 0.05);
    assert_eq!(rule["ServiceType"], "AWS::ApiGateway::Stage");
}
