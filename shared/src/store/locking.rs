//! Optimistic locking: a write succeeds only if nobody else wrote since the client's read.
//!
//! Every order carries a `version`. A client reads it (the `ETag`), sends it back in `If-Match`,
//! and the store turns that into a conditional write:
//!
//! ```text
//! UpdateItem  SET ..., version = version + :one
//!             ConditionExpression: version IN (:expected...) [AND customerId = :caller]
//!                                  [AND status IN (:allowed...)]
//! ```
//!
//! The new version is computed by DynamoDB from the stored one: no arithmetic on a number a
//! client sent (an `If-Match` of `"18446744073709551615"` is a version like any other, and matches
//! no order). `If-Match` follows RFC 9110 ([`Precondition`]): a list of entity tags matches if any
//! does, `*` matches whatever the current version (`attribute_exists(pk)` instead of the version
//! check), and a weak tag (`W/"3"`) never matches, since `If-Match` compares strongly.
//!
//! DynamoDB evaluates the condition and applies the update atomically, so of two clients holding
//! the same version exactly one wins; the other gets `ConditionalCheckFailedException`. No lock is
//! held between the read and the write, which is why it is *optimistic*: conflicts are rare, and a
//! loser simply re-reads and retries.
//!
//! A client's write also names its caller: the order must be theirs, checked by the same
//! condition, atomically (a read first could be outdated by the time the write lands).
//!
//! With `ReturnValuesOnConditionCheckFailure=ALL_OLD` the failed write returns the item as it is,
//! so the store can tell the client *why* without a second read: no item, or another customer's
//! (404 alike, so ids cannot be probed; 403 to support), another version (412, with the current
//! order: only its owner sees it), or the right version in a status that forbids the change (409).

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{CONSUMED_CAPACITY, Item, OrderStore, from_item, order_key, sdk_failure};
use crate::domain::order::{now_timestamp, total_cents};
use crate::domain::{Order, OrderId, OrderPatch, OrderStatus};
use crate::error::AppError;
use crate::identity::Caller;

/// Which versions of an order a write may apply to: what the client's `If-Match` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `If-Match: *`: whatever the current version, as long as the order exists.
    AnyVersion,
    /// `If-Match: "3", "4"`: one of these versions. Empty when no tag can match (only weak tags,
    /// or tags that are no version of ours): the write is refused as a stale one (412).
    Versions(Vec<u64>),
}

impl Precondition {
    /// The precondition of a write that saw `version`.
    pub fn version(version: u64) -> Self {
        Self::Versions(vec![version])
    }

    fn admits(&self, version: u64) -> bool {
        match self {
            Precondition::AnyVersion => true,
            Precondition::Versions(versions) => versions.contains(&version),
        }
    }
}

/// DynamoDB takes at most 100 operands in an `IN`: more tags than that is no client of ours.
pub const MAX_IF_MATCH_TAGS: usize = 100;

/// A change to an order, to be applied only at the expected version.
#[derive(Debug, Default)]
pub struct ConditionalUpdate {
    /// Attributes to set (besides `version` and `updatedAt`, which every update sets).
    sets: Vec<(&'static str, AttributeValue)>,
    /// Attributes to remove.
    removes: Vec<&'static str>,
    /// If not empty, the order must be in one of these statuses (the status machine's rule).
    allowed_statuses: Vec<OrderStatus>,
    /// What the change does, for the 409 message: "cannot {action} an order that is SHIPPED".
    action: &'static str,
    /// The client whose request this is: the order must be theirs. `None` for the system's own
    /// writes (fulfillment), which act on any order.
    caller: Option<Caller>,
}

impl ConditionalUpdate {
    /// A status change, allowed only from the statuses the machine permits.
    pub fn transition(to: OrderStatus, action: &'static str) -> Self {
        Self {
            sets: vec![("status", AttributeValue::S(to.as_str().into()))],
            allowed_statuses: OrderStatus::sources_of(to).to_vec(),
            action,
            ..Self::default()
        }
    }

