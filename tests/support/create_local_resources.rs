//! `create-local-resources`: creates what the template would, on the endpoint in
//! `AWS_ENDPOINT_URL` (a local moto server): the orders table named by `TABLE_NAME`, and a KMS key
//! with the alias in `PAYMENT_KEY_ID` (`alias/...`). Each is left alone if it exists. Used by
//! `make watch` / `make invoke` until the local stack (which reads the template) replaces it.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let alias = std::env::var("PAYMENT_KEY_ID").map_err(|_| "PAYMENT_KEY_ID is not set")?;
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
    Ok(())
}
