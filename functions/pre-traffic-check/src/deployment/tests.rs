//! The AppSpec reader: what CloudFormation writes, and what is refused.

use super::*;

/// An AppSpec as CloudFormation writes it for a `DeploymentPreference` with a hook.
const APPSPEC: &str = r#"{"version":0.0,"Resources":[{"CreateOrderFunction":{"Type":"AWS::Lambda::Function","Properties":{"Name":"orders-on-lambda-create-order","Alias":"live","CurrentVersion":"3","TargetVersion":"4"}}}],"Hooks":[{"BeforeAllowTraffic":"CodeDeployHook_orders-on-lambda-pre-traffic-check"}]}"#;

#[test]
fn the_appspec_names_the_function_alias_and_versions() {
    assert_eq!(
        parse_appspec(APPSPEC).unwrap(),
        vec![Target {
            function_name: "orders-on-lambda-create-order".into(),
            alias: "live".into(),
            current_version: Some("3".into()),
            target_version: "4".into(),
        }]
    );
}

#[test]
fn versions_may_be_numbers_and_the_current_one_absent() {
    let appspec = r#"{"version":0.0,"Resources":[{"Fn":{"Type":"AWS::Lambda::Function","Properties":{"Name":"f","Alias":"live","TargetVersion":7}}}]}"#;
    let targets = parse_appspec(appspec).unwrap();
    assert_eq!(targets[0].target_version, "7");
    assert_eq!(targets[0].current_version, None);
}

#[test]
fn an_appspec_without_a_lambda_function_is_refused() {
    for appspec in [
        "version: 0.0\nResources: []\n",
        r#"{"version":0.0,"Resources":[]}"#,
        r#"{"version":0.0,"Resources":[{"Svc":{"Type":"AWS::ECS::Service","Properties":{}}}]}"#,
        r#"{"version":0.0,"Resources":[{"Fn":{"Type":"AWS::Lambda::Function","Properties":{"Name":"f","Alias":"live"}}}]}"#,
        r#"{"version":0.0,"Resources":[{"Fn":{"Type":"AWS::Lambda::Function","Properties":{"Name":"f","Alias":"live","TargetVersion":""}}}]}"#,
    ] {
        let result = parse_appspec(appspec);
        assert!(
            matches!(result, Err(CheckFailed::Deployment(_))),
            "{appspec}: {result:?}"
        );
    }
}
