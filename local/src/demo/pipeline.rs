//! The steps of the event pipeline: the fan-out, fulfillment, a redelivered event, a poison
//! message, the trace.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use reqwest::Method;
use serde_json::json;

use super::{Demo, Outcome, expect, indent, proved};
use crate::xray::render_tree;

impl Demo<'_> {
    pub(super) async fn fan_out(&mut self) -> Outcome {
        let id = self.order_id()?.to_owned();
        // Wait until the audit trail has the confirmation: the whole pipeline has run.
        let types = self
            .wait_for(Duration::from_secs(60), || async {
                let types = self.audit_trail(&id, "eventType").await?;
                Ok(types
                    .contains(&"OrderConfirmed".to_owned())
                    .then_some(types))
            })
            .await?;
        let mut out = format!("  audit trail of {id}: {types:?}\n");
        let fulfillment = self.record_event_types("FulfillOrderFunction", &id);
        let audit = self.record_event_types("RecordAuditFunction", &id);
        let _ = writeln!(
            out,
            "  X-Ray records of fulfill-order for this order: {fulfillment:?}"
        );
        let _ = writeln!(
            out,
            "  X-Ray records of record-audit for this order:  {audit:?}"
        );
        expect(
            fulfillment.iter().all(|t| t == "OrderPlaced") && !fulfillment.is_empty(),
            || format!("fulfillment should see only OrderPlaced, saw {fulfillment:?}"),
        )?;
        for expected in ["OrderPlaced", "OrderUpdated", "OrderConfirmed"] {
            expect(types.iter().any(|t| t == expected), || {
                format!("the audit trail lacks {expected}: {types:?}")
            })?;
        }
        proved(
            out,
            "every change became one event on the topic; the fulfillment subscription's filter policy passed only OrderPlaced, the audit queue got every event",
        )
    }

    pub(super) async fn confirmed(&mut self) -> Outcome {
        let id = self.order_id()?.to_owned();
        let answer = self
            .call(
                Method::GET,
                &format!("/orders/{id}?consistent=true"),
                &[],
                None,
            )
            .await?;
        let out = format!(
            "  GET /orders/{id}?consistent=true\n  -> {} ETag {} status {} version {}\n",
            answer.status,
            answer.etag.as_deref().unwrap_or("-"),
            answer.body["status"],
            answer.body["version"]
        );
        expect(answer.body["status"] == "CONFIRMED", || {
            format!("expected CONFIRMED, got {}", answer.body["status"])
        })?;
        proved(
            out,
            "fulfill-order opened the card (the only function allowed kms:Decrypt), checked it, and moved PLACED -> CONFIRMED with a write conditional on version and status",
        )
    }

    pub(super) async fn redelivered(&mut self) -> Outcome {
        let id = self.order_id()?.to_owned();
        let queue = self
            .stack
            .deployed()
            .queue_url("FulfillmentQueue")
            .ok_or("no FulfillmentQueue")?
            .to_owned();
        // The OrderPlaced event as publish-events published it: the audit trail keeps it.
        let items = self.audit_items(&id).await?;
        let placed = items
            .into_iter()
            .find(|item| {
                item.get("eventType")
                    .and_then(|t| t.as_s().ok())
                    .map(String::as_str)
                    == Some("OrderPlaced")
            })
            .ok_or("the audit trail has no OrderPlaced")?;
        let entry: serde_json::Value = serde_dynamo::from_item(serde_dynamo::Item::from(placed))
            .map_err(|error| format!("the audit entry: {error}"))?;
        let event = json!({"eventId": entry["eventId"], "eventType": "OrderPlaced", "orderId": id,
                           "version": entry["version"], "occurredAt": entry["occurredAt"],
                           "order": entry["order"]});
        let path = format!("/orders/{id}?consistent=true");
        let before = self.call(Method::GET, &path, &[], None).await?.body;
        let records_before = self.record_event_types("FulfillOrderFunction", &id).len();
        let attempts_before = self.fulfillment_attempts(&id).await?;

        let sqs = aws_sdk_sqs::Client::new(self.stack.aws());
        for _ in 0..2 {
            sqs.send_message()
                .queue_url(&queue)
                .message_body(event.to_string())
                .send()
                .await
                .map_err(|error| format!("SendMessage: {error:?}"))?;
        }
        let mut out = format!(
            "  the order's OrderPlaced event ({}) sent to the fulfillment queue again, twice: SQS delivers at least once\n",
            entry["eventId"].as_str().unwrap_or_default()
        );
        self.wait_for(Duration::from_secs(60), || async {
            let handled = self.record_event_types("FulfillOrderFunction", &id).len();
            Ok((handled >= records_before + 2).then_some(()))
        })
        .await
        .map_err(|error| format!("fulfill-order did not handle both deliveries: {error}"))?;
        self.wait_for(Duration::from_secs(30), || async {
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(&queue)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
                .map_err(|error| format!("GetQueueAttributes: {error:?}"))?
                .attributes
                .unwrap_or_default();
            let is_zero =
                |name: QueueAttributeName| attributes.get(&name).map_or("0", String::as_str) == "0";
            Ok((is_zero(QueueAttributeName::ApproximateNumberOfMessages)
                && is_zero(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
            .then_some(()))
        })
        .await
        .map_err(|error| format!("the deliveries were not deleted from the queue: {error}"))?;
        let after = self.call(Method::GET, &path, &[], None).await?.body;
        let attempts_after = self.fulfillment_attempts(&id).await?;
        let _ = writeln!(
            out,
            "  -> fulfill-order handled both (2 more record subsegments), the queue is empty\n  GET {path}: before status {} version {}, after status {} version {}\n  the attempt counter (UpdateItem ADD attempts :one): {attempts_before} before, {attempts_after} after",
            before["status"], before["version"], after["status"], after["version"]
        );
        expect(
            after["status"] == "CONFIRMED" && after["version"] == before["version"],
            || format!("a redelivery should change nothing: before {before}, after {after}"),
        )?;
        expect(attempts_after == attempts_before + 2, || {
            format!(
                "each delivery should count: {attempts_before} attempts before, {attempts_after} after"
            )
        })?;
        proved(
            out,
            "a consumer of an at-least-once queue must be idempotent: the order was no longer PLACED, so fulfill-order opened no card and left the order as it was (its transition is conditional on version and status), and each delivery succeeded and was deleted; the atomic counter (ADD) is not idempotent: it counted both deliveries, as an attempt counter should",
        )
    }

    /// The order's fulfillment attempt counter (`shared/src/store/counter.rs`), read raw: 0 if
    /// fulfill-order never counted one.
    async fn fulfillment_attempts(&self, id: &str) -> Result<u64, String> {
        let table = self.orders_table()?;
        let id = orders_shared::domain::OrderId::parse(id).ok_or("the order id is no UUID")?;
        let item = aws_sdk_dynamodb::Client::new(self.stack.aws())
            .get_item()
            .table_name(table)
            .set_key(Some(orders_shared::store::counter::attempts_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| format!("GetItem: {error:?}"))?
            .item
            .unwrap_or_default();
        Ok(item
            .get(orders_shared::store::counter::ATTEMPTS)
            .and_then(|count| count.as_n().ok())
            .and_then(|count| count.parse().ok())
            .unwrap_or(0))
    }

    pub(super) async fn poison(&mut self) -> Outcome {
        let id = self.order_id()?.to_owned();
        let deployed = self.stack.deployed();
        let queue = deployed
            .queue_url("AuditQueue")
            .ok_or("no AuditQueue")?
            .to_owned();
        let dlq = deployed
            .queue_url("AuditDeadLetterQueue")
            .ok_or("no AuditDeadLetterQueue")?
            .to_owned();
        let order = self
            .call(
                Method::GET,
                &format!("/orders/{id}?consistent=true"),
                &[],
                None,
            )
            .await?
            .body;
        let good = |n: u32| {
            json!({"eventId": format!("demo-batch-mate-{n}"), "eventType": "OrderUpdated", "orderId": id,
                   "version": order["version"], "occurredAt": order["updatedAt"], "order": order})
            .to_string()
        };
        let sqs = aws_sdk_sqs::Client::new(self.stack.aws());
        let mut sent = Vec::new();
        for (n, body) in [
            (1, good(1)),
            (0, "{\"not\": \"an event\"}".to_owned()),
            (2, good(2)),
        ] {
            let id = sqs
                .send_message()
                .queue_url(&queue)
                .message_body(body)
                .send()
                .await
                .map_err(|error| format!("SendMessage: {error:?}"))?
                .message_id
                .unwrap_or_default();
            sent.push((n, id));
        }
        let poison = sent
            .iter()
            .find(|(n, _)| *n == 0)
            .map(|(_, id)| id.clone())
            .unwrap_or_default();
        let mut out =
            format!("  3 messages to the audit queue: 2 events and 1 poison message ({poison})\n");
        let mates = self
            .wait_for(Duration::from_secs(30), || async {
                let event_ids = self.audit_trail(&id, "eventId").await?;
                let mates: Vec<String> = event_ids
                    .into_iter()
                    .filter(|e| e.starts_with("demo-batch-mate"))
                    .collect();
                Ok((mates.len() == 2).then_some(mates))
            })
            .await?;
        let _ = writeln!(out, "  -> the batch-mates were recorded: {mates:?}");
        let dead = self
            .wait_for(Duration::from_secs(60), || async {
                let messages = sqs
                    .receive_message()
                    .queue_url(&dlq)
                    .max_number_of_messages(10)
                    .send()
                    .await
                    .map_err(|error| format!("ReceiveMessage: {error:?}"))?
                    .messages
                    .unwrap_or_default();
                Ok(messages
                    .iter()
                    .find(|m| m.message_id() == Some(poison.as_str()))
                    .map(|m| m.message_id().unwrap_or_default().to_owned()))
            })
            .await?;
        let _ = writeln!(
            out,
            "  -> after 5 receives the poison message is in the DLQ: {dead}"
        );
        proved(
            out,
            "record-audit reported only the poison message in batchItemFailures; its batch-mates were deleted, the poison came back until maxReceiveCount and SQS moved it, same id, to the dead-letter queue (the demo shortens the 60 s visibility timeout to seconds)",
        )
    }

    pub(super) async fn trace(&mut self) -> Outcome {
        let (_, trace_id) = self.order.clone().ok_or("step `create` made no order")?;
        let documents = self.stack.xray().documents(&trace_id);
        expect(!documents.is_empty(), || {
            format!("no X-Ray documents for trace {trace_id}")
        })?;
        let names: Vec<&str> = documents
            .iter()
            .filter_map(|d| d["name"].as_str())
            .collect();
        for expected in ["KMS", "DynamoDB"] {
            expect(names.contains(&expected), || {
                format!("the trace lacks a {expected} subsegment: {names:?}")
            })?;
        }
        let tree = render_tree(&documents);
        proved(
            indent(&tree) + "\n",
            "API Gateway started the trace; Lambda's segment, the invocation's subsegment (annotated with the orderId) and one subsegment per AWS call nest under it",
        )
    }

    /// One string attribute (`eventType`, `eventId`) of each entry of the order's audit trail,
    /// in version order.
    async fn audit_trail(&self, id: &str, attribute: &str) -> Result<Vec<String>, String> {
        Ok(self
            .audit_items(id)
            .await?
            .iter()
            .filter_map(|item| item.get(attribute)?.as_s().ok().cloned())
            .collect())
    }

    async fn audit_items(&self, id: &str) -> Result<Vec<HashMap<String, AttributeValue>>, String> {
        let table = self.orders_table()?;
        let mut items = aws_sdk_dynamodb::Client::new(self.stack.aws())
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :event)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("ORDER#{id}")))
            .expression_attribute_values(":event", AttributeValue::S("EVENT#".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| format!("Query: {error:?}"))?
            .items
            .unwrap_or_default();
        let version = |item: &HashMap<String, AttributeValue>| {
            item.get("version")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        items.sort_by_key(version);
        Ok(items)
    }

    /// The `eventType` annotations of the record subsegments of `function` (a logical id) for
    /// the order.
    fn record_event_types(&self, function: &str, id: &str) -> Vec<String> {
        let Some(function) = self.stack.deployed().function_name(function) else {
            return Vec::new();
        };
        let xray = self.stack.xray();
        let mut types = Vec::new();
        for trace_id in xray.trace_ids() {
            let documents = xray.documents(&trace_id);
            let invocations: Vec<&str> = documents
                .iter()
                .filter(|d| d["name"] == function)
                .filter_map(|d| d["id"].as_str())
                .collect();
            for record in documents.iter().filter(|d| d["name"] == "record") {
                let annotations = &record["annotations"];
                if annotations["orderId"] == id
                    && record["parent_id"]
                        .as_str()
                        .is_some_and(|parent| invocations.contains(&parent))
                    && let Some(event_type) = annotations["eventType"].as_str()
                {
                    types.push(event_type.to_owned());
                }
            }
        }
        types
    }
}
