//! `template.yaml` says what the code assumes: the index projection the store reads, the key the
//! table and the cards are encrypted with, who may use that key, and how order events reach their
//! consumers (stream, topic, queues, their retries and dead letters). (`make validate` checks the
//! template is valid; these tests check it is *this application's* template.)

use orders_shared::store::{CUSTOMER_INDEX, CUSTOMER_INDEX_ATTRIBUTES};
use orders_tests::template_yaml::{
    events_of_type, functions, get_att_resource, intrinsic, resource, resources_of_type, template,
};
use serde_norway::Value;

/// The queues the topic's subscriptions deliver to.
fn subscribed_queues(template: &Value) -> Vec<String> {
    let queues: Vec<String> = resources_of_type(template, "AWS::SNS::Subscription")
        .into_iter()
        .filter(|(_, subscription)| subscription["Protocol"] == "sqs")
        .map(|(_, subscription)| get_att_resource(&subscription["Endpoint"], "Arn"))
        .collect();
    assert!(!queues.is_empty(), "no queue is subscribed to a topic");
    queues
}

/// The one function whose SQS event reads `queue`.
fn consumer_of(template: &Value, queue: &str) -> String {
    let consumers: Vec<String> = events_of_type(template, "SQS")
        .into_iter()
        .filter(|(_, event)| get_att_resource(&event["Queue"], "Arn") == queue)
        .map(|(function, _)| function)
        .collect();
    assert_eq!(consumers.len(), 1, "consumers of {queue}: {consumers:?}");
    consumers.into_iter().next().unwrap()
}

