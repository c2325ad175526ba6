//! The demo: the exam scenarios, narrated, against a running local stack (`make demo`).
//!
//! Each step names the exam concept, shows the requests and the answers, checks them, and says what
//! they prove. [`run`] stops at the first step that does not behave as stated and names it.

use std::fmt::Write as _;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::stack::Stack;
use crate::xray::render_tree;

/// The card of the demo's orders (a test Visa number that passes the Luhn check).
const CARD: &str = "4111 1111 1111 1111";

/// A step that did not behave as stated.
#[derive(Debug, thiserror::Error)]
#[error("step {step} ({title}) failed: {reason}")]
pub struct StepFailed {
    pub step: usize,
    pub title: &'static str,
    pub reason: String,
}

/// What a step reports: the lines to print, or why it failed.
type Outcome = Result<String, String>;

/// Runs every step against `stack`, printing as it goes.
pub async fn run(stack: &Stack) -> Result<(), StepFailed> {
    let mut demo = Demo {
        stack,
        http: Client::new(),
        order: None,
    };
    let steps: [(&'static str, &'static str); 8] = [
        (
            "Create an order",
            "API Gateway REST proxy -> Lambda -> DynamoDB conditional put",
        ),
        (
            "Two clients, one version",
            "optimistic locking: ConditionExpression version = :expected",
        ),
        (
            "Retry with an Idempotency-Key",
            "idempotency: TransactWriteItems with a condition",
        ),
        (
            "What the table holds",
            "KMS envelope encryption: GenerateDataKey + AES-256-GCM",
        ),
        (
            "The event fans out",
            "DynamoDB stream -> SNS -> SQS, subscription filter policy",
        ),
        (
            "The order is confirmed",
            "an idempotent SQS consumer with a conditional update",
        ),
        (
            "A poison message",
            "partial batch responses, redrive to a dead-letter queue",
        ),
        (
            "The trace of one request",
            "X-Ray: segments, subsegments, annotations",
        ),
    ];
    for (index, (title, concept)) in steps.iter().enumerate() {
        let step = index + 1;
        println!("\n── {step}/{} · {title} ── exam: {concept}", steps.len());
        let outcome = match step {
            1 => demo.create().await,
            2 => demo.conflict().await,
            3 => demo.idempotent_retry().await,
            4 => demo.envelope().await,
            5 => demo.fan_out().await,
            6 => demo.confirmed().await,
            7 => demo.poison().await,
            _ => demo.trace().await,
        };
        match outcome {
            Ok(report) => print!("{report}"),
            Err(reason) => {
                return Err(StepFailed {
                    step,
                    title,
                    reason,
                });
            }
        }
    }
    println!("\nEvery step behaved as stated.");
    Ok(())
}

struct Demo<'a> {
    stack: &'a Stack,
    http: Client,
    /// The order of step 1: its id and the trace id of its creation.
    order: Option<(String, String)>,
}

/// An HTTP answer: status, the headers that matter here, and the JSON body.
struct Answer {
    status: StatusCode,
    etag: Option<String>,
    trace: Option<String>,
    /// `Access-Control-Allow-Origin`: the function's own CORS header.
    allow_origin: Option<String>,
    replayed: bool,
    body: Value,
}