    /// A client's patch. Items may change only while `PLACED`, the address until shipping; the
    /// total is recomputed here from the new items.
    pub fn patch(patch: &OrderPatch) -> Result<Self, AppError> {
        let mut update = Self {
            action: "change",
            ..Self::default()
        };
        match &patch.shipping_address {
            None => {}
            Some(address) => {
                match address {
                    Some(address) => update.set("shippingAddress", to_attribute(address)?),
                    None => update.removes.push("shippingAddress"),
                }
                update.restrict(
                    &[OrderStatus::Placed, OrderStatus::Confirmed],
                    "change the shipping address of",
                );
            }
        }
        // After the address: the narrower rule restricts last, so a 409 names it.
        if let Some(items) = &patch.items {
            update.set("items", to_attribute(items)?);
            update.set("totalCents", to_attribute(&total_cents(items))?);
            update.restrict(&[OrderStatus::Placed], "change the items of");
        }
        match &patch.note {
            None => {}
            Some(Some(note)) => update.set("note", AttributeValue::S(note.clone())),
            Some(None) => update.removes.push("note"),
        }
        Ok(update)
    }

    /// The same change, made for `caller`: it applies only to the caller's own order.
    pub fn by(mut self, caller: &Caller) -> Self {
        self.caller = Some(caller.clone());
        self
    }

    fn set(&mut self, name: &'static str, value: AttributeValue) {
        self.sets.push((name, value));
    }

    /// Narrows the allowed statuses to those also in `statuses`.
    fn restrict(&mut self, statuses: &[OrderStatus], action: &'static str) {
        if self.allowed_statuses.is_empty() {
            self.allowed_statuses = statuses.to_vec();
        } else {
            self.allowed_statuses
                .retain(|status| statuses.contains(status));
        }
        self.action = action;
    }
}

impl OrderStore {
    /// Applies `update` to the order if, and only if, its version is one `expected` admits (and,
    /// for an update made [`by`](ConditionalUpdate::by) a caller, it is the caller's order).
    /// Returns the order as written (`ReturnValues=ALL_NEW`), one version further.
    pub async fn update_if_version(
        &self,
        id: OrderId,
        expected: &Precondition,
        update: ConditionalUpdate,
    ) -> Result<Order, AppError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .return_consumed_capacity(CONSUMED_CAPACITY)
            .set_key(Some(order_key(id)))
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#updatedAt", "updatedAt")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":now", AttributeValue::S(now_timestamp()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);

        let mut set = vec![
            "#version = #version + :one".to_owned(),
            "#updatedAt = :now".to_owned(),
        ];
        for (i, (name, value)) in update.sets.into_iter().enumerate() {
            set.push(format!("#s{i} = :s{i}"));
            request = request
                .expression_attribute_names(format!("#s{i}"), name)
                .expression_attribute_values(format!(":s{i}"), value);
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !update.removes.is_empty() {
            let mut remove = Vec::new();
            for (i, name) in update.removes.into_iter().enumerate() {
                remove.push(format!("#r{i}"));
                request = request.expression_attribute_names(format!("#r{i}"), name);
            }
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }

        let mut condition = match expected {
            Precondition::AnyVersion => "attribute_exists(pk)".to_owned(),
            // No tag can match: no stored version is negative, so the write is refused and the
            // failure says why (412, or 404 for an order that is not there).
            Precondition::Versions(versions) if versions.is_empty() => {
                request =
                    request.expression_attribute_values(":none", AttributeValue::N("-1".into()));
                "#version = :none".to_owned()
            }
            Precondition::Versions(versions) => {
                let mut operands = Vec::new();
                for (i, version) in versions.iter().enumerate() {
                    operands.push(format!(":v{i}"));
                    request =
                        request.expression_attribute_values(format!(":v{i}"), number(*version));
                }
                format!("#version IN ({})", operands.join(", "))
            }
        };
        if let Some(caller) = &update.caller {
            condition.push_str(" AND #customerId = :caller");
            request = request
                .expression_attribute_names("#customerId", "customerId")
                .expression_attribute_values(
                    ":caller",
                    AttributeValue::S(caller.customer_id().as_str().to_owned()),
                );
        }
        if !update.allowed_statuses.is_empty() {
            let mut allowed = Vec::new();
            for (i, status) in update.allowed_statuses.iter().enumerate() {
                allowed.push(format!(":allowed{i}"));
                request = request.expression_attribute_values(
                    format!(":allowed{i}"),
                    AttributeValue::S(status.as_str().into()),
                );
            }
            // `status` is a DynamoDB reserved word: it must go through a name placeholder.
            condition.push_str(&format!(" AND #status IN ({})", allowed.join(", ")));
            request = request.expression_attribute_names("#status", "status");
        }

        let result = request
            .update_expression(expression)
            .condition_expression(condition)
            .send()
            .await;
        match result {
            Ok(output) => from_item(output.attributes.unwrap_or_default()),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Err(explain_conflict(
                        failed.item.clone(),
                        expected,
                        update.action,
                        update.caller.as_ref(),
                    ))
                }
                _ => Err(sdk_failure("UpdateItem", error)),
            },
        }
    }
}

