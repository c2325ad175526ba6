//! `create-local-table`: creates the orders table on the endpoint in `AWS_ENDPOINT_URL` (a local
//! moto server), named by `TABLE_NAME`, unless it exists. Used by `make watch` / `make invoke`
//! until the local stack (which reads the template) replaces it.

use aws_sdk_dynamodb::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        return Err(
            "AWS_ENDPOINT_URL is not set: this creates tables on a local emulator only".into(),
        );
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    let existing = client
        .list_tables()
        .send()
        .await?
        .table_names
        .unwrap_or_default();
    if existing.contains(&table) {
        println!("table {table} exists");
    } else {
        orders_tests::create_orders_table(&client, &table).await;
        println!("created table {table}");
    }
    Ok(())
}
