use super::*;
use crate::cloudformation::intrinsics::{SubPart, sub_parts};

const TEMPLATE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");

/// The project's `template.yaml`.
pub(super) fn real_template() -> Template {
    Template::load(Path::new(TEMPLATE_PATH)).expect("template.yaml parses")
}

/// The one item of `items`, for a test of the template's one table, API or pool: none, or more
/// than one, fails the test.
pub(super) fn the_one<'a, T: std::fmt::Debug>(items: &'a [T], what: &str) -> &'a T {
    let [item] = items else {
        panic!("one {what}: {items:?}")
    };
    item
}

/// Each YAML value (one environment variable's) read as the expression beside it.
fn assert_reads(cases: &[(&str, Expr)]) {
    for (yaml, expected) in cases {
        assert_eq!(&parse_value(yaml).unwrap(), expected, "{yaml}");
    }
}

fn function(template: &Template, logical_id: &str) -> FunctionSpec {
    template
        .functions()
        .into_iter()
        .find(|f| f.logical_id == logical_id)
        .unwrap_or_else(|| panic!("no function {logical_id}"))
}

fn get_att(resource: &str, attribute: &str) -> Expr {
    Expr::GetAtt(resource.into(), attribute.into())
}

/// `value` as the one environment variable `X` of a one-function template.
fn parse_value(value: &str) -> Result<Expr, TemplateError> {
    let yaml = format!(
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata:\n      BuildProperties:\n        Binary: f\n    Properties:\n      Environment:\n        Variables:\n          X: {value}\n"
    );
    let template = Template::parse(&yaml)?;
    Ok(template.functions()[0].environment["X"].clone())
}

#[test]
fn the_orders_table_has_its_keys_index_stream_and_ttl() {
    let tables = real_template().tables();
    let table = the_one(&tables, "table");
    assert_eq!(table.logical_id, "OrdersTable");
    assert_eq!(table.hash_key, "pk");
    assert_eq!(table.range_key.as_deref(), Some("sk"));
    assert!(
        table
            .attributes
            .contains(&("customerId".into(), "S".into()))
    );
    assert_eq!(table.billing_mode, "PAY_PER_REQUEST");
    assert_eq!(
        table.stream_view_type.as_deref(),
        Some("NEW_AND_OLD_IMAGES")
    );
    assert_eq!(table.ttl_attribute.as_deref(), Some("expiresAt"));

    let index = the_one(&table.indexes, "GSI");
    assert_eq!(index.name, "byCustomer");
    assert_eq!(index.hash_key, "customerId");
    assert_eq!(index.range_key.as_deref(), Some("createdAt"));
    assert_eq!(index.projection_type, "INCLUDE");
    assert!(index.non_key_attributes.contains(&"status".into()));
    assert!(
        !index
            .non_key_attributes
            .contains(&"encryptedPayment".into())
    );
}

#[test]
fn every_function_names_its_binary() {
    let binaries: Vec<(String, String)> = real_template()
        .functions()
        .into_iter()
        .map(|f| (f.logical_id, f.binary))
        .collect();
    let expected = [
        ("CreateOrderFunction", "create-order"),
        ("GetOrderFunction", "get-order"),
        ("UpdateOrderFunction", "update-order"),
        ("CancelOrderFunction", "cancel-order"),
        ("ListOrdersFunction", "list-orders"),
        ("PublishEventsFunction", "publish-events"),
        ("FulfillOrderFunction", "fulfill-order"),
        ("RecordAuditFunction", "record-audit"),
        ("PreTrafficCheckFunction", "pre-traffic-check"),
    ]
    .map(|(id, binary)| (id.to_owned(), binary.to_owned()));
    assert_eq!(binaries, expected);
}

#[test]
fn functions_merge_globals_under_their_own_properties() {
    let create = function(&real_template(), "CreateOrderFunction");
    assert_eq!(
        create.environment["TABLE_NAME"],
        Expr::Ref("OrdersTable".into())
    );
    assert_eq!(
        create.environment["PAYMENT_KEY_ID"],
        get_att("OrdersKey", "Arn")
    );
    assert_eq!(
        create.environment["DATA_KEY_CACHE_MAX_MESSAGES"],
        Expr::Literal("100".into())
    );
    assert_eq!(create.timeout_seconds, 10);
    assert_eq!(create.memory_mb, 256);
    assert!(create.tracing_active);
    assert_eq!(create.log_format.as_deref(), Some("JSON"));
    assert_eq!(
        create.application_log_level,
        Some(Expr::Ref("LogLevel".into()))
    );
    assert!(create.description.unwrap().starts_with("POST /orders"));
}

