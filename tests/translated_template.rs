//! The template as CloudFormation deploys it. The SAM transform turns each function into a
//! function, a role, a version, the `live` alias and a CodeDeploy deployment group, and the API into
//! a REST API, a stage, an API key and a usage plan: what IAM, CodeDeploy and API Gateway enforce
//! exists only in that output. `scripts/translate-template.py` runs the transform offline (every
//! parameter at its default unless a test says otherwise); these tests read its JSON.
//!
//! Needs the project's `.venv` (the SAM CLI brings the translator): `make venv`.

use std::collections::{BTreeMap, BTreeSet};

use orders_tests::translated::{
    api_body, only, reference, resource, resources_of_type, translate, translated,
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

fn stage(template: &Value) -> &Value {
    &only(template, "AWS::ApiGateway::Stage").1["Properties"]
}

/// The stage's MethodSettings entry for a resource path and method (unconditional entries only).
fn method_setting<'a>(template: &'a Value, path: &str, method: &str) -> &'a Value {
    stage(template)["MethodSettings"]
        .as_array()
        .expect("MethodSettings")
        .iter()
        .find(|s| s["ResourcePath"] == path && s["HttpMethod"] == method)
        .unwrap_or_else(|| panic!("no MethodSettings entry for {method} {path}"))
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
    let dead_letter_alarms: Vec<&str> =
        alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
            .into_iter()
            .map(|(id, _)| id)
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
fn the_api_stage_traces_throttles_and_writes_json_access_logs() {
    let template = translated();
    let stage = stage(template);
    assert_eq!(stage["TracingEnabled"], true);

    let default = method_setting(template, "/*", "*");
    let create = method_setting(template, "/~1orders", "POST");
    for limit in ["ThrottlingBurstLimit", "ThrottlingRateLimit"] {
        let stage_wide = default[limit].as_f64().expect("a stage-wide limit");
        let on_create = create[limit].as_f64().expect("a POST /orders limit");
        assert!(
            on_create < stage_wide,
            "{limit}: POST /orders {on_create} is not tighter than {stage_wide}"
        );
    }

    let logs = &stage["AccessLogSetting"];
    assert_eq!(
        logs["DestinationArn"],
        json!({"Fn::GetAtt": ["ApiAccessLogs", "Arn"]})
    );
    let group = resource(template, "ApiAccessLogs");
    assert_eq!(group["Type"], "AWS::Logs::LogGroup");
    assert_eq!(
        group["Properties"]["RetentionInDays"],
        reference("LogRetentionDays")
    );
    let format: Value = serde_json::from_str(logs["Format"].as_str().expect("a Format"))
        .expect("the access log format is JSON");
    let fields: BTreeSet<&str> = format
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "requestId",
        "ip",
        "method",
        "path",
        "status",
        "latency",
        "xrayTraceId",
        "apiKeyId",
        "caller",
    ]
    .into();
    assert_eq!(fields, expected);
    for (field, value) in format.as_object().unwrap() {
        assert!(
            value.as_str().is_some_and(|v| v.starts_with("$context.")),
            "{field}: {value}"
        );
    }
}

#[test]
fn the_order_cache_is_off_by_default_and_keyed_by_order_id_when_on() {
    let template = translated();
    assert_eq!(
        template["Parameters"]["ApiCacheEnabled"]["Default"],
        "false"
    );
    assert_eq!(
        template["Conditions"]["ApiCacheOn"],
        json!({"Fn::Equals": [{"Ref": "ApiCacheEnabled"}, "true"]})
    );
    let stage = stage(template);
    assert_eq!(
        stage["CacheClusterEnabled"],
        json!({"Fn::If": ["ApiCacheOn", true, false]})
    );
    assert_eq!(
        stage["CacheClusterSize"],
        json!({"Fn::If": ["ApiCacheOn", "0.5", {"Ref": "AWS::NoValue"}]})
    );

    let settings = stage["MethodSettings"].as_array().unwrap();
    for setting in settings.iter().filter(|s| s.get("Fn::If").is_none()) {
        assert_ne!(
            setting["CachingEnabled"], true,
            "cached whatever the parameter: {setting}"
        );
    }
    let conditional: Vec<&Value> = settings.iter().filter_map(|s| s.get("Fn::If")).collect();
    assert_eq!(conditional.len(), 1, "{conditional:?}");
    let [condition, when_on, when_off] = conditional[0].as_array().unwrap().as_slice() else {
        panic!("Fn::If takes three arguments: {:?}", conditional[0]);
    };
    assert_eq!(condition, "ApiCacheOn");
    assert_eq!(when_off, &reference("AWS::NoValue"));
    assert_eq!(when_on["ResourcePath"], "/~1orders~1{orderId}");
    assert_eq!(when_on["HttpMethod"], "GET");
    assert_eq!(when_on["CachingEnabled"], true);
    assert_eq!(when_on["CacheTtlInSeconds"], 60);

    let keys = &api_body(template)["paths"]["/orders/{orderId}"]["get"]["x-amazon-apigateway-integration"]
        ["cacheKeyParameters"];
    assert!(
        keys.as_array()
            .is_some_and(|keys| keys.contains(&json!("method.request.path.orderId"))),
        "one cache entry would answer for every order: {keys}"
    );
}

