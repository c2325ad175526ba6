//! The steps of the table itself: TTL's expired-but-visible items (§17 scenario 7), what a read
//! costs in capacity units (scenario 5), a customer's orders page by page (scenario 6).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use orders_shared::store::CUSTOMER_INDEX;
use orders_shared::store::capacity::{
    KB, Provisioned, Read, Write, query_read_units, read_units, read_units_per_second, write_units,
};
use reqwest::{Method, StatusCode};

use super::{Credentials, Demo, Outcome, expect, new_order, proved, refused_with};
use crate::sign_in::LOCAL_PASSWORD;

/// Orders `list_pages` places, and the page size it lists them with: three pages, the last short.
const LISTED_ORDERS: usize = 7;
const PAGE_SIZE: usize = 3;

impl Demo<'_> {
    pub(super) async fn expired_but_visible(&mut self) -> Outcome {
        let key = format!("demo-ttl-{}", uuid::Uuid::now_v7());
        let headers = [("idempotency-key", key.as_str())];
        let body = new_order("placed, then its idempotency record expires");
        let (first, first_id) = self.place_order(&headers, &body).await?;
        let customer = first.body["customerId"].as_str().unwrap_or_default();
        let mut out =
            format!("  POST /orders Idempotency-Key: {key}\n  -> 201 orderId {first_id}\n");

        let table = self.orders_table()?;
        let dynamodb = aws_sdk_dynamodb::Client::new(self.stack.aws());
        let ttl = dynamodb
            .describe_time_to_live()
            .table_name(&table)
            .send()
            .await
            .map_err(|error| format!("DescribeTimeToLive: {error:?}"))?;
        let ttl = ttl
            .time_to_live_description
            .ok_or("DescribeTimeToLive said nothing")?;
        let attribute = ttl.attribute_name.unwrap_or_default();
        let status = ttl
            .time_to_live_status
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        let _ = writeln!(out, "  the table's TTL: attribute {attribute}, {status}");
        expect(attribute == "expiresAt", || {
            format!("the TTL attribute should be expiresAt, is {attribute:?}")
        })?;

        // A minute ago, as if the record's day had passed and TTL had not deleted it yet.
        let record = record_key(format!("IDEMPOTENCY#{customer}#{key}"), "IDEMPOTENCY");
        let past = epoch_seconds() - 60;
        dynamodb
            .update_item()
            .table_name(&table)
            .set_key(Some(record.clone()))
            .update_expression("SET expiresAt = :past")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":past", AttributeValue::N(past.to_string()))
            .send()
            .await
            .map_err(|error| format!("UpdateItem of the idempotency record: {error:?}"))?;
        let _ = writeln!(
            out,
            "  aws dynamodb update-item ... --key pk=IDEMPOTENCY#{customer}#{key} SET expiresAt = {past} (a minute ago)"
        );
        let (expires_at, order_id) = self.raw_record(&dynamodb, &table, &record).await?;
        let _ = writeln!(
            out,
            "  aws dynamodb get-item --consistent-read ... -> still there: expiresAt {expires_at}, orderId {order_id}"
        );
        expect(expires_at == past && order_id == first_id, || {
            format!(
                "a raw read should still return the expired record, got {expires_at} {order_id}"
            )
        })?;

        let retry = self
            .call(Method::POST, "/orders", &headers, Some(&body))
            .await?;
        let retry_id = retry.body["orderId"].as_str().unwrap_or_default();
        let _ = writeln!(
            out,
            "  POST /orders, the same key and body\n  -> {} orderId {retry_id} Idempotent-Replayed: {}",
            retry.status, retry.replayed
        );
        expect(
            retry.status == StatusCode::CREATED && !retry.replayed && retry_id != first_id,
            || "past its expiresAt the record should count as gone: a new order".to_owned(),
        )?;
        let (renewed, order_id) = self.raw_record(&dynamodb, &table, &record).await?;
        expect(order_id == retry_id && renewed > epoch_seconds(), || {
            format!("the new order's record should replace the expired one: {renewed} {order_id}")
        })?;
        proved(
            out,
            "TTL deletes an expired item in the background, typically within a few days (moto never does); until then GetItem, Query and Scan return it, so the app checks expiresAt itself (the transaction's condition `attribute_not_exists(pk) OR expiresAt < :now`)",
        )
    }

    pub(super) async fn capacity(&mut self) -> Outcome {
        // Exam: capacity unit maths, the notes' worked examples (shared/src/store/capacity.rs).
        let five = Provisioned {
            read_units: 5,
            write_units: 5,
        };
        let mut twenty_kb = vec![KB; 19];
        twenty_kb.push(KB + KB / 10);
        let examples: [(&str, String, String); 5] = [
            (
                "5 RCU, 5 WCU provisioned",
                format!(
                    "{} KB/s reads (eventual), {} KB/s writes",
                    five.read_kb_per_second(Read::Eventual),
                    five.write_kb_per_second(Write::Standard)
                ),
                "40 KB/s reads (eventual), 5 KB/s writes".to_owned(),
            ),
            (
                "80 reads/s of 3 KB items",
                format!(
                    "{} RCU strong, {} eventual",
                    read_units_per_second(80, 3 * KB, Read::Strong),
                    read_units_per_second(80, 3 * KB, Read::Eventual)
                ),
                "80 RCU strong, 40 eventual".to_owned(),
            ),
            (
                "one 8 KB item read",
                format!(
                    "{} RCU strong, {} eventual, {} transactional",
                    read_units(8 * KB, Read::Strong),
                    read_units(8 * KB, Read::Eventual),
                    read_units(8 * KB, Read::Transactional)
                ),
                "2 RCU strong, 1 eventual, 4 transactional".to_owned(),
            ),
            (
                "one 2 KB write",
                format!(
                    "{} WCU, {} transactional",
                    write_units(2 * KB, Write::Standard),
                    write_units(2 * KB, Write::Transactional)
                ),
                "2 WCU, 4 transactional".to_owned(),
            ),
            (
                "a Query reading 20 items, 20.1 KB",
                format!(
                    "{} RCU strong, {} eventual (not the notes' 21)",
                    query_read_units(&twenty_kb, Read::Strong),
                    query_read_units(&twenty_kb, Read::Eventual)
                ),
                "6 RCU strong, 3 eventual (not the notes' 21)".to_owned(),
            ),
        ];
        let mut out = "  worked example                        units (capacity.rs)\n".to_owned();
        for (example, computed, expected) in &examples {
            let _ = writeln!(out, "  {example:<37} {computed}");
            expect(computed == expected, || {
                format!("{example}: computed {computed}, the notes say {expected}")
            })?;
        }

        // What DynamoDB reports for a read of the order of step `create`.
        let id = self.order_id()?.to_owned();
        let table = self.orders_table()?;
        let dynamodb = aws_sdk_dynamodb::Client::new(self.stack.aws());
        let mut reported = Vec::new();
        let mut size = 0;
        for consistent in [true, false] {
            let output = dynamodb
                .get_item()
                .table_name(&table)
                .set_key(Some(record_key(format!("ORDER#{id}"), "ORDER")))
                .consistent_read(consistent)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|error| format!("GetItem: {error:?}"))?;
            size = output.item.as_ref().map_or(0, item_bytes);
            let consumed = output.consumed_capacity.ok_or_else(|| {
                "GetItem with ReturnConsumedCapacity=TOTAL reported no consumed capacity".to_owned()
            })?;
            expect(consumed.table_name() == Some(table.as_str()), || {
                format!("consumed capacity of another table: {consumed:?}")
            })?;
            reported.push(consumed.capacity_units().unwrap_or_default());
        }
        let (strong, eventual) = (
            read_units(size, Read::Strong),
            read_units(size, Read::Eventual),
        );
        let _ = writeln!(
            out,
            "  GetItem ORDER#{id} (about {size} bytes), ReturnConsumedCapacity=TOTAL:\n    ConsistentRead=true  -> {} (DynamoDB: {strong})\n    ConsistentRead=false -> {} (DynamoDB: {eventual})",
            reported[0], reported[1]
        );
        expect(reported.iter().all(|units| *units > 0.0), || {
            format!("a read consumes capacity, reported {reported:?}")
        })?;
        // moto reports capacity without computing it (tests/capacity.rs): say so, not pretend.
        let note = if reported == [strong, eventual] {
            ""
        } else {
            "; moto reports a fixed figure for every GetItem, whatever its size or consistency (it does not compute capacity), so the figures in brackets are what DynamoDB charges"
        };
        proved(
            out,
            &format!(
                "a read unit covers 4 KB strongly consistent, half a unit eventually consistent; a write unit 1 KB; sizes round up (per item for GetItem, once per page for a Query); transactions cost double{note}"
            ),
        )
    }

    pub(super) async fn list_pages(&mut self) -> Outcome {
        // A customer of her own, whose orders are only the ones this step places.
        let lin = self
            .stack
            .sign_in("lin@example.com", LOCAL_PASSWORD, None)
            .await
            .map_err(|error| error.to_string())?;
        let lin = Credentials {
            token: Some(lin.id_token),
            api_key: self.customer.api_key.clone(),
        };
        let mut placed = Vec::new();
        for n in 1..=LISTED_ORDERS {
            let answer = self
                .call_as(
                    &lin,
                    Method::POST,
                    "/orders",
                    &[],
                    Some(&new_order(&format!("Lin's order {n}"))),
                )
                .await?;
            expect(answer.status == StatusCode::CREATED, || {
                format!(
                    "order {n}: expected 201, got {} {}",
                    answer.status, answer.body
                )
            })?;
            placed.push(
                answer.body["orderId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        let mut out =
            format!("  Lin places {LISTED_ORDERS} orders, then lists them {PAGE_SIZE} at a time\n");
        let mut listed: Vec<(String, String)> = Vec::new();
        let mut token: Option<String> = None;
        for page in 1..=LISTED_ORDERS + 1 {
            let mut path = format!("/orders?limit={PAGE_SIZE}");
            if let Some(token) = &token {
                path.push_str(&format!("&nextToken={}", url_encoded(token)));
            }
            let answer = self.call_as(&lin, Method::GET, &path, &[], None).await?;
            expect(answer.status == StatusCode::OK, || {
                format!("GET {path}: {} {}", answer.status, answer.body)
            })?;
            let items = answer.body["items"].as_array().cloned().unwrap_or_default();
            for item in &items {
                listed.push((
                    item["orderId"].as_str().unwrap_or_default().to_owned(),
                    item["createdAt"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            token = answer.body["nextToken"].as_str().map(str::to_owned);
            let _ = writeln!(
                out,
                "  GET /orders?limit={PAGE_SIZE}{} -> page {page}: items {}, nextToken {}",
                if page > 1 { "&nextToken=..." } else { "" },
                items.len(),
                token.as_deref().map_or("null".to_owned(), |t| format!(
                    "{}...",
                    &t[..t.len().min(16)]
                ))
            );
            if token.is_none() {
                break;
            }
        }
        expect(token.is_none(), || {
            "the pages did not end (nextToken never null)".to_owned()
        })?;
        let ids: Vec<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
        let distinct: BTreeSet<&str> = ids.iter().copied().collect();
        expect(distinct.len() == ids.len(), || {
            format!("an order was listed twice: {ids:?}")
        })?;
        let newest_first: Vec<&str> = placed.iter().rev().map(String::as_str).collect();
        expect(ids == newest_first, || {
            format!("expected the placed orders newest first {newest_first:?}, listed {ids:?}")
        })?;
        expect(listed.windows(2).all(|w| w[0].1 >= w[1].1), || {
            "createdAt should not increase from one order to the next".to_owned()
        })?;

        // Exam: a global secondary index is eventually consistent only.
        let customer = self.customer_of(&lin).await?;
        let refused = aws_sdk_dynamodb::Client::new(self.stack.aws())
            .query()
            .table_name(self.orders_table()?)
            .index_name(CUSTOMER_INDEX)
            .key_condition_expression("customerId = :customer")
            .expression_attribute_values(":customer", AttributeValue::S(customer))
            .consistent_read(true)
            .send()
            .await;
        let refusal = refused_with(&refused, "no error");
        let _ = writeln!(
            out,
            "  aws dynamodb query --index-name {CUSTOMER_INDEX} --consistent-read ... -> {refusal}"
        );
        expect(refusal == "ValidationException", || {
            format!("a strongly consistent read of a GSI should be refused: {refused:?}")
        })?;
        proved(
            out,
            "list-orders queries the byCustomer GSI with ScanIndexForward=false and Limit; DynamoDB's LastEvaluatedKey becomes the opaque nextToken, and the pages hold every order once, newest first; a GSI can only be read eventually consistent (ConsistentRead=true is refused)",
        )
    }

    /// The customer id (the token's `sub`) of `who`, as the API reports it.
    async fn customer_of(&self, who: &Credentials) -> Result<String, String> {
        let page = self
            .call_as(who, Method::GET, "/orders?limit=1", &[], None)
            .await?;
        page.body["items"][0]["customerId"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no customerId in {}", page.body))
    }

    /// `expiresAt` and the order id of an idempotency record, read raw and strongly consistent.
    async fn raw_record(
        &self,
        dynamodb: &aws_sdk_dynamodb::Client,
        table: &str,
        key: &HashMap<String, AttributeValue>,
    ) -> Result<(u64, String), String> {
        let item = dynamodb
            .get_item()
            .table_name(table)
            .set_key(Some(key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| format!("GetItem of the idempotency record: {error:?}"))?
            .item
            .ok_or("the idempotency record is not there")?;
        let expires_at = item
            .get("expiresAt")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or("the record has no expiresAt")?;
        let order_id = item
            .get("order")
            .and_then(|order| order.as_m().ok())
            .and_then(|order| order.get("orderId")?.as_s().ok().cloned())
            .ok_or("the record has no order")?;
        Ok((expires_at, order_id))
    }
}

fn record_key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    [
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ]
    .into()
}

fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// About the size DynamoDB counts for an item: each attribute's name and value in bytes (a number
/// counted as its digits, a map or list as its members plus 3 bytes).
fn item_bytes(item: &HashMap<String, AttributeValue>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_bytes(value))
        .sum()
}

fn value_bytes(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => s.len() as u64,
        AttributeValue::B(b) => b.as_ref().len() as u64,
        AttributeValue::M(map) => 3 + item_bytes(map),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_bytes(v)).sum::<u64>(),
        AttributeValue::Ss(set) | AttributeValue::Ns(set) => {
            set.iter().map(|s| s.len() as u64).sum()
        }
        _ => 1,
    }
}

/// `token` as a query string value (base64 may hold `+`, `/` and `=`).
fn url_encoded(token: &str) -> String {
    token
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
