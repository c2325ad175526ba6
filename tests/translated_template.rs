//! The template as CloudFormation deploys it. The SAM transform turns each function into a
//! function, a role, a version, the `live` alias and a CodeDeploy deployment group, and the API into
//! a REST API, a stage, an API key and a usage plan: what IAM, CodeDeploy and API Gateway enforce
//! exists only in that output. `scripts/translate-template.py` runs the transform offline (every
//! parameter at its default unless a test says otherwise); these tests read its JSON.
//!
//! Needs the project's `.venv` (the SAM CLI brings the translator): `make venv`.

use std::collections::{BTreeMap, BTreeSet};

use orders_tests::translated::{
    only, reference, resource, resources_of_type, translate, translated,
};
use serde_json::{Value, json};

/// The CodeDeploy PreTraffic hook: the one function that is not deployed through a canary.
const HOOK: &str = "PreTrafficCheckFunction";
/// The alias every function publishes (`AutoPublishAlias`).
const ALIAS: &str = "live";

/// Every function of the stack, the hook included.
fn functions(template: &Value) -> Vec<&str> {
    let functions: Vec<&str> = resources_of_type(template, "AWS::Lambda::Function")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(functions.len() >= 9, "{functions:?}");
    assert!(functions.contains(&HOOK), "no {HOOK}: {functions:?}");
    functions
}

/// The functions CodeDeploy deploys with a canary: all but the hook.
fn canary_functions(template: &Value) -> Vec<&str> {
    functions(template)
        .into_iter()
        .filter(|function| *function != HOOK)
        .collect()
}

/// The alarms whose metric is `namespace`/`metric`.
fn alarms_on<'a>(template: &'a Value, namespace: &str, metric: &str) -> Vec<(&'a str, &'a Value)> {
    resources_of_type(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, alarm)| {
            alarm["Properties"]["Namespace"] == namespace
                && alarm["Properties"]["MetricName"] == metric
        })
        .collect()
}

/// An alarm's dimensions as name -> value.
fn dimensions(alarm: &Value) -> BTreeMap<String, Value> {
    alarm["Properties"]["Dimensions"]
        .as_array()
        .expect("Dimensions")
        .iter()
        .map(|d| (d["Name"].as_str().unwrap().to_owned(), d["Value"].clone()))
        .collect()
}

#[test]
fn every_function_but_the_hook_shifts_traffic_as_the_deployment_type_parameter_says() {
    let config = |deployment_type: &str| json!({"Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": deployment_type}]});
    let template = translated();
    let default = template["Parameters"]["DeploymentType"]["Default"]
        .as_str()
        .expect("DeploymentType has a default");
    assert_eq!(default, "Canary10Percent5Minutes");
    for function in canary_functions(template) {
        let group = resource(template, &format!("{function}DeploymentGroup"));
        assert_eq!(group["Type"], "AWS::CodeDeploy::DeploymentGroup");
        let properties = &group["Properties"];
        assert_eq!(
            properties["DeploymentConfigName"],
            config(default),
            "{function}"
        );
        assert_eq!(
            properties["ApplicationName"],
            reference("ServerlessDeploymentApplication")
        );
        let rollback = &properties["AutoRollbackConfiguration"];
        assert_eq!(rollback["Enabled"], true, "{function}");
        for event in ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"] {
            assert!(
                rollback["Events"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(event)),
                "{function} does not roll back on {event}"
            );
        }
    }

    // The parameter, not a literal, decides: another value gives every group another config.
    let linear = translate(&["DeploymentType=Linear10PercentEvery1Minute"]);
    for function in canary_functions(&linear) {
        let group = resource(&linear, &format!("{function}DeploymentGroup"));
        assert_eq!(
            group["Properties"]["DeploymentConfigName"],
            config("Linear10PercentEvery1Minute"),
            "{function}"
        );
    }
}

