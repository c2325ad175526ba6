//! Settlement: what the payment check of a placed order means for the order.
//!
//! `fulfill-order` opens the sealed card of a `PLACED` order and checks it as of today, not as of
//! the day the order was placed: a card that was valid then may have expired since.
//!
//! | the check found                         | the order moves to |
//! |-----------------------------------------|--------------------|
//! | a card that has not expired             | `CONFIRMED`        |
//! | a card that has expired since           | `PAYMENT_FAILED`   |
//! | decrypted bytes that are not a card     | `PAYMENT_FAILED`   |
//!
//! A check that could not be made (KMS throttled or failed) is not a [`CardCheck`]: it decides
//! nothing, and the message is tried again. Both outcomes are moves the status machine allows from
//! `PLACED` (see [`super::status`]).

use chrono::NaiveDate;

use super::{OrderStatus, PaymentCard};

/// What opening the sealed card gave.
#[derive(Debug)]
pub enum CardCheck {
    /// The card, decrypted. It is wiped when the check is dropped.
    Opened(PaymentCard),
    /// Decrypted, but not a card that could ever be charged: retrying will not change that.
    NotACard,
}

/// The status a placed order settles to, given its card check on `today`.
pub fn settled_status(check: CardCheck, today: NaiveDate) -> OrderStatus {
    match check {
        CardCheck::Opened(card) if card.is_expired_on(today) => OrderStatus::PaymentFailed,
        CardCheck::Opened(_) => OrderStatus::Confirmed,
        CardCheck::NotACard => OrderStatus::PaymentFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    /// A card valid through November 2026, placed on an order in November 2026.
    fn card() -> PaymentCard {
        PaymentCard::parse("4111111111111111", "11/26", date(2026, 11, 1)).unwrap()
    }

    #[test]
    fn a_card_still_valid_today_confirms_the_order() {
        let to = settled_status(CardCheck::Opened(card()), date(2026, 11, 30));
        assert_eq!(to, OrderStatus::Confirmed);
    }

    #[test]
    fn a_card_expired_since_the_order_was_placed_fails_the_payment() {
        let to = settled_status(CardCheck::Opened(card()), date(2026, 12, 1));
        assert_eq!(to, OrderStatus::PaymentFailed);
    }

    #[test]
    fn bytes_that_are_not_a_card_fail_the_payment() {
        let to = settled_status(CardCheck::NotACard, date(2026, 11, 30));
        assert_eq!(to, OrderStatus::PaymentFailed);
    }

    #[test]
    fn every_outcome_is_a_move_the_status_machine_allows_from_placed() {
        let checks: [fn() -> CardCheck; 2] = [|| CardCheck::Opened(card()), || CardCheck::NotACard];
        for check in checks {
            for today in [date(2026, 11, 30), date(2026, 12, 1)] {
                let to = settled_status(check(), today);
                assert!(OrderStatus::sources_of(to).contains(&OrderStatus::Placed));
            }
        }
    }
}
