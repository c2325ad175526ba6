//! `ProjectionExpression`, against moto's DynamoDB: a read that names attributes gets only those
//! back. The fulfillment consumer's read of a sealed card ([`OrderStore::sealed_payment`]) names
//! the order's status, its version and the envelope, and nothing else of the order comes over the
//! wire. (A projection saves bandwidth and memory, not capacity: DynamoDB still reads, and
//! charges for, the whole item.)

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use orders_shared::domain::{OrderId, OrderStatus};
use orders_shared::store::ENCRYPTED_PAYMENT;
use orders_shared::{Config, OrderStore};
use orders_tests::{SAMPLE_ORDER_ID, TestStack, moto_sdk_config, store_sample_order};
use serde_json::Value;

/// The body of every `GetItem` answer, as DynamoDB sent it: what the read really returned,
/// whatever the code under test keeps of it.
#[derive(Debug, Clone, Default)]
struct GetItemAnswers(Arc<Mutex<Vec<Value>>>);

impl Intercept for GetItemAnswers {
    fn name(&self) -> &'static str {
        "GetItemAnswers"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let is_get_item = cfg
            .load::<Metadata>()
            .is_some_and(|metadata| metadata.name() == "GetItem");
        if is_get_item {
            let body = context
                .response()
                .body()
                .bytes()
                .ok_or("a GetItem answer is read whole before it is parsed")?;
            self.0.lock().unwrap().push(serde_json::from_slice(body)?);
        }
        Ok(())
    }
}

/// Exam: `ProjectionExpression` returns only the named attributes (GetItem, Query, Scan);
/// without it, a read returns every attribute of the item.
#[tokio::test]
async fn the_sealed_card_read_returns_only_the_status_the_version_and_the_envelope() {
    let stack = TestStack::start().await;
    assert!(store_sample_order(&stack.store, &stack.cipher).await);
    let id = OrderId::parse(SAMPLE_ORDER_ID).unwrap();

    // The whole item, read without a projection: the order's every attribute.
    let whole = stack
        .dynamodb
        .get_item()
        .table_name(&stack.table)
        .key("pk", AttributeValue::S(format!("ORDER#{id}")))
        .key("sk", AttributeValue::S("ORDER".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the sample order");
    for attribute in ["pk", "customerId", "items", "totalCents", "payment"] {
        assert!(whole.contains_key(attribute), "{attribute}: {whole:?}");
    }

    // The store's read, through a client that keeps DynamoDB's answers.
    let answers = GetItemAnswers::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&moto_sdk_config().await)
            .interceptor(answers.clone())
            .build(),
    );
    let config = Config::from_lookup(|name| (name == "TABLE_NAME").then(|| stack.table.clone()))
        .expect("a table name is all the config needs");
    let sealed = OrderStore::new(client, &config)
        .sealed_payment(id)
        .await
        .unwrap()
        .expect("the sample order");
    assert_eq!(sealed.status, OrderStatus::Placed);

    let answers = answers.0.lock().unwrap();
    assert_eq!(answers.len(), 1, "{answers:?}");
    let returned: BTreeSet<&str> = answers[0]["Item"]
        .as_object()
        .unwrap_or_else(|| panic!("no item in {}", answers[0]))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        returned,
        BTreeSet::from(["status", "version", ENCRYPTED_PAYMENT])
    );
    assert!(whole.len() > returned.len() + 3, "{whole:?}");
}