#[test]
fn every_deployment_rolls_back_on_its_alias_errors_the_api_5xx_and_every_dead_letter_alarm() {
    let template = translated();
    // The merchant's failed notifications are watched too, but an outage of the merchant's
    // webhook is no fault of a new version: that alarm does not stop deployments.
    let dead_letter_alarms: Vec<&str> =
        alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| *id != "MerchantNotificationFailureAlarm")
            .collect();
    assert!(dead_letter_alarms.len() >= 3, "{dead_letter_alarms:?}");

    let api_alarms = alarms_on(template, "AWS/ApiGateway", "5XXError");
    assert_eq!(api_alarms.len(), 1, "{api_alarms:?}");
    let (api_alarm, alarm) = api_alarms[0];
    let api_name = &only(template, "AWS::ApiGateway::RestApi").1["Properties"]["Name"];
    assert!(
        !api_name.is_null(),
        "the REST API needs a Name for the ApiName dimension"
    );
    let expected: BTreeMap<String, Value> = [
        ("ApiName".to_owned(), api_name.clone()),
        ("Stage".to_owned(), reference("StageName")),
    ]
    .into();
    assert_eq!(
        dimensions(alarm),
        expected,
        "{api_alarm} watches another API"
    );

    let alias_alarms = alarms_on(template, "AWS/Lambda", "Errors");
    for function in canary_functions(template) {
        let expected: BTreeMap<String, Value> = [
            ("FunctionName".to_owned(), reference(function)),
            (
                "Resource".to_owned(),
                json!({ "Fn::Sub": format!("${{{function}}}:{ALIAS}") }),
            ),
        ]
        .into();
        let own: Vec<&str> = alias_alarms
            .iter()
            .filter(|(_, alarm)| dimensions(alarm) == expected)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(own.len(), 1, "{function}'s alias errors alarms: {own:?}");
        let own_alarm = &resource(template, own[0])["Properties"];
        assert_eq!(own_alarm["Threshold"], 1, "{}: one error is enough", own[0]);
        assert_eq!(
            own_alarm["ComparisonOperator"],
            "GreaterThanOrEqualToThreshold"
        );

        let configuration = &resource(template, &format!("{function}DeploymentGroup"))["Properties"]
            ["AlarmConfiguration"];
        assert_eq!(configuration["Enabled"], true, "{function}");
        let watched: BTreeSet<&str> = configuration["Alarms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|alarm| alarm["Name"]["Ref"].as_str().expect("!Ref <alarm>"))
            .collect();
        let mut expected: BTreeSet<&str> = dead_letter_alarms.iter().copied().collect();
        expected.insert(api_alarm);
        expected.insert(own[0]);
        assert_eq!(watched, expected, "{function}'s deployment alarms");
    }
}

#[test]
fn the_pre_traffic_hook_checks_every_new_version_before_its_alias_moves() {
    let template = translated();
    let aliases = resources_of_type(template, "AWS::Lambda::Alias");
    for function in canary_functions(template) {
        let own: Vec<&Value> = aliases
            .iter()
            .filter(|(_, alias)| alias["Properties"]["FunctionName"] == reference(function))
            .map(|(_, alias)| *alias)
            .collect();
        assert_eq!(own.len(), 1, "{function} has {} aliases", own.len());
        assert_eq!(own[0]["Properties"]["Name"], ALIAS, "{function}");
        assert_eq!(
            own[0]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"],
            json!({
                "ApplicationName": reference("ServerlessDeploymentApplication"),
                "DeploymentGroupName": reference(&format!("{function}DeploymentGroup")),
                "BeforeAllowTrafficHook": reference(HOOK),
            }),
            "{function}'s alias"
        );
    }
}

