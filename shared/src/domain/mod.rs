//! The order domain: what an order is and which changes it allows.
//!
//! Nothing in here knows about HTTP or DynamoDB. [`order`] holds the order and its parts,
//! [`status`] the status machine, [`payment`] the card (the one secret an order holds) and
//! [`event`] what happened to an order, as the rest of the system hears it. [`settlement`] decides
//! what the payment check of a placed order means for it. [`input`] turns untrusted JSON into
//! domain values and reports every bad field at once.

pub mod event;
pub mod input;
pub mod order;
pub mod payment;
pub mod settlement;
pub mod status;

pub use event::{EventType, OrderEvent};
pub use input::{FieldError, ListQuery, NewOrder, OrderPatch};
pub use order::{Address, CustomerId, LineItem, Order, OrderId, Sku};
pub use payment::{CardBrand, CardSummary, PaymentCard};
pub use settlement::{CardCheck, settled_status};
pub use status::OrderStatus;