#[test]
fn api_events_give_paths_and_upper_case_methods() {
    let routes: Vec<(String, String, String)> = real_template()
        .functions()
        .into_iter()
        .flat_map(|f| {
            f.events.into_iter().filter_map(move |event| match event {
                EventSpec::Api { path, method, .. } => Some((f.logical_id.clone(), method, path)),
                _ => None,
            })
        })
        .collect();
    let expected = [
        ("CreateOrderFunction", "POST", "/orders"),
        ("GetOrderFunction", "GET", "/orders/{orderId}"),
        ("UpdateOrderFunction", "PATCH", "/orders/{orderId}"),
        ("CancelOrderFunction", "POST", "/orders/{orderId}/cancel"),
        ("ListOrdersFunction", "GET", "/orders"),
    ]
    .map(|(f, m, p)| (f.to_owned(), m.to_owned(), p.to_owned()));
    assert_eq!(routes, expected);
}

#[test]
fn sqs_events_name_their_queues() {
    let template = real_template();
    for (function_id, expected_queue) in [
        ("FulfillOrderFunction", "FulfillmentQueue"),
        ("RecordAuditFunction", "AuditQueue"),
    ] {
        let events = function(&template, function_id).events;
        let [
            EventSpec::Sqs {
                queue,
                batch_size,
                batching_window_seconds,
                report_batch_item_failures,
                ..
            },
        ] = events.as_slice()
        else {
            panic!("{function_id}: one SQS event, got {events:?}");
        };
        assert_eq!(queue, expected_queue);
        assert_eq!(*batch_size, 10);
        assert_eq!(*batching_window_seconds, 1);
        assert!(report_batch_item_failures);
    }
}

#[test]
fn the_stream_event_reads_the_orders_table_with_retries_bisect_and_a_filter() {
    let events = function(&real_template(), "PublishEventsFunction").events;
    let [
        EventSpec::DynamoDbStream {
            name,
            table,
            starting_position,
            batch_size,
            report_batch_item_failures,
            maximum_retry_attempts,
            bisect_on_error,
            filter_patterns,
            on_failure_queue,
            ..
        },
    ] = events.as_slice()
    else {
        panic!("one stream event, got {events:?}");
    };
    assert_eq!(name, "OrderChanges");
    assert_eq!(table, "OrdersTable");
    assert_eq!(starting_position, "TRIM_HORIZON");
    assert_eq!(*batch_size, 100);
    assert!(report_batch_item_failures);
    assert_eq!(*maximum_retry_attempts, Some(5));
    assert!(bisect_on_error);
    assert_eq!(
        filter_patterns,
        &[serde_json::json!({"dynamodb": {"Keys": {"sk": {"S": ["ORDER"]}}}})]
    );
    assert_eq!(on_failure_queue.as_deref(), Some("StreamFailureQueue"));
}

#[test]
fn queues_redrive_to_their_dead_letter_queues() {
    let queues = real_template().queues();
    let redrive = |id: &str| {
        queues
            .iter()
            .find(|q| q.logical_id == id)
            .unwrap_or_else(|| panic!("no queue {id}"))
            .redrive
            .clone()
    };
    assert_eq!(
        redrive("FulfillmentQueue"),
        Some(Redrive {
            dead_letter_queue: "FulfillmentDeadLetterQueue".into(),
            max_receive_count: 5
        })
    );
    assert_eq!(
        redrive("AuditQueue").map(|r| r.dead_letter_queue),
        Some("AuditDeadLetterQueue".into())
    );
    assert_eq!(redrive("FulfillmentDeadLetterQueue"), None);
    let fulfillment = queues.iter().find(|q| q.logical_id == "FulfillmentQueue");
    assert_eq!(fulfillment.unwrap().visibility_timeout_seconds, Some(60));
    // With the stream's and the pre-traffic hook's failure queues, which redrive nowhere.
    assert_eq!(queues.len(), 6);
    assert_eq!(redrive("PreTrafficHookFailureQueue"), None);
}

#[test]
fn subscriptions_deliver_raw_and_fulfillment_filters_on_event_type() {
    let subscriptions = real_template().subscriptions();
    assert_eq!(
        subscriptions[0],
        SubscriptionSpec {
            logical_id: "FulfillmentSubscription".into(),
            topic: "OrderEventsTopic".into(),
            queue: "FulfillmentQueue".into(),
            raw_message_delivery: true,
            filter_policy: Some(serde_json::json!({"eventType": ["OrderPlaced"]})),
            filter_policy_scope: Some("MessageAttributes".into()),
        }
    );
    assert_eq!(subscriptions[1].queue, "AuditQueue");
    assert!(subscriptions[1].raw_message_delivery);
    assert_eq!(subscriptions[1].filter_policy, None);
}

