//! The order domain: what an order is and which changes it allows.
//!
//! Nothing in here knows about HTTP or DynamoDB. [`order`] holds the order and its parts,
//! [`status`] the status machine, [`payment`] the card (the one secret an order holds), and
//! [`input`] turns untrusted JSON into domain values and reports every bad field at once.

pub mod input;
pub mod order;
pub mod payment;
pub mod status;

pub use input::{FieldError, ListQuery, NewOrder, OrderPatch};
pub use order::{Address, CustomerId, LineItem, Order, OrderId, Sku};
pub use payment::{CardBrand, CardSummary, PaymentCard};
pub use status::OrderStatus;
