//! `create-local-resources`: creates what the template would, on the endpoint in
//! `AWS_ENDPOINT_URL` (a local moto server), named by the functions' environment:
//!
//! - the orders table `TABLE_NAME`, and the order the sample events in `events/` name;
//! - a KMS key with the alias in `PAYMENT_KEY_ID` (`alias/...`);
//! - the topic `TOPIC_ARN`, and the fulfillment and audit queues (each with its DLQ) subscribed
//!   to it as the template subscribes them (raw delivery; fulfillment filtered to `OrderPlaced`).
//!
//! Each is left alone if it exists. Used by `make watch` / `make invoke` until the local stack
//! (which reads the template) replaces it.

use orders_shared::crypto::EnvelopeCipher;
use orders_shared::{Config, EnvelopeConfig, OrderStore};
use orders_tests::pipeline::{FULFILLMENT_FILTER, create_queue_with_dlq, subscribe};

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let table = env("TABLE_NAME")?;
    let alias = env("PAYMENT_KEY_ID")?;
    let topic_arn = env("TOPIC_ARN")?;
    if !alias.starts_with("alias/") {
        return Err(format!("PAYMENT_KEY_ID must be an alias (alias/...), not {alias}").into());
    }
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        return Err(
            "AWS_ENDPOINT_URL is not set: this creates resources on an emulator only".into(),
        );
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;

    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let tables = dynamodb
        .list_tables()
        .send()
        .await?
        .table_names
        .unwrap_or_default();
    if tables.contains(&table) {
        println!("table {table} exists");
    } else {
        orders_tests::create_orders_table(&dynamodb, &table).await;
        println!("created table {table}");
    }

    let kms = aws_sdk_kms::Client::new(&config);
    let aliases = kms.list_aliases().send().await?.aliases.unwrap_or_default();
    if aliases
        .iter()
        .any(|a| a.alias_name() == Some(alias.as_str()))
    {
        println!("key {alias} exists");
    } else {
        let key_arn = orders_tests::create_key(&kms).await;
        kms.create_alias()
            .alias_name(&alias)
            .target_key_id(&key_arn)
            .send()
            .await?;
        println!("created key {alias} ({key_arn})");
    }

    create_topic_and_queues(&config, &topic_arn, &table).await?;

    // The order the sample events name, sealed as create-order seals a card.
    let store = OrderStore::new(dynamodb, &Config::from_env()?);
    let cipher = EnvelopeCipher::for_cards(kms, &EnvelopeConfig::from_env()?);
    if orders_tests::store_sample_order(&store, &cipher).await {
        println!("stored sample order {}", orders_tests::SAMPLE_ORDER_ID);
    }
    Ok(())
}

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

/// The topic named by `topic_arn`, and the queues the template subscribes to it.
async fn create_topic_and_queues(
    config: &aws_config::SdkConfig,
    topic_arn: &str,
    table: &str,
) -> Result<(), Error> {
    let sns = aws_sdk_sns::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let name = topic_arn.rsplit(':').next().unwrap_or_default();
    // CreateTopic is idempotent: it returns the existing topic of that name.
    let created = sns
        .create_topic()
        .name(name)
        .send()
        .await?
        .topic_arn
        .unwrap_or_default();
    if created != topic_arn {
        return Err(format!("TOPIC_ARN is {topic_arn}, but the emulator made {created}").into());
    }
    let subscribed = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .send()
        .await?
        .subscriptions
        .unwrap_or_default();
    for (queue, filter) in [("fulfillment", Some(FULFILLMENT_FILTER)), ("audit", None)] {
        let (url, arn, _) = create_queue_with_dlq(&sqs, &format!("{table}-{queue}")).await;
        if subscribed
            .iter()
            .any(|s| s.endpoint() == Some(arn.as_str()))
        {
            println!("queue {url} is subscribed");
        } else {
            subscribe(&sns, topic_arn, &arn, filter).await;
            println!("created queue {url} (and its DLQ), subscribed to {name}");
        }
    }
    Ok(())
}
