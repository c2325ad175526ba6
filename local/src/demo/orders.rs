//! The steps of the order API: create, optimistic locking, idempotency, the sealed card (and
//! KMS's 4 KB limit on Encrypt, the reason for the envelope).

use std::fmt::Write as _;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::primitives::Blob;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{CARD, Demo, Outcome, clip, expect, new_order, proved, refused_with, short};

impl Demo<'_> {
    pub(super) async fn create(&mut self) -> Outcome {
        let body = new_order("Ada's first order");
        let mut out = format!("  POST /orders {body}\n");
        let (answer, id) = self.place_order(&[], &body).await?;
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

        // Exam: create-if-absent. The same key again, with create-order's condition: refused.
        let table = self.orders_table()?;
        let again = aws_sdk_dynamodb::Client::new(self.stack.aws())
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S(format!("ORDER#{id}")))
            .item("sk", AttributeValue::S("ORDER".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        let refusal = refused_with(&again, "no error: the order was overwritten");
        let _ = writeln!(
            out,
            "  aws dynamodb put-item --item pk=ORDER#{id},sk=ORDER --condition-expression 'attribute_not_exists(pk)'\n  -> {refusal}"
        );
        expect(refusal == "ConditionalCheckFailedException", || {
            format!("a second put of the same key should fail its condition: {again:?}")
        })?;
        self.order = Some((id, trace));
        proved(
            out,
            "the order was stored at version 1 (ETag \"1\"), the total computed by the server, the card shown only as its last four digits; a put conditional on attribute_not_exists(pk) writes only an item that is not there yet",
        )
    }

    pub(super) async fn conflict(&mut self) -> Outcome {
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
        proved(
            out,
            "both read version 1; DynamoDB applied exactly one write (version = 1 -> 2) and refused the other, which got the current order to merge and retry: no lost update",
        )
    }

    pub(super) async fn idempotent_retry(&mut self) -> Outcome {
        let key = format!("demo-{}", uuid::Uuid::now_v7());
        let body = new_order("a retried order");
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
        let other = new_order("another order under the same key");
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
        proved(
            out,
            "a client may retry safely: one order, the same answer; a key is bound to its request",
        )
    }

    pub(super) async fn envelope(&mut self) -> Outcome {
        let id = self.order_id()?.to_owned();
        let table = self.orders_table()?;
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

        // Exam: KMS Encrypt takes at most 4,096 bytes of plaintext, hence envelope encryption.
        let kms = aws_sdk_kms::Client::new(self.stack.aws());
        let key_id = field("keyId");
        let encrypt = |bytes: usize| {
            kms.encrypt()
                .key_id(&key_id)
                .plaintext(Blob::new(vec![7u8; bytes]))
                .send()
        };
        let accepted = encrypt(4096).await;
        let refused = encrypt(4097).await;
        let refusal = refused_with(&refused, "no error");
        let _ = writeln!(
            out,
            "  aws kms encrypt, 4,096 bytes of plaintext -> {}; 4,097 bytes -> {refusal}",
            if accepted.is_ok() {
                "a ciphertext"
            } else {
                "refused"
            }
        );
        expect(accepted.is_ok() && refusal == "ValidationException", || {
            format!(
                "KMS Encrypt should take 4,096 bytes and refuse 4,097: {accepted:?} {refused:?}"
            )
        })?;
        proved(
            out,
            "the stored item holds no run of six card digits; only KMS can open the data key, only with the encryption context, and the order id is bound as AES-GCM associated data; KMS itself encrypts at most 4 KB, so data of any size is sealed locally with a data key",
        )
    }
}