impl Demo<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.api_url())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut request = self.http.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| format!("the API did not answer: {error}"))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (status, etag, trace) = (response.status(), header("etag"), header("x-amzn-trace-id"));
        let replayed = header("idempotent-replayed").as_deref() == Some("true");
        let allow_origin = header("access-control-allow-origin");
        let body = response.json().await.unwrap_or(Value::Null);
        Ok(Answer {
            status,
            etag,
            trace,
            allow_origin,
            replayed,
            body,
        })
    }

    fn order_id(&self) -> Result<&str, String> {
        self.order
            .as_ref()
            .map(|(id, _)| id.as_str())
            .ok_or_else(|| "no order was created in step 1".to_owned())
    }

    async fn create(&mut self) -> Outcome {
        let body = new_order("c-demo");
        let mut out = format!("  POST /orders {body}\n");
        let answer = self.call(Method::POST, "/orders", &[], Some(&body)).await?;
        expect(answer.status == StatusCode::CREATED, || {
            format!("expected 201, got {} {}", answer.status, answer.body)
        })?;
        let id = answer.body["orderId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let trace = answer
            .trace
            .as_deref()
            .and_then(|t| t.split(';').find_map(|p| p.strip_prefix("Root=")))
            .unwrap_or_default()
            .to_owned();
        let _ = writeln!(
            out,
            "  -> {} ETag {} {}",
            answer.status,
            answer.etag.as_deref().unwrap_or("-"),
            answer.body
        );
        expect(
            answer.body["payment"] == json!({"cardLast4": "1111", "brand": "visa"}),
            || {
                format!(
                    "the card should show only as last 4 + brand: {}",
                    answer.body["payment"]
                )
            },
        )?;
        expect(answer.allow_origin.is_some(), || {
            "the answer lacks Access-Control-Allow-Origin (the template's AllowedOrigin)".to_owned()
        })?;
        let _ = writeln!(
            out,
            "  proves: the order was stored at version 1 (ETag \"1\"), the total computed by the server, the card shown only as its last four digits"
        );
        self.order = Some((id, trace));
        Ok(out)
    }

    async fn conflict(&mut self) -> Outcome {
        let id = self.order_id()?.to_owned();
        let path = format!("/orders/{id}");
        let (a, b) = (
            json!({"note": "gift wrap, please"}),
            json!({"note": "leave at the door"}),
        );
        let mut out = format!(
            "  client A: PATCH {path} If-Match: \"1\" {a}\n  client B: PATCH {path} If-Match: \"1\" {b}   (at the same time)\n"
        );
        let headers = [("if-match", "\"1\"")];
        let (first, second) = tokio::join!(
            self.call(Method::PATCH, &path, &headers, Some(&a)),
            self.call(Method::PATCH, &path, &headers, Some(&b)),
        );
        let (first, second) = (first?, second?);
        let mut statuses = [first.status.as_u16(), second.status.as_u16()];
        statuses.sort_unstable();
        let _ = writeln!(out, "  -> A: {} {}", first.status, short(&first.body));
        let _ = writeln!(out, "  -> B: {} {}", second.status, short(&second.body));
        expect(statuses == [200, 412], || {
            format!("expected one 200 and one 412, got {statuses:?}")
        })?;
        let loser = if first.status == StatusCode::PRECONDITION_FAILED {
            &first
        } else {
            &second
        };
        expect(loser.body["error"]["code"] == "VersionConflict", || {
            format!("the 412 should be a VersionConflict: {}", loser.body)
        })?;
        let _ = writeln!(
            out,
            "  proves: both read version 1; DynamoDB applied exactly one write (version = 1 -> 2) and refused the other, which got the current order to merge and retry: no lost update"
        );
        Ok(out)
    }

    async fn idempotent_retry(&mut self) -> Outcome {
        let key = format!("demo-{}", uuid::Uuid::now_v7());
        let body = new_order("c-demo-retry");
        let headers = [("idempotency-key", key.as_str())];
        let mut out = format!("  POST /orders Idempotency-Key: {key} (twice, same body)\n");
        let first = self
            .call(Method::POST, "/orders", &headers, Some(&body))
            .await?;
        let again = self
            .call(Method::POST, "/orders", &headers, Some(&body))
            .await?;
        let _ = writeln!(
            out,
            "  -> {} orderId {}\n  -> {} orderId {} Idempotent-Replayed: {}",
            first.status,
            first.body["orderId"],
            again.status,
            again.body["orderId"],
            again.replayed
        );
        expect(
            first.status == StatusCode::CREATED
                && again.status == StatusCode::CREATED
                && again.replayed
                && first.body["orderId"] == again.body["orderId"],
            || "the retry should replay the first response".to_owned(),
        )?;
        let other = new_order("c-someone-else");
        let reused = self
            .call(Method::POST, "/orders", &headers, Some(&other))
            .await?;
        let _ = writeln!(
            out,
            "  POST /orders same key, another body\n  -> {} {}",
            reused.status, reused.body["error"]["code"]
        );
        expect(reused.status == StatusCode::UNPROCESSABLE_ENTITY, || {
            format!(
                "a reused key with another body should be 422, got {}",
                reused.status
            )
        })?;
        let _ = writeln!(
            out,
            "  proves: a client may retry safely: one order, the same answer; a key is bound to its request"
        );
        Ok(out)
    }

    async fn envelope(&mut self) -> Outcome {
        let id = self.order_id()?.to_owned();
        let table = self
            .stack
            .deployed()
            .table_name("OrdersTable")
            .ok_or("no OrdersTable")?
            .to_owned();
        let dynamodb = aws_sdk_dynamodb::Client::new(self.stack.aws());
        let item = dynamodb
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(format!("ORDER#{id}")))
            .key("sk", AttributeValue::S("ORDER".into()))
            .send()
            .await
            .map_err(|error| format!("GetItem: {error:?}"))?
            .item
            .ok_or("the order item is missing")?;
        let sealed = item
            .get("encryptedPayment")
            .and_then(|v| v.as_m().ok())
            .ok_or("the item has no encryptedPayment")?;
        let field = |name: &str| {
            sealed
                .get(name)
                .and_then(|v| v.as_s().ok().cloned().or_else(|| v.as_n().ok().cloned()))
                .unwrap_or_default()
        };
        let mut out =
            format!("  aws dynamodb get-item --table-name {table} --key pk=ORDER#{id},sk=ORDER\n");
        let _ = writeln!(
            out,
            "  encryptedPayment = {{ v: {}, keyId: {},",
            field("v"),
            field("keyId")
        );
        let _ = writeln!(
            out,
            "                      edk: {}... (the data key, encrypted by KMS), nonce: {}, ct: {}... }}",
            clip(&field("edk"), 24),
            field("nonce"),
            clip(&field("ct"), 24)
        );
        let raw = format!("{item:?}");
        let digits = CARD.replace(' ', "");
        let leaked = (0..=digits.len() - 6).any(|i| raw.contains(&digits[i..i + 6]));
        expect(!leaked, || "the raw item holds card digits".to_owned())?;
        let _ = writeln!(
            out,
            "  proves: the stored item holds no run of six card digits; only KMS can open the data key, only with the encryption context, and the order id is bound as AES-GCM associated data"
        );
        Ok(out)
    }

    async fn fan_out(&mut self) -> Outcome {
        let id = self.order_id()?.to_owned();
        // Wait until the audit trail has the confirmation: the whole pipeline has run.
        let types = self
            .wait_for(Duration::from_secs(60), || async {
                let types = self.audit_types(&id).await?;
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
        let _ = writeln!(
            out,
            "  proves: every change became one event on the topic; the fulfillment subscription's filter policy passed only OrderPlaced, the audit queue got every event"
        );
        Ok(out)
    }

    async fn confirmed(&mut self) -> Outcome {
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
        Ok(
            out + "  proves: fulfill-order opened the card (the only function allowed kms:Decrypt), checked it, and moved PLACED -> CONFIRMED with a write conditional on version and status\n"
        )
    }

    async fn poison(&mut self) -> Outcome {
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
                let types = self.audit_event_ids(&id).await?;
                let mates: Vec<String> = types
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
        let _ = writeln!(
            out,
            "  proves: record-audit reported only the poison message in batchItemFailures; its batch-mates were deleted, the poison came back until maxReceiveCount and SQS moved it, same id, to the dead-letter queue (the demo shortens the 60 s visibility timeout to seconds)"
        );
        Ok(out)
    }

    async fn trace(&mut self) -> Outcome {
        let (_, trace_id) = self.order.clone().ok_or("no order was created in step 1")?;
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
        Ok(format!(
            "{}\n  proves: API Gateway started the trace; Lambda's segment, the invocation's subsegment (annotated with the orderId) and one subsegment per AWS call nest under it\n",
            indent(&tree)
        ))
    }

    /// The event types of the order's audit trail, in version order.
    async fn audit_types(&self, id: &str) -> Result<Vec<String>, String> {
        Ok(self
            .audit_items(id)
            .await?
            .iter()
            .filter_map(|item| item.get("eventType")?.as_s().ok().cloned())
            .collect())
    }

    async fn audit_event_ids(&self, id: &str) -> Result<Vec<String>, String> {
        Ok(self
            .audit_items(id)
            .await?
            .iter()
            .filter_map(|item| item.get("eventId")?.as_s().ok().cloned())
            .collect())
    }

    async fn audit_items(
        &self,
        id: &str,
    ) -> Result<Vec<std::collections::HashMap<String, AttributeValue>>, String> {
        let table = self
            .stack
            .deployed()
            .table_name("OrdersTable")
            .ok_or("no OrdersTable")?;
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
        let version = |item: &std::collections::HashMap<String, AttributeValue>| {
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

    /// Polls `check` every 250 ms until it gives a value or `timeout` passes.
    async fn wait_for<T, F, Fut>(&self, timeout: Duration, check: F) -> Result<T, String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, String>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(value) = check().await? {
                return Ok(value);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("nothing happened within {} s", timeout.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn new_order(customer: &str) -> Value {
    json!({
        "customerId": customer,
        "items": [{"sku": "BOOK-1", "quantity": 2, "unitPriceCents": 1250}],
        "payment": {"cardNumber": CARD, "expiry": "12/35"}
    })
}

fn expect(condition: bool, reason: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(reason()) }
}

fn short(body: &Value) -> String {
    match (body["error"]["code"].as_str(), body["version"].as_u64()) {
        (Some(code), _) => format!("{code} (current version {})", body["current"]["version"]),
        (None, Some(version)) => format!("version {version} note {}", body["note"]),
        _ => body.to_string(),
    }
}

fn clip(text: &str, n: usize) -> &str {
    &text[..text.len().min(n)]
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
