//! The step of transactions (§17 scenario 4): `TransactWriteItems` writes all of its items or
//! none. The app's idempotent create is one: the order and its idempotency record, each put with a
//! condition (`shared/src/store/idempotency.rs`). Here the same two puts, raw, with an order id
//! that is already taken: the record's put would succeed alone, yet nothing is written.

use std::collections::HashMap;
use std::fmt::Write as _;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::{Demo, Outcome, expect, proved};

impl Demo<'_> {
    pub(super) async fn all_or_nothing(&mut self) -> Outcome {
        let id = self.order_id()?.to_owned();
        let table = self.orders_table()?;
        let record_pk = format!("IDEMPOTENCY#demo#{}", uuid::Uuid::now_v7());
        let item = |pk: &str, sk: &str| -> HashMap<String, AttributeValue> {
            [
                ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
                ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
            ]
            .into()
        };
        let put = |pk: &str, sk: &str| {
            Put::builder()
                .table_name(&table)
                .set_item(Some(item(pk, sk)))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(|error| format!("a Put: {error}"))
        };
        let dynamodb = aws_sdk_dynamodb::Client::new(self.stack.aws());
        let result = dynamodb
            .transact_write_items()
            .transact_items(put(&format!("ORDER#{id}"), "ORDER")?)
            .transact_items(put(&record_pk, "IDEMPOTENCY")?)
            .send()
            .await;
        let mut out = format!(
            "  aws dynamodb transact-write-items, each Put if attribute_not_exists(pk):\n    Put ORDER#{id} (the order of step `create`: taken)\n    Put {record_pk} (new)\n"
        );
        let reasons: Vec<String> = match &result {
            Err(error) => match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|reason| reason.code().unwrap_or("None").to_owned())
                    .collect(),
                _ => return Err(format!("TransactWriteItems: {error:?}")),
            },
            Ok(_) => return Err("the transaction should be cancelled: ORDER exists".into()),
        };
        let _ = writeln!(
            out,
            "  -> TransactionCanceledException, CancellationReasons {reasons:?}"
        );
        expect(reasons == ["ConditionalCheckFailed", "None"], || {
            format!("the order's put should fail its condition, the record's none: {reasons:?}")
        })?;
        let written = dynamodb
            .get_item()
            .table_name(&table)
            .set_key(Some(item(&record_pk, "IDEMPOTENCY")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| format!("GetItem: {error:?}"))?
            .item
            .is_some();
        let _ = writeln!(
            out,
            "  aws dynamodb get-item --consistent-read --key pk={record_pk},sk=IDEMPOTENCY -> {}",
            if written { "there" } else { "no item" }
        );
        expect(!written, || {
            "the record's put was applied although the transaction was cancelled".to_owned()
        })?;
        proved(
            out,
            "one failed condition cancelled the whole transaction: the record's put, fine on its own, was not applied; CancellationReasons say which item failed (None for the others), which create-order reads to tell a lost race from a conflict",
        )
    }
}
