//! The API as CloudFormation deploys it (the SAM transform's output, as in
//! `translated_template.rs`): the stage's tracing, throttling and access logs, the order cache,
//! the API key and usage plan, the gateway responses and CORS.
//!
//! Needs the project's `.venv` (the SAM CLI brings the translator): `make venv`.

use std::collections::BTreeSet;

use orders_tests::translated::{api_body, only, reference, resource, translated};
use serde_json::{Value, json};

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

    let get_order = &api_body(template)["paths"]["/orders/{orderId}"]["get"];
    let keys = &get_order["x-amazon-apigateway-integration"]["cacheKeyParameters"];
    let keyed_on = |parameter: &str| {
        keys.as_array()
            .is_some_and(|keys| keys.contains(&json!(parameter)))
    };
    assert!(
        keyed_on("method.request.path.orderId"),
        "one cache entry would answer for every order: {keys}"
    );
    // Exam: the cache key holds only the cache-key parameters, not the caller. Without the
    // token in it, a customer asking for another's order id within the TTL would get that
    // order from the cache, without the function's ownership check.
    assert!(
        keyed_on("method.request.header.Authorization"),
        "one customer could read another's cached order: {keys}"
    );
    // API Gateway takes a cache-key parameter only if it is a request parameter of the method.
    let parameters = get_order["parameters"]
        .as_array()
        .expect("the method's parameters");
    assert!(
        parameters
            .iter()
            .any(|p| p["in"] == "header" && p["name"] == "Authorization"),
        "{parameters:?}"
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
        ("INTEGRATION_TIMEOUT", Some("504")),
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
    for kind in ["DEFAULT_5XX", "INTEGRATION_TIMEOUT"] {
        assert!(
            !responses[kind]["responseTemplates"]["application/json"]
                .as_str()
                .unwrap()
                .contains("$context"),
            "{kind}"
        );
    }
    assert!(
        responses["INTEGRATION_TIMEOUT"]["responseTemplates"]["application/json"]
            .as_str()
            .unwrap()
            .contains(r#""code": "GatewayTimeout""#)
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