#[test]
fn the_hook_is_named_for_codedeploys_role_and_is_not_deployed_through_itself() {
    let template = translated();
    let hook = &resource(template, HOOK)["Properties"];
    let name = hook["FunctionName"]["Fn::Sub"]
        .as_str()
        .expect("the hook's name is a !Sub of the stack name");
    assert!(
        name.starts_with("CodeDeployHook_"),
        "CodeDeploy's role may invoke only CodeDeployHook_* functions: {name}"
    );
    assert!(name.contains("${AWS::StackName}"), "{name}");

    let groups = resources_of_type(template, "AWS::CodeDeploy::DeploymentGroup");
    assert_eq!(groups.len(), canary_functions(template).len(), "{groups:?}");
    assert!(
        template["Resources"][format!("{HOOK}DeploymentGroup")].is_null(),
        "the hook would have to check its own deployment"
    );
    for kind in ["AWS::Lambda::Alias", "AWS::Lambda::Version"] {
        for (id, published) in resources_of_type(template, kind) {
            assert_ne!(
                published["Properties"]["FunctionName"],
                reference(HOOK),
                "{id}: CodeDeploy invokes the hook by name, it needs no {kind}"
            );
        }
    }
}

#[test]
fn the_hook_waits_longer_than_any_function_it_checks() {
    let template = translated();
    let timeout = |function: &str| {
        resource(template, function)["Properties"]["Timeout"]
            .as_u64()
            .unwrap_or(3)
    };
    let hook = timeout(HOOK);
    for function in canary_functions(template) {
        assert!(
            hook > timeout(function),
            "the hook ({hook} s) must outlast {function} ({} s) to report its timeout as Failed",
            timeout(function)
        );
    }
}

#[test]
fn every_function_traces_actively() {
    let template = translated();
    for function in functions(template) {
        assert_eq!(
            resource(template, function)["Properties"]["TracingConfig"],
            json!({"Mode": "Active"}),
            "{function}"
        );
    }
}

#[test]
fn every_function_logs_to_its_own_group_kept_for_the_retention_parameter() {
    let template = translated();
    let mut groups = BTreeSet::new();
    for function in functions(template) {
        let properties = &resource(template, function)["Properties"];
        let group = properties["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{function} names no log group of the stack"));
        assert!(groups.insert(group), "{group} is shared");
        let log_group = resource(template, group);
        assert_eq!(log_group["Type"], "AWS::Logs::LogGroup", "{group}");
        assert_eq!(
            log_group["Properties"]["RetentionInDays"],
            reference("LogRetentionDays"),
            "{group}"
        );
        // The name Lambda itself would use: /aws/lambda/<function name>.
        let function_name = properties["FunctionName"]["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("{function} has no FunctionName"));
        assert_eq!(
            log_group["Properties"]["LogGroupName"],
            json!({ "Fn::Sub": format!("/aws/lambda/{function_name}") }),
            "{group}"
        );
    }
}

#[test]
fn every_output_names_a_resource_or_parameter_of_the_deployed_template() {
    let template = translated();
    let known = |name: &str| {
        name.starts_with("AWS::")
            || !template["Resources"][name].is_null()
            || !template["Parameters"][name].is_null()
    };
    let outputs = template["Outputs"].as_object().unwrap();
    for required in [
        "ApiUrl",
        "ApiKeyId",
        "UserPoolId",
        "UserPoolClientId",
        "TableName",
        "OrderEventsTopicArn",
        "FulfillmentQueueUrl",
        "AuditQueueUrl",
        "PaymentKeyArn",
        "CodeDeployApplication",
    ] {
        assert!(outputs.contains_key(required), "no output {required}");
    }
    for (output, declared) in outputs {
        let value = &declared["Value"];
        let names: Vec<String> = if let Some(name) = value["Ref"].as_str() {
            vec![name.to_owned()]
        } else if let Some(target) = value["Fn::GetAtt"].as_array() {
            vec![target[0].as_str().unwrap().to_owned()]
        } else if let Some(text) = value["Fn::Sub"].as_str() {
            text.split("${")
                .skip(1)
                .map(|rest| rest.split(['}', '.']).next().unwrap().to_owned())
                .collect()
        } else {
            panic!("{output}: {value}")
        };
        for name in names {
            assert!(
                known(&name),
                "{output} names {name}, which the stack does not have"
            );
        }
    }
}

