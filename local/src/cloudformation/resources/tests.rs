use std::collections::BTreeMap;

use super::*;

const TEMPLATE: &str = r#"
Parameters:
  Environment: {Type: String, Default: dev}
  Zones: {Type: CommaDelimitedList, Default: "a,b,c"}
  Secret: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Environment, prod]
Resources:
  Key: {Type: AWS::KMS::Key}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Queue: {Type: AWS::SQS::Queue}
  Topic: {Type: AWS::SNS::Topic}
  Alarm: {Type: AWS::CloudWatch::Alarm}
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: fn}}
    Properties:
      Environment:
        Variables:
          TABLE: !Ref Table
          MODE: !If [IsProd, strict, relaxed]
"#;

/// A stack `s` in `eu-west-1`, with physical resources made up for the template above.
fn deployed() -> Deployed {
    let mut deployed = Deployed {
        template: Template::parse(TEMPLATE).unwrap(),
        stack_name: "s".into(),
        region: "eu-west-1".into(),
        created: Vec::new(),
        created_here: Vec::new(),
    };
    let created = [
        (
            "Key",
            Physical::Key {
                id: "k-1".into(),
                arn: "arn:aws:kms:eu-west-1:1:key/k-1".into(),
            },
        ),
        (
            "Table",
            Physical::Table {
                name: "s-Table".into(),
                arn: "arn:table".into(),
                stream_arn: None,
            },
        ),
        (
            "Queue",
            Physical::Queue {
                url: "http://q/s-Queue".into(),
                arn: "arn:queue".into(),
                name: "s-Queue".into(),
            },
        ),
        (
            "Topic",
            Physical::Topic {
                arn: "arn:topic".into(),
                name: "s-Topic".into(),
            },
        ),
        (
            "Fn",
            Physical::Function {
                name: "s-Fn".into(),
                arn: "arn:fn".into(),
            },
        ),
    ];
    for (logical_id, physical) in created {
        deployed.record(logical_id, physical);
    }
    deployed
}

fn resolve(expr: Expr) -> Result<String, ResolveError> {
    deployed().resolve(&expr)
}

fn get_att(logical_id: &str, attribute: &str) -> Expr {
    Expr::GetAtt(logical_id.into(), attribute.into())
}

fn text(text: &str) -> Box<Expr> {
    Box::new(Expr::Literal(text.into()))
}

#[test]
fn ref_gives_each_resource_types_physical_id() {
    let refs =
        ["Key", "Table", "Queue", "Topic", "Fn"].map(|id| resolve(Expr::Ref(id.into())).unwrap());
    assert_eq!(
        refs,
        ["k-1", "s-Table", "http://q/s-Queue", "arn:topic", "s-Fn"]
    );
}

#[test]
fn get_att_gives_the_attributes_of_each_resource_type() {
    assert_eq!(
        resolve(get_att("Key", "Arn")).unwrap(),
        "arn:aws:kms:eu-west-1:1:key/k-1"
    );
    assert_eq!(resolve(get_att("Key", "KeyId")).unwrap(), "k-1");
    assert_eq!(resolve(get_att("Table", "Arn")).unwrap(), "arn:table");
    assert_eq!(resolve(get_att("Queue", "Arn")).unwrap(), "arn:queue");
    assert_eq!(resolve(get_att("Queue", "QueueName")).unwrap(), "s-Queue");
    assert_eq!(resolve(get_att("Topic", "TopicName")).unwrap(), "s-Topic");
    assert_eq!(resolve(get_att("Fn", "Arn")).unwrap(), "arn:fn");
    assert_eq!(
        resolve(get_att("Table", "StreamArn")),
        Err(ResolveError::NoStream("Table".into()))
    );
    assert!(matches!(
        resolve(get_att("Topic", "Arn")),
        Err(ResolveError::UnknownAttribute { .. })
    ));
}

#[test]
fn pseudo_parameters_and_parameter_defaults() {
    let sub = Expr::Sub(
        "${AWS::StackName}|${AWS::Region}|${AWS::AccountId}|${AWS::Partition}|${AWS::URLSuffix}|${Environment}".into(),
    );
    assert_eq!(
        resolve(sub).unwrap(),
        "s|eu-west-1|123456789012|aws|amazonaws.com|dev"
    );
    assert_eq!(
        resolve(Expr::Ref("Secret".into())),
        Err(ResolveError::NoParameterValue("Secret".into()))
    );
    assert_eq!(
        resolve(Expr::Ref("AWS::StackId".into())),
        Err(ResolveError::UnknownPseudoParameter("StackId".into()))
    );
}

