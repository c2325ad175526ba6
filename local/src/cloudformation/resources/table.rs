//! The template's DynamoDB tables on moto: keys, global secondary indexes and stream at
//! creation, then TTL (a separate call, as on DynamoDB). Always on-demand locally.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription,
    TimeToLiveSpecification, TimeToLiveStatus,
};

use super::{Deletion, DeployError, Deployed, Physical, failed, incomplete};
use crate::cloudformation::template::TableSpec;

/// The stack's table: found, or created with the template's keys, indexes and stream.
/// An existing table is taken as it is (CloudFormation would update it). TTL is a separate
/// call, made once the table exists.
pub(super) async fn deploy_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &TableSpec,
    deployed: &mut Deployed,
) -> Result<Physical, DeployError> {
    let logical_id = table.logical_id.as_str();
    let name = &deployed.physical_name(logical_id);
    let description = match dynamodb.describe_table().table_name(name).send().await {
        Ok(found) => found.table,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            let created = create_table(dynamodb, table, name).await?;
            let deletion = Deletion::Table { name: name.clone() };
            deployed.created_now(logical_id, deletion);
            created
        }
        Err(error) => return Err(failed(logical_id, "DescribeTable")(error)),
    };
    let description = description.ok_or(incomplete(logical_id, "DescribeTable", "Table"))?;
    if let Some(attribute) = &table.ttl_attribute {
        enable_ttl(dynamodb, logical_id, name, attribute).await?;
    }
    Ok(Physical::Table {
        name: name.to_owned(),
        arn: description
            .table_arn
            .ok_or(incomplete(logical_id, "DescribeTable", "TableArn"))?,
        stream_arn: description.latest_stream_arn,
    })
}

async fn create_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &TableSpec,
    name: &str,
) -> Result<Option<TableDescription>, DeployError> {
    // A request that cannot be built fails like the call itself.
    let invalid = failed(&table.logical_id, "CreateTable");
    let mut request = dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(
            key_schema(&table.hash_key, table.range_key.as_deref()).map_err(&invalid)?,
        ));
    for (attribute, attribute_type) in &table.attributes {
        let definition = AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::from(attribute_type.as_str()))
            .build()
            .map_err(&invalid)?;
        request = request.attribute_definitions(definition);
    }
    for index in &table.indexes {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(index.projection_type.as_str()))
            .set_non_key_attributes(
                (!index.non_key_attributes.is_empty()).then(|| index.non_key_attributes.clone()),
            )
            .build();
        let index = GlobalSecondaryIndex::builder()
            .index_name(&index.name)
            .set_key_schema(Some(
                key_schema(&index.hash_key, index.range_key.as_deref()).map_err(&invalid)?,
            ))
            .projection(projection)
            .build()
            .map_err(&invalid)?;
        request = request.global_secondary_indexes(index);
    }
    if let Some(view_type) = &table.stream_view_type {
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(view_type.as_str()))
            .build()
            .map_err(&invalid)?;
        request = request.stream_specification(stream);
    }
    let created = request
        .send()
        .await
        .map_err(failed(&table.logical_id, "CreateTable"))?;
    Ok(created.table_description)
}

fn key_schema(
    hash_key: &str,
    range_key: Option<&str>,
) -> Result<Vec<KeySchemaElement>, aws_sdk_dynamodb::error::BuildError> {
    let mut schema = vec![
        KeySchemaElement::builder()
            .attribute_name(hash_key)
            .key_type(KeyType::Hash)
            .build()?,
    ];
    if let Some(range_key) = range_key {
        schema.push(
            KeySchemaElement::builder()
                .attribute_name(range_key)
                .key_type(KeyType::Range)
                .build()?,
        );
    }
    Ok(schema)
}

/// Turns TTL on, unless it is on already (DynamoDB refuses to enable it twice).
async fn enable_ttl(
    dynamodb: &aws_sdk_dynamodb::Client,
    logical_id: &str,
    table_name: &str,
    attribute: &str,
) -> Result<(), DeployError> {
    let current = dynamodb
        .describe_time_to_live()
        .table_name(table_name)
        .send()
        .await
        .map_err(failed(logical_id, "DescribeTimeToLive"))?
        .time_to_live_description;
    let enabled = current.is_some_and(|ttl| {
        ttl.time_to_live_status() == Some(&TimeToLiveStatus::Enabled)
            && ttl.attribute_name() == Some(attribute)
    });
    if enabled {
        return Ok(());
    }
    let specification = TimeToLiveSpecification::builder()
        .attribute_name(attribute)
        .enabled(true)
        .build()
        .map_err(failed(logical_id, "UpdateTimeToLive"))?;
    dynamodb
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(specification)
        .send()
        .await
        .map_err(failed(logical_id, "UpdateTimeToLive"))?;
    Ok(())
}