#[test]
fn no_deployed_function_gets_an_endpoint_url_though_sam_local_may_set_one() {
    // Declared (sam local invoke --env-vars overrides only declared variables) as AWS::NoValue,
    // which CloudFormation leaves out: on AWS the SDK uses AWS's own endpoints.
    let template = translated();
    for function in functions(template) {
        let variables = &resource(template, function)["Properties"]["Environment"]["Variables"];
        assert_eq!(
            variables["AWS_ENDPOINT_URL"],
            reference("AWS::NoValue"),
            "{function}"
        );
    }
}

/// Exam: CodeDeploy's compute platforms are EC2/on-premises, Lambda and ECS (its agent runs only
/// on EC2/on-premises instances). A Lambda deployment is always blue/green: no instance is updated
/// in place; the `live` alias shifts traffic from the old version to the new one (in-place
/// deployments exist for EC2/on-premises only).
#[test]
fn every_deployment_group_is_a_blue_green_traffic_shift_of_a_lambda_application() {
    let template = translated();
    let (application, properties) = only(template, "AWS::CodeDeploy::Application");
    assert_eq!(properties["Properties"]["ComputePlatform"], "Lambda");

    let groups = resources_of_type(template, "AWS::CodeDeploy::DeploymentGroup");
    assert_eq!(groups.len(), canary_functions(template).len(), "{groups:?}");
    for (group, declared) in groups {
        let properties = &declared["Properties"];
        assert_eq!(
            properties["ApplicationName"],
            reference(application),
            "{group}"
        );
        assert_eq!(
            properties["DeploymentStyle"],
            json!({"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}),
            "{group}"
        );
    }
}

/// Exam: a function's memory is 128 to 10,240 MB, in 1 MB steps; CPU and network grow with it
/// (about one vCPU at 1,769 MB). Lambda refuses a value outside the range at deploy time.
#[test]
fn every_function_has_a_memory_size_lambda_accepts() {
    let template = translated();
    for function in functions(template) {
        let memory = &resource(template, function)["Properties"]["MemorySize"];
        let megabytes = memory
            .as_u64()
            .unwrap_or_else(|| panic!("{function}: MemorySize is {memory}"));
        assert!(
            (128..=10_240).contains(&megabytes),
            "{function}: {megabytes} MB"
        );
    }
}

/// Exam: every API Gateway endpoint is HTTPS only, on the default domain
/// `https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}/`; the stage is the last
/// segment of the path, so each stage of an API has its own base URL.
#[test]
fn the_api_url_is_the_https_execute_api_address_of_the_deployed_stage() {
    let template = translated();
    let (api, _) = only(template, "AWS::ApiGateway::RestApi");
    let (_, stage) = only(template, "AWS::ApiGateway::Stage");
    let stage_name = &stage["Properties"]["StageName"];
    let stage_parameter = stage_name["Ref"]
        .as_str()
        .unwrap_or_else(|| panic!("the stage's name is a parameter: {stage_name}"));

    let url = template["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]
        .as_str()
        .expect("ApiUrl is a !Sub string");
    let address = url
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("not an HTTPS URL: {url}"));
    let (host, path) = address
        .split_once('/')
        .unwrap_or_else(|| panic!("no path after the host: {url}"));
    // `${AWS::URLSuffix}` is `amazonaws.com` (`amazonaws.com.cn` in the China Regions).
    assert_eq!(
        host,
        format!("${{{api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"),
        "{url}"
    );
    assert_eq!(
        path.trim_end_matches('/'),
        format!("${{{stage_parameter}}}"),
        "the stage is the one path segment: {url}"
    );
}