/// What [`OrderStore::transition`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The order moved; this is the order as written.
    Applied(Order),
    /// The order had already left the statuses the transition starts from (an earlier delivery
    /// moved it, or it was cancelled first): nothing was written. This is the order as it is.
    AlreadyMoved(Order),
}

/// How often [`OrderStore::transition`] re-reads and retries before giving up.
const TRANSITION_ATTEMPTS: u32 = 5;

impl OrderStore {
    /// Moves an order to `to` on behalf of the system (the fulfillment consumer), starting from
    /// the version it last saw.
    ///
    /// A client with a stale version gets a 412 and decides what to do. A process has nobody to
    /// ask, so it does what an optimistic-locking loser should: take the current order (the failed
    /// write returned it, `ALL_OLD`), and if it may still make the transition, retry at the current
    /// version; if it may not (the order has moved on), stop without writing. Either way the
    /// condition `version = :expected AND status IN (...)` guarantees no other write is lost.
    pub async fn transition(
        &self,
        id: OrderId,
        seen_version: u64,
        to: OrderStatus,
        action: &'static str,
    ) -> Result<Transition, AppError> {
        let mut expected = seen_version;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let update = ConditionalUpdate::transition(to, action);
            match self
                .update_if_version(id, &Precondition::version(expected), update)
                .await
            {
                Ok(order) => return Ok(Transition::Applied(order)),
                Err(AppError::VersionConflict { current }) => {
                    if !current.status.can_become(to) {
                        return Ok(Transition::AlreadyMoved(*current));
                    }
                    if attempts == TRANSITION_ATTEMPTS {
                        return Err(AppError::VersionConflict { current });
                    }
                    // Someone else wrote in between (a patch): try again on their version.
                    expected = current.version;
                }
                Err(AppError::NotAllowedInStatus { .. }) if attempts < TRANSITION_ATTEMPTS => {
                    // The version matched but not the status: read what it is now.
                    match self.get(id, true).await? {
                        Some(current) if !current.status.can_become(to) => {
                            return Ok(Transition::AlreadyMoved(current));
                        }
                        Some(current) => expected = current.version,
                        None => return Err(AppError::NotFound),
                    }
                }
                Err(other) => return Err(other),
            }
        }
    }
}

/// Why a conditional write failed, from the item as it was (`ALL_OLD`): no item means no order;
/// another customer's order is none of the caller's business (see [`Caller::refused_write`]);
/// a version the precondition does not admit means the client's copy is stale; an admitted one
/// means the status forbade it.
pub fn explain_conflict(
    old: Option<Item>,
    expected: &Precondition,
    action: &'static str,
    caller: Option<&Caller>,
) -> AppError {
    let Some(item) = old else {
        return AppError::NotFound;
    };
    match from_item::<Order>(item) {
        Ok(current)
            if caller.is_some_and(|caller| &current.customer_id != caller.customer_id()) =>
        {
            caller.map_or(AppError::NotFound, Caller::refused_write)
        }
        Ok(current) if !expected.admits(current.version) => AppError::VersionConflict {
            current: Box::new(current),
        },
        Ok(current) => AppError::NotAllowedInStatus {
            action,
            status: current.status,
        },
        Err(error) => error,
    }
}

fn number(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn to_attribute(value: &impl serde::Serialize) -> Result<AttributeValue, AppError> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|error| AppError::Internal(format!("cannot map to an attribute: {error}")))
}

#[cfg(test)]
mod tests;
