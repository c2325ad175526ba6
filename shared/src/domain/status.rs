//! The status machine of an order.
//!
//! ```text
//! PLACED ──> CONFIRMED ──> SHIPPED
//!   │            │
//!   │            └──────> CANCELLED
//!   ├──> PAYMENT_FAILED
//!   └──> CANCELLED
//! ```
//!
//! Any other transition is refused (HTTP 409). The store enforces the machine inside DynamoDB's
//! condition expression (`#status IN (...)`), so two writers racing cannot both win a transition.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Placed,
    Confirmed,
    Shipped,
    PaymentFailed,
    Cancelled,
}

impl OrderStatus {
    /// Every status, in the order of the diagram.
    pub const ALL: [OrderStatus; 5] = [
        OrderStatus::Placed,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::PaymentFailed,
        OrderStatus::Cancelled,
    ];

    /// The statuses from which an order may move to `target`.
    pub fn sources_of(target: OrderStatus) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match target {
            Placed => &[],
            Confirmed | PaymentFailed => &[Placed],
            Shipped => &[Confirmed],
            Cancelled => &[Placed, Confirmed],
        }
    }

    /// Whether an order in this status may move to `target`.
    pub fn can_become(self, target: OrderStatus) -> bool {
        Self::sources_of(target).contains(&self)
    }

    /// The wire name (`"PAYMENT_FAILED"`), as stored and as returned by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "PLACED",
            OrderStatus::Confirmed => "CONFIRMED",
            OrderStatus::Shipped => "SHIPPED",
            OrderStatus::PaymentFailed => "PAYMENT_FAILED",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    #[test]
    fn the_allowed_transitions_are_exactly_those_of_the_diagram() {
        let allowed = [
            (Placed, Confirmed),
            (Confirmed, Shipped),
            (Placed, PaymentFailed),
            (Placed, Cancelled),
            (Confirmed, Cancelled),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn terminal_statuses_go_nowhere() {
        for terminal in [Shipped, PaymentFailed, Cancelled] {
            assert!(OrderStatus::ALL.iter().all(|&to| !terminal.can_become(to)));
        }
    }

    #[test]
    fn wire_names_match_serde() {
        for status in OrderStatus::ALL {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
        }
    }
}
