//! `store_sample_order`: the order the sample events in `events/` name, stored on the local
//! stack's table as create-order would have stored it (its card sealed with the stack's key).
//!
//! The resources come from `template.yaml` (`orders-local resources`); this adds only the data
//! the sample events expect, with the environment create-order gets (`TABLE_NAME`,
//! `PAYMENT_KEY_ID`, `AWS_ENDPOINT_URL`). Left alone if it exists. `make invoke`, `make watch`
//! and `make sam-check` run it:
//!
//! ```sh
//! mapfile -t environment <target/local-function.env
//! env "${environment[@]}" cargo run -p orders-tests --example store_sample_order
//! ```

use orders_shared::crypto::EnvelopeCipher;
use orders_shared::{Config, EnvelopeConfig, OrderStore};

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        return Err("AWS_ENDPOINT_URL is not set: this stores an order on an emulator only".into());
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = OrderStore::new(aws_sdk_dynamodb::Client::new(&config), &Config::from_env()?);
    let cipher = EnvelopeCipher::for_cards(
        aws_sdk_kms::Client::new(&config),
        &EnvelopeConfig::from_env()?,
    );
    if orders_tests::store_sample_order(&store, &cipher).await {
        println!("stored sample order {}", orders_tests::SAMPLE_ORDER_ID);
    } else {
        println!("sample order {} exists", orders_tests::SAMPLE_ORDER_ID);
    }
    Ok(())
}