/// A function's timeout in seconds: its own, or the one in Globals.
fn timeout_seconds(template: &Value, function: &str) -> u64 {
    resource(template, function)["Timeout"]
        .as_u64()
        .or_else(|| template["Globals"]["Function"]["Timeout"].as_u64())
        .unwrap_or_else(|| panic!("{function} has no timeout"))
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

/// Exam: SSE-KMS on every hop. Order events carry the shipping address through the topic and
/// the queues, dead-letter and failure queues included; a second rotating key of the stack's own
/// (not the card key, and not SQS's or SNS's own keys) encrypts them, the functions' environments
/// and the webhook's secret. (Its policy, and the log groups, are read in
/// `least_privilege.rs`.)
#[test]
fn order_events_environments_and_the_secret_are_encrypted_with_the_messages_key() {
    let template = template();
    let key = resource(&template, "MessagesKey");
    assert_eq!(key["EnableKeyRotation"], true);
    assert_eq!(
        template["Resources"]["MessagesKey"]["DeletionPolicy"],
        "Retain"
    );
    let messages_key = ("Ref".to_owned(), "MessagesKey".to_owned());

    let topics = resources_of_type(&template, "AWS::SNS::Topic");
    let queues = resources_of_type(&template, "AWS::SQS::Queue");
    assert!(queues.len() >= 7, "{queues:?}");
    for (id, properties) in topics.iter().chain(&queues) {
        assert_eq!(
            intrinsic(&properties["KmsMasterKeyId"]),
            messages_key,
            "{id} is encrypted with MessagesKey"
        );
        assert!(
            properties.get("SqsManagedSseEnabled").is_none(),
            "{id}: SSE-SQS and a KMS key exclude each other"
        );
    }
    for (id, properties) in &queues {
        // SQS's data key reuse: 60 s to 24 h; KMS calls per queue grow with it, not with messages.
        let reuse = properties["KmsDataKeyReusePeriodSeconds"].as_u64();
        assert!(
            reuse.is_some_and(|seconds| (60..=86_400).contains(&seconds)),
            "{id}: KmsDataKeyReusePeriodSeconds {reuse:?}"
        );
    }

    let secret = resource(&template, "MerchantWebhookSecret");
    assert_eq!(intrinsic(&secret["KmsKeyId"]), messages_key);

    // Every function, through Globals: Lambda encrypts the environment with it.
    assert_eq!(
        intrinsic(&template["Globals"]["Function"]["KmsKeyArn"]),
        ("GetAtt".into(), "MessagesKey.Arn".into())
    );
    for function in functions(&template) {
        assert!(
            resource(&template, &function).get("KmsKeyArn").is_none(),
            "{function} overrides the Globals' KmsKeyArn"
        );
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

#[test]
fn the_order_events_topic_has_active_tracing() {
    let template = template();
    assert_eq!(
        template["Resources"]["OrderEventsTopic"]["Type"],
        "AWS::SNS::Topic"
    );
    assert_eq!(
        resource(&template, "OrderEventsTopic")["TracingConfig"],
        "Active"
    );
}

#[test]
fn both_queues_get_raw_events_and_only_fulfillment_is_filtered_to_placed_orders() {
    let template = template();
    let subscriptions = resources_of_type(&template, "AWS::SNS::Subscription");
    let mut queues: Vec<String> = Vec::new();
    for (name, subscription) in subscriptions {
        assert_eq!(
            intrinsic(&subscription["TopicArn"]),
            ("Ref".into(), "OrderEventsTopic".into()),
            "{name}"
        );
        assert_eq!(subscription["Protocol"], "sqs", "{name}");
        assert_eq!(subscription["RawMessageDelivery"], true, "{name}");
        let queue = get_att_resource(&subscription["Endpoint"], "Arn");
        if queue == "FulfillmentQueue" {
            assert_eq!(subscription["FilterPolicyScope"], "MessageAttributes");
            let placed: Value = serde_norway::from_str("eventType: [OrderPlaced]").unwrap();
            assert_eq!(subscription["FilterPolicy"], placed);
        } else {
            assert!(
                subscription["FilterPolicy"].is_null(),
                "{name} must get every event"
            );
        }
        queues.push(queue);
    }
    queues.sort_unstable();
    assert_eq!(queues, ["AuditQueue", "FulfillmentQueue"]);
}

#[test]
fn every_subscribed_queue_dead_letters_after_five_receives_and_outlasts_six_consumer_timeouts() {
    let template = template();
    for queue in subscribed_queues(&template) {
        let properties = resource(&template, &queue);
        let redrive = &properties["RedrivePolicy"];
        assert_eq!(redrive["maxReceiveCount"], 5, "{queue}");
        let dead_letters = get_att_resource(&redrive["deadLetterTargetArn"], "Arn");
        assert_eq!(
            template["Resources"][&dead_letters]["Type"], "AWS::SQS::Queue",
            "{queue}'s DLQ {dead_letters}"
        );

        let consumer = consumer_of(&template, &queue);
        let timeout = timeout_seconds(&template, &consumer);
        let visibility = properties["VisibilityTimeout"]
            .as_u64()
            .unwrap_or_else(|| panic!("{queue} has no VisibilityTimeout"));
        assert!(
            visibility >= 6 * timeout,
            "{queue}: visibility {visibility} s < 6 x {consumer}'s timeout {timeout} s"
        );
    }
}

/// A message moved to a standard queue's DLQ keeps its first enqueue time and expires by it.
#[test]
fn every_dead_letter_queue_keeps_messages_longer_than_its_source_queue() {
    // SQS's default retention: 4 days.
    let retention = |queue: &Value| queue["MessageRetentionPeriod"].as_u64().unwrap_or(345_600);
    let template = template();
    let sources: Vec<(String, &Value)> = resources_of_type(&template, "AWS::SQS::Queue")
        .into_iter()
        .filter(|(_, queue)| !queue["RedrivePolicy"].is_null())
        .collect();
    assert!(sources.len() >= 2, "{sources:?}");
    for (queue, properties) in sources {
        let dead_letters =
            get_att_resource(&properties["RedrivePolicy"]["deadLetterTargetArn"], "Arn");
        let kept = retention(resource(&template, &dead_letters));
        assert!(
            kept > retention(properties),
            "{dead_letters} keeps messages {kept} s, no longer than {queue}"
        );
        assert_eq!(kept, 1_209_600, "{dead_letters}: the maximum, 14 days");
    }
}

#[test]
fn every_subscribed_queue_accepts_messages_only_from_the_order_events_topic() {
    let template = template();
    let policies = resources_of_type(&template, "AWS::SQS::QueuePolicy");
    for queue in subscribed_queues(&template) {
        let own: Vec<&Value> = policies
            .iter()
            .filter(|(_, policy)| {
                policy["Queues"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|q| intrinsic(q) == ("Ref".into(), queue.clone()))
            })
            .map(|(_, policy)| *policy)
            .collect();
        assert_eq!(own.len(), 1, "{queue} has {} queue policies", own.len());
        let statements = own[0]["PolicyDocument"]["Statement"].as_sequence().unwrap();
        assert!(!statements.is_empty(), "{queue}");
        for statement in statements {
            let principal: Value = serde_norway::from_str("Service: sns.amazonaws.com").unwrap();
            assert_eq!(statement["Principal"], principal, "{queue}");
            assert_eq!(statement["Action"], "sqs:SendMessage", "{queue}");
            assert_eq!(
                get_att_resource(&statement["Resource"], "Arn"),
                queue,
                "a queue's policy is about that queue only"
            );
            assert_eq!(
                intrinsic(&statement["Condition"]["ArnEquals"]["aws:SourceArn"]),
                ("Ref".into(), "OrderEventsTopic".into()),
                "{queue}: any topic could send"
            );
        }
    }
}

#[test]
fn every_queue_consumer_reports_batch_item_failures() {
    let template = template();
    let events = events_of_type(&template, "SQS");
    assert!(events.len() >= 2, "{events:?}");
    for (function, event) in events {
        let types: Value = serde_norway::from_str("[ReportBatchItemFailures]").unwrap();
        assert_eq!(event["FunctionResponseTypes"], types, "{function}");
    }
}

#[test]
fn the_stream_consumer_bisects_bounds_its_retries_and_keeps_what_it_gives_up() {
    let template = template();
    let events = events_of_type(&template, "DynamoDB");
    assert_eq!(events.len(), 1, "{events:?}");
    let (function, event) = &events[0];
    assert_eq!(function, "PublishEventsFunction");
    assert_eq!(
        intrinsic(&event["Stream"]),
        ("GetAtt".into(), "OrdersTable.StreamArn".into())
    );
    assert_eq!(event["BisectBatchOnFunctionError"], true);
    let retries = event["MaximumRetryAttempts"]
        .as_i64()
        .expect("MaximumRetryAttempts (the default, -1, retries until the record expires)");
    assert!((0..=10).contains(&retries), "{retries} retries");
    let types: Value = serde_norway::from_str("[ReportBatchItemFailures]").unwrap();
    assert_eq!(event["FunctionResponseTypes"], types);

    let on_failure = &event["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    let queue = get_att_resource(&on_failure["Destination"], "Arn");
    assert_eq!(template["Resources"][&queue]["Type"], "AWS::SQS::Queue");
}

#[test]
fn the_stream_filter_passes_only_order_items() {
    let template = template();
    let events = events_of_type(&template, "DynamoDB");
    let filters = events[0].1["FilterCriteria"]["Filters"]
        .as_sequence()
        .expect("the stream event has filters");
    assert_eq!(filters.len(), 1, "{filters:?}");
    let pattern: serde_json::Value =
        serde_json::from_str(filters[0]["Pattern"].as_str().unwrap()).expect("JSON pattern");
    assert_eq!(
        pattern,
        serde_json::json!({"dynamodb": {"Keys": {"sk": {"S": ["ORDER"]}}}})
    );
}

#[test]
fn every_dead_letter_and_stream_failure_queue_has_a_depth_alarm() {
    let template = template();
    let mut watched: Vec<String> = resources_of_type(&template, "AWS::SQS::Queue")
        .into_iter()
        .filter(|(_, queue)| !queue["RedrivePolicy"].is_null())
        .map(|(_, queue)| get_att_resource(&queue["RedrivePolicy"]["deadLetterTargetArn"], "Arn"))
        .collect();
    watched.extend(
        events_of_type(&template, "DynamoDB")
            .into_iter()
            .map(|(_, event)| {
                get_att_resource(
                    &event["DestinationConfig"]["OnFailure"]["Destination"],
                    "Arn",
                )
            }),
    );
    assert!(watched.len() >= 3, "{watched:?}");

    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    for queue in watched {
        let alarm = alarms.iter().find(|(_, alarm)| {
            alarm["Namespace"] == "AWS/SQS"
                && alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
                && alarm["Dimensions"].as_sequence().is_some_and(|dimensions| {
                    dimensions.iter().any(|d| {
                        d["Name"] == "QueueName"
                            && get_att_resource(&d["Value"], "QueueName") == queue
                    })
                })
        });
        let (name, alarm) = alarm.unwrap_or_else(|| panic!("no depth alarm on {queue}"));
        assert_eq!(
            alarm["Threshold"], 1,
            "{name}: one waiting message is enough"
        );
        assert_eq!(
            alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold",
            "{name}"
        );
    }
}

/// CodeDeploy's predefined deployment configurations for Lambda (`CodeDeployDefault.Lambda<name>`).
/// `sam validate` accepts any string here: the parameter's AllowedValues is the only check.
#[test]
fn the_deployment_type_is_a_predefined_lambda_config_and_a_canary_by_default() {
    let template = template();
    let parameter = &template["Parameters"]["DeploymentType"];
    let mut allowed: Vec<&str> = parameter["AllowedValues"]
        .as_sequence()
        .expect("DeploymentType has AllowedValues")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    allowed.sort_unstable();
    let mut predefined = vec![
        "AllAtOnce",
        "Canary10Percent5Minutes",
        "Canary10Percent10Minutes",
        "Canary10Percent15Minutes",
        "Canary10Percent30Minutes",
        "Linear10PercentEvery1Minute",
        "Linear10PercentEvery2Minutes",
        "Linear10PercentEvery3Minutes",
        "Linear10PercentEvery10Minutes",
    ];
    predefined.sort_unstable();
    assert_eq!(allowed, predefined);
    assert_eq!(parameter["Default"], "Canary10Percent5Minutes");

    let preference = &template["Globals"]["Function"]["DeploymentPreference"];
    assert_eq!(
        intrinsic(&preference["Type"]),
        ("Ref".into(), "DeploymentType".into())
    );
    assert_eq!(
        intrinsic(&preference["Hooks"]["PreTraffic"]),
        ("Ref".into(), "PreTrafficCheckFunction".into())
    );
}

/// Fixed names: the hook tells from a deployment which function it checks, and CodeDeploy's role
/// may invoke a hook only if its name starts with CodeDeployHook_.
#[test]
fn every_function_is_named_after_the_stack_and_its_binary() {
    let template = template();
    for function in functions(&template) {
        let binary = template["Resources"][&function]["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{function} names no binary"))
            .to_owned();
        let expected = if function == "PreTrafficCheckFunction" {
            format!("CodeDeployHook_${{AWS::StackName}}_{binary}")
        } else {
            format!("${{AWS::StackName}}-{binary}")
        };
        assert_eq!(
            intrinsic(&resource(&template, &function)["FunctionName"]),
            ("Sub".into(), expected),
            "{function}"
        );
    }
}

#[test]
fn the_api_functions_learn_the_allowed_origin_for_their_cors_headers() {
    let template = template();
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(
        intrinsic(&variables["ALLOWED_ORIGIN"]),
        ("Ref".into(), "AllowedOrigin".into()),
        "the preflight and the answers must name the same origin"
    );
}