#[test]
fn the_key_aliases_are_subs_on_the_stack_name() {
    let template = real_template();
    assert_eq!(
        template.aliases(),
        [
            AliasSpec {
                logical_id: "OrdersKeyAlias".into(),
                name: Expr::Sub("alias/${AWS::StackName}-orders".into()),
                target_key: "OrdersKey".into(),
            },
            AliasSpec {
                logical_id: "MessagesKeyAlias".into(),
                name: Expr::Sub("alias/${AWS::StackName}-messages".into()),
                target_key: "MessagesKey".into(),
            }
        ]
    );
    let keys: Vec<String> = template.keys().into_iter().map(|k| k.logical_id).collect();
    assert_eq!(keys, ["OrdersKey", "MessagesKey"]);
    assert!(matches!(template.keys()[0].description, Some(Expr::Sub(_))));
}

#[test]
fn order_events_are_encrypted_with_the_messages_key_in_the_topic_and_every_queue() {
    let template = real_template();
    let messages_key = Some(Expr::Ref("MessagesKey".into()));
    assert_eq!(
        template.topics(),
        [TopicSpec {
            logical_id: "OrderEventsTopic".into(),
            // Named: the key policy names the topic's ARN, which a !Ref would make a cycle.
            name: Some(Expr::Sub("${AWS::StackName}-order-events".into())),
            tracing_active: true,
            kms_master_key: messages_key.clone(),
        }]
    );
    let queues = template.queues();
    assert_eq!(queues.len(), 6);
    for queue in queues {
        assert_eq!(queue.kms_master_key, messages_key, "{}", queue.logical_id);
        assert_eq!(
            queue.kms_data_key_reuse_period_seconds,
            Some(300),
            "{}",
            queue.logical_id
        );
        assert_eq!(queue.sqs_managed_sse, None, "{}", queue.logical_id);
    }
}

#[test]
fn conditions_and_parameters_take_the_defaults() {
    let template = real_template();
    assert!(!template.condition("IsProd"));
    assert!(!template.condition("NoSuchCondition"));
    assert_eq!(
        template.parameter_default("Environment").as_deref(),
        Some("dev")
    );
    assert_eq!(
        template.parameter_default("LogLevel").as_deref(),
        Some("INFO")
    );
    assert_eq!(
        template.resource_type("OrdersApi"),
        Some("AWS::Serverless::Api")
    );
}

#[test]
fn conditions_combine_with_not_and_or() {
    let template = Template::parse(
        "Parameters:\n  Env: {Type: String, Default: prod}\n  Region: {Type: String, Default: eu}\nConditions:\n  IsProd: !Equals [!Ref Env, prod]\n  IsEu: {'Fn::Equals': [{Ref: Region}, eu]}\n  ProdOutsideEu: !And [!Condition IsProd, !Not [!Condition IsEu]]\n  ProdOrEu: {'Fn::Or': [{Condition: IsProd}, !Condition IsEu]}\nResources: {}\n",
    )
    .unwrap();
    assert!(template.condition("IsProd"));
    assert!(template.condition("IsEu"));
    assert!(!template.condition("ProdOutsideEu"));
    assert!(template.condition("ProdOrEu"));
}

#[test]
fn a_condition_on_an_unknown_parameter_is_an_error() {
    let error =
        Template::parse("Conditions:\n  IsProd: !Equals [!Ref Stage, prod]\nResources: {}\n")
            .unwrap_err();
    assert_eq!(
        error.to_string(),
        "condition IsProd names Stage, which is not a parameter"
    );
}

#[test]
fn ref_and_get_att_in_short_and_long_form() {
    assert_reads(&[
        ("!Ref T", Expr::Ref("T".into())),
        ("{Ref: T}", Expr::Ref("T".into())),
        ("!GetAtt T.Arn", get_att("T", "Arn")),
        ("!GetAtt [T, Arn]", get_att("T", "Arn")),
        ("{'Fn::GetAtt': [T, StreamArn]}", get_att("T", "StreamArn")),
        ("{'Fn::GetAtt': T.Arn}", get_att("T", "Arn")),
    ]);
}

#[test]
fn sub_in_short_and_long_form_with_and_without_variables() {
    let sub = Expr::Sub("${AWS::StackName}-${T.Arn}".into());
    assert_reads(&[
        ("!Sub '${AWS::StackName}-${T.Arn}'", sub.clone()),
        ("{'Fn::Sub': '${AWS::StackName}-${T.Arn}'}", sub),
        (
            "!Sub ['${A}-x', {A: !Ref T}]",
            Expr::SubWith(
                "${A}-x".into(),
                BTreeMap::from([("A".into(), Expr::Ref("T".into()))]),
            ),
        ),
        (
            "{'Fn::Sub': ['${A}', {A: b}]}",
            Expr::SubWith(
                "${A}".into(),
                BTreeMap::from([("A".into(), Expr::Literal("b".into()))]),
            ),
        ),
    ]);
}

