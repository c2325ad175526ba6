//! `AWS::DynamoDB::Table`: the key schema, the global secondary indexes, the stream and TTL.
//!
//! Only the attributes that keys use are declared (DynamoDB is schemaless beyond the keys); a
//! local secondary index, which must be declared when the table is created, is refused.

use super::{Node, Problem, TemplateError};

/// An `AWS::DynamoDB::Table`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    pub logical_id: String,
    /// (attribute name, type: `S`, `N` or `B`): only the attributes that keys use.
    pub attributes: Vec<(String, String)>,
    pub hash_key: String,
    pub range_key: Option<String>,
    /// Global secondary indexes.
    pub indexes: Vec<IndexSpec>,
    /// `NEW_AND_OLD_IMAGES`, ...; `None`: the table has no stream.
    pub stream_view_type: Option<String>,
    /// The TTL attribute, if TTL is enabled.
    pub ttl_attribute: Option<String>,
    /// `PAY_PER_REQUEST` or `PROVISIONED` (CloudFormation's default).
    pub billing_mode: String,
}

/// A global secondary index of a [`TableSpec`].
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    pub name: String,
    pub hash_key: String,
    pub range_key: Option<String>,
    /// `KEYS_ONLY`, `INCLUDE` or `ALL`.
    pub projection_type: String,
    /// With `INCLUDE`: the attributes copied into the index besides the keys.
    pub non_key_attributes: Vec<String>,
}

pub(super) fn read_table(properties: &Node) -> Result<TableSpec, TemplateError> {
    let mut attributes = Vec::new();
    for attribute in properties.required("AttributeDefinitions")?.items()? {
        attributes.push((
            attribute.required("AttributeName")?.text()?,
            attribute.required("AttributeType")?.text()?,
        ));
    }
    let (hash_key, range_key) = key_schema(&properties.required("KeySchema")?)?;
    let mut indexes = Vec::new();
    if let Some(declared) = properties.field("GlobalSecondaryIndexes") {
        for index in declared.items()? {
            indexes.push(read_index(&index)?);
        }
    }
    if let Some(local_indexes) = properties.field("LocalSecondaryIndexes") {
        return Err(local_indexes.problem(Problem::Unsupported("local secondary indexes")));
    }
    let stream_view_type = match properties.field("StreamSpecification") {
        Some(stream) => stream.optional("StreamViewType", Node::text)?,
        None => None,
    };
    let ttl_attribute = match properties.field("TimeToLiveSpecification") {
        Some(ttl) if ttl.optional("Enabled", Node::flag)? == Some(true) => {
            Some(ttl.required("AttributeName")?.text()?)
        }
        _ => None,
    };
    let billing_mode = properties
        .optional("BillingMode", Node::text)?
        .unwrap_or_else(|| "PROVISIONED".into());
    Ok(TableSpec {
        logical_id: properties.resource.to_owned(),
        attributes,
        hash_key,
        range_key,
        indexes,
        stream_view_type,
        ttl_attribute,
        billing_mode,
    })
}

fn read_index(index: &Node) -> Result<IndexSpec, TemplateError> {
    let (hash_key, range_key) = key_schema(&index.required("KeySchema")?)?;
    let projection = index.required("Projection")?;
    let mut non_key_attributes = Vec::new();
    if let Some(attributes) = projection.field("NonKeyAttributes") {
        for attribute in attributes.items()? {
            non_key_attributes.push(attribute.text()?);
        }
    }
    Ok(IndexSpec {
        name: index.required("IndexName")?.text()?,
        hash_key,
        range_key,
        projection_type: projection
            .optional("ProjectionType", Node::text)?
            .unwrap_or_else(|| "KEYS_ONLY".into()),
        non_key_attributes,
    })
}

/// (HASH key, RANGE key) of a `KeySchema`.
fn key_schema(schema: &Node) -> Result<(String, Option<String>), TemplateError> {
    let mut hash_key = None;
    let mut range_key = None;
    for key in schema.items()? {
        let name = key.required("AttributeName")?.text()?;
        let key_type = key.required("KeyType")?;
        match key_type.text()?.as_str() {
            "HASH" => hash_key = Some(name),
            "RANGE" => range_key = Some(name),
            _ => return Err(key_type.problem(Problem::Expected("HASH or RANGE"))),
        }
    }
    let hash_key =
        hash_key.ok_or_else(|| schema.problem(Problem::Expected("a list with a HASH key")))?;
    Ok((hash_key, range_key))
}