#[test]
fn every_route_needs_an_api_key_that_a_usage_plan_meters() {
    let template = translated();
    let body = api_body(template);
    assert_eq!(
        body["components"]["securitySchemes"]["api_key"],
        json!({"type": "apiKey", "name": "x-api-key", "in": "header"})
    );
    let mut routes = 0;
    for (path, methods) in body["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            if method == "options" {
                // A browser's CORS preflight carries no custom header, so no key.
                assert!(operation["security"].is_null(), "OPTIONS {path}");
            } else {
                routes += 1;
                let security = operation["security"].as_array();
                assert!(
                    security.is_some_and(|s| s.contains(&json!({"api_key": []}))),
                    "{method} {path} needs no API key"
                );
            }
        }
    }
    assert!(routes >= 5, "{routes} routes");

    let (key_id, key) = only(template, "AWS::ApiGateway::ApiKey");
    assert_eq!(key_id, "OrdersApiApiKey");
    assert_eq!(key["Properties"]["Enabled"], true);
    let (plan_id, plan) = only(template, "AWS::ApiGateway::UsagePlan");
    let (stage_id, _) = only(template, "AWS::ApiGateway::Stage");
    assert_eq!(
        plan["Properties"]["ApiStages"],
        json!([{"ApiId": {"Ref": "OrdersApi"}, "Stage": {"Ref": stage_id}}])
    );
    assert!(plan["Properties"]["Quota"]["Limit"].as_u64().unwrap_or(0) > 0);
    assert!(
        plan["Properties"]["Throttle"]["RateLimit"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    let (_, plan_key) = only(template, "AWS::ApiGateway::UsagePlanKey");
    assert_eq!(plan_key["Properties"]["KeyId"], reference(key_id));
    assert_eq!(plan_key["Properties"]["UsagePlanId"], reference(plan_id));
    assert_eq!(plan_key["Properties"]["KeyType"], "API_KEY");

    assert_eq!(
        template["Outputs"]["ApiKeyId"]["Value"],
        reference(key_id),
        "the output names the key SAM creates"
    );
}

#[test]
fn gateway_errors_answer_in_the_apps_error_shape_with_the_cors_origin() {
    let template = translated();
    let responses = &api_body(template)["x-amazon-apigateway-gateway-responses"];
    let origin = json!({"Fn::Sub": "'${AllowedOrigin}'"});
    let expected_status = [
        ("DEFAULT_4XX", None),
        ("DEFAULT_5XX", None),
        ("THROTTLED", Some("429")),
        ("QUOTA_EXCEEDED", Some("429")),
        ("INVALID_API_KEY", Some("403")),
        ("UNAUTHORIZED", Some("401")),
        ("MISSING_AUTHENTICATION_TOKEN", Some("404")),
    ];
    for (kind, status) in expected_status {
        let response = &responses[kind];
        assert!(!response.is_null(), "no gateway response for {kind}");
        assert_eq!(
            response["statusCode"].as_str(),
            status,
            "{kind}'s status code"
        );
        assert_eq!(
            response["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"],
            origin,
            "{kind}: a browser could not read it"
        );
        // $context.error.messageString is API Gateway's message as a quoted JSON string.
        let template_text = response["responseTemplates"]["application/json"]
            .as_str()
            .unwrap_or_else(|| panic!("{kind} has no application/json template"));
        let rendered = template_text.replace("$context.error.messageString", r#""Forbidden""#);
        let body: Value = serde_json::from_str(&rendered)
            .unwrap_or_else(|error| panic!("{kind}: {error}: {rendered}"));
        let error = body["error"]
            .as_object()
            .unwrap_or_else(|| panic!("{kind}: {body}"));
        assert_eq!(body.as_object().unwrap().len(), 1, "{kind}: {body}");
        let keys: BTreeSet<&str> = error.keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["code", "message"]), "{kind}");
        assert!(
            error["code"].as_str().is_some_and(
                |code| !code.is_empty() && code.chars().next().unwrap().is_ascii_uppercase()
            ),
            "{kind}: the code is a PascalCase word like the app's: {body}"
        );
        assert!(error["message"].is_string(), "{kind}");
    }
    // A 5XX never passes API Gateway's own text on.
    assert!(
        !responses["DEFAULT_5XX"]["responseTemplates"]["application/json"]
            .as_str()
            .unwrap()
            .contains("$context")
    );
}

#[test]
fn cors_preflight_allows_the_request_headers_the_api_reads_from_the_allowed_origin() {
    let template = translated();
    let mut preflights = 0;
    for (path, methods) in api_body(template)["paths"].as_object().unwrap() {
        let Some(options) = methods.get("options") else {
            panic!("{path} has no CORS preflight");
        };
        preflights += 1;
        let headers = &options["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"];
        assert_eq!(
            headers["method.response.header.Access-Control-Allow-Origin"],
            json!({"Fn::Sub": "'${AllowedOrigin}'"}),
            "{path}"
        );
        let allowed = headers["method.response.header.Access-Control-Allow-Headers"]
            .as_str()
            .unwrap_or_default()
            .trim_matches('\'')
            .to_ascii_lowercase();
        let allowed: BTreeSet<&str> = allowed.split(',').map(str::trim).collect();
        for header in [
            "authorization",
            "content-type",
            "if-match",
            "idempotency-key",
            "x-api-key",
        ] {
            assert!(allowed.contains(header), "{path}: {header} is not allowed");
        }
    }
    assert!(preflights >= 3, "{preflights}");
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