#[test]
fn sub_strings_split_into_text_and_variables() {
    assert_eq!(
        sub_parts("arn:${AWS::Partition}:x:${T.Arn}/${!Literal}").unwrap(),
        [
            SubPart::Text("arn:".into()),
            SubPart::Variable("AWS::Partition"),
            SubPart::Text(":x:".into()),
            SubPart::Variable("T.Arn"),
            SubPart::Text("/".into()),
            SubPart::Text("${Literal}".into()),
        ]
    );
    assert_eq!(sub_parts("a-${B"), Err(Problem::UnclosedSub));
}

#[test]
fn if_join_select_split_in_short_and_long_form() {
    let if_expr = Expr::If(
        "IsProd".into(),
        Box::new(Expr::Literal("true".into())),
        Box::new(Expr::Literal("false".into())),
    );
    let join = Expr::Join(
        "-".into(),
        vec![Expr::Literal("a".into()), Expr::Ref("T".into())],
    );
    let split = Expr::Split("/".into(), Box::new(Expr::Ref("AWS::StackId".into())));
    let select = Expr::Select(2, Box::new(split.clone()));
    assert_reads(&[
        ("!If [IsProd, true, false]", if_expr.clone()),
        ("{'Fn::If': [IsProd, true, false]}", if_expr),
        ("!Join ['-', [a, !Ref T]]", join.clone()),
        ("{'Fn::Join': ['-', [a, {Ref: T}]]}", join),
        (
            "!Select [2, !Split ['/', !Ref AWS::StackId]]",
            select.clone(),
        ),
        (
            "{'Fn::Select': ['2', {'Fn::Split': ['/', {Ref: AWS::StackId}]}]}",
            select,
        ),
        // A Join over a function that gives a list.
        (
            "!Join [',', !Split ['/', !Ref AWS::StackId]]",
            Expr::Join(",".into(), vec![split]),
        ),
        (
            "[a, 5]",
            Expr::List(vec![Expr::Literal("a".into()), Expr::Literal("5".into())]),
        ),
    ]);
}

#[test]
fn an_unknown_intrinsic_is_an_error_naming_resource_and_property() {
    let error = parse_value("!Base64 abc").unwrap_err();
    assert_eq!(
        error.to_string(),
        "F: Properties.Environment.Variables.X uses Fn::Base64, which the local stack does not evaluate"
    );
    let error = parse_value("!GetAtt NoAttribute").unwrap_err();
    assert!(
        matches!(&error, TemplateError::Property { problem: Problem::Arguments { function, .. }, .. } if function == "GetAtt"),
        "{error}"
    );
}

#[test]
fn a_table_without_a_key_schema_is_an_error_naming_it() {
    let error = Template::parse(
        "Resources:\n  BrokenTable:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      AttributeDefinitions:\n        - {AttributeName: pk, AttributeType: S}\n",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "BrokenTable: Properties.KeySchema is missing"
    );
}

#[test]
fn a_subscription_to_a_missing_queue_is_an_error_naming_it() {
    let error = Template::parse(
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n  Sub:\n    Type: AWS::SNS::Subscription\n    Properties:\n      TopicArn: !Ref Topic\n      Protocol: sqs\n      Endpoint: !GetAtt Queu.Arn\n",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "Sub: Properties.Endpoint names Queu, which is not an AWS::SQS::Queue of this template"
    );
}

#[test]
fn a_key_schema_without_a_hash_key_is_an_error() {
    let error = Template::parse(
        "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      AttributeDefinitions: []\n      KeySchema:\n        - {AttributeName: sk, KeyType: RANGE}\n",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "T: Properties.KeySchema should be a list with a HASH key"
    );
}

#[test]
fn a_resource_whose_condition_does_not_hold_is_left_out() {
    let template = Template::parse(
        "Parameters:\n  Env: {Type: String, Default: dev}\nConditions:\n  IsProd: !Equals [!Ref Env, prod]\nResources:\n  ProdOnly:\n    Type: AWS::SNS::Topic\n    Condition: IsProd\n  Always:\n    Type: AWS::SNS::Topic\n",
    )
    .unwrap();
    let topics: Vec<String> = template
        .topics()
        .into_iter()
        .map(|t| t.logical_id)
        .collect();
    assert_eq!(topics, ["Always"]);
    assert_eq!(template.resource_type("ProdOnly"), None);
}

#[test]
fn unknown_resource_types_are_ignored() {
    let template = Template::parse("Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n").unwrap();
    assert_eq!(template.resource_type("Bucket"), Some("AWS::S3::Bucket"));
    assert!(template.tables().is_empty());
}