#[test]
fn sub_resolves_attributes_own_variables_and_escapes() {
    let sub = Expr::Sub("${Table.Arn}/index/byCustomer ${!NotAVariable}".into());
    assert_eq!(
        resolve(sub).unwrap(),
        "arn:table/index/byCustomer ${NotAVariable}"
    );
    let with_variables = Expr::SubWith(
        "${Table}:${Name}".into(),
        BTreeMap::from([("Name".into(), get_att("Queue", "QueueName"))]),
    );
    assert_eq!(resolve(with_variables).unwrap(), "s-Table:s-Queue");
}

#[test]
fn if_join_select_and_split() {
    assert_eq!(
        resolve(Expr::If("IsProd".into(), text("yes"), text("no"))).unwrap(),
        "no"
    );
    assert_eq!(
        resolve(Expr::If("Nope".into(), text("yes"), text("no"))),
        Err(ResolveError::UnknownCondition("Nope".into()))
    );
    let split = Expr::Split("/".into(), text("a/b-c/d"));
    assert_eq!(
        resolve(Expr::Select(1, Box::new(split.clone()))).unwrap(),
        "b-c"
    );
    assert_eq!(
        resolve(Expr::Select(9, Box::new(split.clone()))),
        Err(ResolveError::IndexOutOfRange { index: 9, len: 3 })
    );
    assert_eq!(
        resolve(Expr::Join(
            "+".into(),
            vec![Expr::Literal("x".into()), split]
        ))
        .unwrap(),
        "x+a+b-c+d"
    );
    assert_eq!(
        resolve(Expr::Select(2, Box::new(Expr::Ref("Zones".into())))).unwrap(),
        "c"
    );
    assert_eq!(
        resolve(Expr::Split(",".into(), text("a,b"))),
        Err(ResolveError::ListNotString(vec!["a".into(), "b".into()]))
    );
}

#[test]
fn references_to_resources_not_created_say_why() {
    assert_eq!(
        resolve(Expr::Ref("Alarm".into())),
        Err(ResolveError::NotCreatedLocally {
            logical_id: "Alarm".into(),
            resource_type: "AWS::CloudWatch::Alarm".into()
        })
    );
    assert_eq!(
        resolve(Expr::Ref("Nothing".into())),
        Err(ResolveError::UnknownName("Nothing".into()))
    );
    let mut partial = deployed();
    partial.created.retain(|(id, _)| id != "Queue");
    assert_eq!(
        partial.resolve(&get_att("Queue", "Arn")),
        Err(ResolveError::NotCreatedYet("Queue".into()))
    );
}

#[test]
fn environment_resolves_every_variable() {
    let deployed = deployed();
    let function = &deployed.template.functions()[0];
    let environment = deployed.environment(function).unwrap();
    assert_eq!(
        environment,
        BTreeMap::from([
            ("MODE".into(), "relaxed".into()),
            ("TABLE".into(), "s-Table".into())
        ])
    );
}

#[test]
fn a_variable_of_no_value_is_left_out() {
    let deployed = deployed();
    let mut function = deployed.template.functions()[0].clone();
    function.environment.insert(
        "ENDPOINT".into(),
        Expr::If(
            "IsProd".into(),
            text("https://example.com"),
            Box::new(Expr::Ref("AWS::NoValue".into())),
        ),
    );
    let environment = deployed.environment(&function).unwrap();
    assert!(!environment.contains_key("ENDPOINT"), "{environment:?}");
    assert_eq!(
        resolve(Expr::Ref("AWS::NoValue".into())),
        Err(ResolveError::NoValue)
    );
}

#[test]
fn an_environment_error_names_the_variable() {
    let deployed = deployed();
    let mut function = deployed.template.functions()[0].clone();
    function
        .environment
        .insert("ALARM".into(), Expr::Ref("Alarm".into()));
    let error = deployed.environment(&function).unwrap_err();
    assert_eq!(
        error.to_string(),
        "environment variable ALARM: Alarm is an AWS::CloudWatch::Alarm, which the local stack does not create"
    );
}

#[test]
fn dead_letter_queues_come_first_and_cycles_are_refused() {
    let template = Template::parse(
        "Resources:\n  Main:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 3}\n  Dlq: {Type: AWS::SQS::Queue}\n",
    )
    .unwrap();
    let queues = template.queues();
    let order: Vec<&str> = in_redrive_order(&queues)
        .unwrap()
        .iter()
        .map(|q| q.logical_id.as_str())
        .collect();
    assert_eq!(order, ["Dlq", "Main"]);

    let mut cyclic = queues.clone();
    cyclic[1].redrive = Some(crate::cloudformation::template::Redrive {
        dead_letter_queue: "Main".into(),
        max_receive_count: 1,
    });
    assert!(matches!(
        in_redrive_order(&cyclic),
        Err(DeployError::RedriveCycle(ids)) if ids.len() == 2
    ));
}
