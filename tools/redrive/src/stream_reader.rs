//! Stream records read back from the stream, in the shape Lambda delivers them.
//!
//! A DynamoDB stream keeps each record for 24 hours, in shards, in order. A range of a shard is
//! read with `GetShardIterator` (`AT_SEQUENCE_NUMBER` the first record wanted) and `GetRecords`
//! pages that follow `NextShardIterator`. After 24 hours the records are trimmed: the iterator
//! request fails (`TrimmedDataAccessException`), and what they held is gone from the stream (the
//! table still holds each order's latest state).
//!
//! Each record is turned into the JSON Lambda's event source mapping delivers, so that the same
//! code as `publish-events` (`orders_shared::messaging::stream::event_of`) reads it.

use std::cmp::Ordering;
use std::collections::HashMap;

use aws_lambda_events::dynamodb::EventRecord;
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{Value, json};

/// Where a range of stream records is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRange {
    pub stream_arn: String,
    pub shard_id: String,
    pub first_sequence_number: String,
    pub last_sequence_number: String,
    /// How many records Lambda had in the batch: the most the range holds that `publish-events`
    /// saw (the range may also hold records the event filter dropped before the function).
    pub batch_size: usize,
}

/// Why the records could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Past the stream's 24 hours, or the stream is gone (the table's stream was replaced).
    #[error("the records are no longer in the stream (records expire after 24 hours): {0}")]
    Expired(String),
    #[error("{operation}: {cause}")]
    Failed {
        operation: &'static str,
        cause: String,
    },
}

/// At most this many `GetRecords` pages for one range: an open shard answers empty pages at its
/// end, and a range is never more than a batch (at most 10,000 records, 1,000 a page).
const MAX_PAGES: usize = 100;

/// The records of `range`, in order, as Lambda would deliver them.
pub async fn read_range(
    streams: &Client,
    range: &ShardRange,
) -> Result<Vec<EventRecord>, ReadError> {
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&range.stream_arn)
        .shard_id(&range.shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(&range.first_sequence_number)
        .send()
        .await
        .map_err(|error| match error.code() {
            Some("TrimmedDataAccessException" | "ResourceNotFoundException") => {
                ReadError::Expired(DisplayErrorContext(&error).to_string())
            }
            _ => ReadError::Failed {
                operation: "GetShardIterator",
                cause: DisplayErrorContext(&error).to_string(),
            },
        })?
        .shard_iterator;

    let mut records = Vec::new();
    let mut iterator = iterator;
    for _ in 0..MAX_PAGES {
        let Some(current) = iterator else { break };
        let page = streams
            .get_records()
            .shard_iterator(current)
            .send()
            .await
            .map_err(|error| ReadError::Failed {
                operation: "GetRecords",
                cause: DisplayErrorContext(&error).to_string(),
            })?;
        for record in page.records.unwrap_or_default() {
            let sequence_number = record
                .dynamodb
                .as_ref()
                .and_then(|change| change.sequence_number.clone())
                .unwrap_or_default();
            if compare_sequence_numbers(&sequence_number, &range.last_sequence_number)
                == Ordering::Greater
            {
                return Ok(records);
            }
            records.push(lambda_record(&range.stream_arn, record)?);
            if compare_sequence_numbers(&sequence_number, &range.last_sequence_number)
                == Ordering::Equal
            {
                return Ok(records);
            }
        }
        iterator = page.next_shard_iterator;
    }
    Ok(records)
}

/// Sequence numbers are decimal strings too long for a `u64` (21 digits and more): the longer is
/// the larger, and of two as long, the one that sorts later.
pub fn compare_sequence_numbers(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A record of `GetRecords` as an `EventRecord` of Lambda's stream event.
fn lambda_record(stream_arn: &str, record: Record) -> Result<EventRecord, ReadError> {
    let change = record
        .dynamodb
        .unwrap_or_else(|| aws_sdk_dynamodbstreams::types::StreamRecord::builder().build());
    // DynamoDB JSON (`{"S": "..."}`), as Lambda writes images.
    let item = |attributes: Option<HashMap<String, _>>| -> Value {
        let item = serde_dynamo::Item::from(attributes.unwrap_or_default());
        serde_json::to_value(item).unwrap_or(Value::Null)
    };
    let lambda_json = json!({
        "eventID": record.event_id,
        "eventName": record.event_name.as_ref().map(|name| name.as_str()),
        "eventVersion": record.event_version,
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region,
        "eventSourceARN": stream_arn,
        "dynamodb": {
            "ApproximateCreationDateTime": change.approximate_creation_date_time.map(|at| at.secs()),
            "Keys": item(change.keys),
            "NewImage": item(change.new_image),
            "OldImage": item(change.old_image),
            "SequenceNumber": change.sequence_number,
            "SizeBytes": change.size_bytes,
            "StreamViewType": change.stream_view_type.as_ref().map(|view| view.as_str()),
        }
    });
    serde_json::from_value(lambda_json).map_err(|error| ReadError::Failed {
        operation: "GetRecords (the record as Lambda delivers it)",
        cause: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers_not_as_text() {
        assert_eq!(
            compare_sequence_numbers("900000000000000000001", "1000000000000000000001"),
            Ordering::Less
        );
        assert_eq!(compare_sequence_numbers("20", "3"), Ordering::Greater);
        assert_eq!(compare_sequence_numbers("0042", "42"), Ordering::Equal);
    }
}
