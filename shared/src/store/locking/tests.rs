//! Unit tests of `locking.rs`.

use super::*;
use crate::store::order_item;
use crate::store::tests::{sample_order, store};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{Rule, mock, mock_client};

fn failed_with(item: Option<Item>) -> UpdateItemError {
    UpdateItemError::ConditionalCheckFailedException(
        ConditionalCheckFailedException::builder()
            .set_item(item)
            .message("The conditional request failed")
            .build(),
    )
}

#[test]
fn a_missing_item_is_not_found() {
    assert!(matches!(
        explain_conflict(None, &Precondition::version(3), "cancel", None),
        AppError::NotFound
    ));
}

#[test]
fn another_version_is_a_stale_copy_with_the_current_order() {
    let item = order_item(&sample_order()).unwrap(); // at version 3
    let AppError::VersionConflict { current } = explain_conflict(
        Some(item),
        &Precondition::version(2),
        "cancel",
        Some(&owner()),
    ) else {
        panic!("expected a version conflict")
    };
    assert_eq!(current.version, 3);
}

#[test]
fn the_right_version_in_the_wrong_status_is_a_forbidden_transition() {
    let mut order = sample_order();
    order.status = OrderStatus::Shipped;
    let item = order_item(&order).unwrap();
    let error = explain_conflict(
        Some(item),
        &Precondition::version(3),
        "cancel",
        Some(&owner()),
    );
    assert!(matches!(
        error,
        AppError::NotAllowedInStatus {
            action: "cancel",
            status: OrderStatus::Shipped
        }
    ));
}

/// The customer of the sample order.
fn owner() -> Caller {
    Caller::customer(sample_order().customer_id)
}

#[test]
fn another_customers_order_is_unknown_to_them_and_forbidden_to_support() {
    let item = || Some(order_item(&sample_order()).unwrap()); // c-1's, at version 3
    let stranger = Caller::customer(crate::domain::CustomerId::parse("c-2").unwrap());
    // Whatever the version: a stranger learns nothing, not even that the version moved on.
    for expected in [2, 3] {
        assert!(matches!(
            explain_conflict(
                item(),
                &Precondition::version(expected),
                "cancel",
                Some(&stranger)
            ),
            AppError::NotFound
        ));
    }
    let claims = serde_json::json!({"sub": "s-1", "cognito:groups": "support"});
    let support = Caller::from_claims(claims.as_object().unwrap()).unwrap();
    assert!(matches!(
        explain_conflict(item(), &Precondition::version(2), "cancel", Some(&support)),
        AppError::Forbidden(_)
    ));
}

#[test]
fn a_precondition_admits_its_versions_or_any() {
    let order = || Some(order_item(&sample_order()).unwrap()); // at version 3
    let owner = owner();
    for admitting in [Precondition::AnyVersion, Precondition::Versions(vec![2, 3])] {
        // An admitted version: the status is what refused the write.
        assert!(matches!(
            explain_conflict(order(), &admitting, "cancel", Some(&owner)),
            AppError::NotAllowedInStatus { .. }
        ));
    }
    for refusing in [
        Precondition::Versions(vec![]),
        Precondition::Versions(vec![u64::MAX]),
    ] {
        assert!(matches!(
            explain_conflict(order(), &refusing, "cancel", Some(&owner)),
            AppError::VersionConflict { .. }
        ));
    }
}

#[test]
fn a_patch_of_items_recomputes_the_total_and_requires_placed() {
    let patch = OrderPatch::parse(&serde_json::json!({
        "items": [{"sku": "A", "quantity": 3, "unitPriceCents": 100}],
        "shippingAddress": null,
        "note": "hi"
    }))
    .unwrap();
    let update = ConditionalUpdate::patch(&patch).unwrap();
    let sets: Vec<&str> = update.sets.iter().map(|(name, _)| *name).collect();
    assert_eq!(sets, vec!["items", "totalCents", "note"]);
    assert_eq!(update.action, "change the items of");
    assert_eq!(update.sets[1].1, AttributeValue::N("300".into()));
    assert_eq!(update.removes, vec!["shippingAddress"]);
    assert_eq!(update.allowed_statuses, vec![OrderStatus::Placed]);
}

#[test]
fn a_note_may_change_in_any_status() {
    let patch = OrderPatch::parse(&serde_json::json!({"note": "hi"})).unwrap();
    assert!(
        ConditionalUpdate::patch(&patch)
            .unwrap()
            .allowed_statuses
            .is_empty()
    );
}

/// The owner cancels the sample order, expecting `version`, through a store whose `UpdateItem`
/// answers as `rule` says.
async fn cancel_as_owner(rule: &Rule, version: u64) -> Result<Order, AppError> {
    let store = store(mock_client!(aws_sdk_dynamodb, [rule]));
    let update = ConditionalUpdate::transition(OrderStatus::Cancelled, "cancel").by(&owner());
    store
        .update_if_version(
            sample_order().order_id,
            &Precondition::version(version),
            update,
        )
        .await
}

#[tokio::test]
async fn the_write_carries_the_version_owner_and_status_condition() {
    let rule = mock!(Client::update_item)
        .match_requests(|req| {
            let values = req.expression_attribute_values().unwrap();
            req.condition_expression()
                == Some(
                    "#version IN (:v0) AND #customerId = :caller AND #status IN (:allowed0, :allowed1)",
                )
                && req.update_expression().is_some_and(|e| e.contains("#version = #version + :one"))
                && values[":caller"] == AttributeValue::S("c-1".into())
                && values[":v0"] == AttributeValue::N("3".into())
                && values[":one"] == AttributeValue::N("1".into())
                && req.return_values_on_condition_check_failure()
                    == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .then_output(|| {
            let mut order = sample_order();
            order.version = 4;
            order.status = OrderStatus::Cancelled;
            UpdateItemOutput::builder()
                .set_attributes(Some(order_item(&order).unwrap()))
                .build()
        });
    let order = cancel_as_owner(&rule, 3).await.unwrap();
    assert_eq!((order.version, order.status), (4, OrderStatus::Cancelled));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_condition_is_explained_from_the_old_item_without_a_second_read() {
    let rule = mock!(Client::update_item)
        .then_error(|| failed_with(Some(order_item(&sample_order()).unwrap())));
    let error = cancel_as_owner(&rule, 1).await.unwrap_err();
    assert!(
        matches!(error, AppError::VersionConflict { .. }),
        "{error:?}"
    );
    // One call: the mock client would fail any GetItem, and there was none.
    assert_eq!(rule.num_calls(), 1);
}
