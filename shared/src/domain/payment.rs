//! Card data: the one secret an order holds.
//!
//! A [`PaymentCard`] is made only by [`PaymentCard::parse`], so holding one means the number passed
//! the Luhn check and the expiry is in the future. It is built to be hard to leak:
//!
//! - `Debug` prints only the last four digits, so a stray `{:?}` in a log line shows no number;
//! - it does not implement `Serialize`: the only way out is [`PaymentCard::to_plaintext`], the bytes
//!   that envelope encryption seals (see `crypto::envelope`), and those are wiped when dropped;
//! - its memory is zeroized when it is dropped.
//!
//! What clients see, and what is stored in the clear, is the [`CardSummary`]: the last four digits
//! and the brand. Validation messages never repeat what the client sent.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A card number has 12 to 19 digits (ISO/IEC 7812).
const CARD_DIGITS: std::ops::RangeInclusive<usize> = 12..=19;
/// An expiry further ahead than this many years is taken for a typing mistake.
const MAX_YEARS_AHEAD: i32 = 20;

/// A card that passed validation. Its number is never printed, logged or stored in the clear.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PaymentCard {
    /// Digits only.
    number: String,
    month: u32,
    /// Four digits, e.g. 2029.
    year: i32,
}

/// The card as clients see it and as it is stored in the clear: `{"cardLast4", "brand"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardSummary {
    pub card_last4: String,
    pub brand: CardBrand,
}

/// The card network, from the number's leading digits (its issuer identification number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Unknown,
}

/// What went wrong with a card, per field. The messages never contain the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardProblem {
    Number(&'static str),
    Expiry(&'static str),
}

impl PaymentCard {
    /// Parses a card number (spaces allowed between digits) and an `MM/YY` expiry, reporting a
    /// problem with each. The card must not have expired on `today`: it is valid through the last
    /// day of its expiry month.
    pub fn parse(number: &str, expiry: &str, today: NaiveDate) -> Result<Self, Vec<CardProblem>> {
        let number = parse_number(number);
        let expiry = parse_expiry(expiry, today);
        match (number, expiry) {
            (Ok(number), Ok((month, year))) => Ok(Self {
                number: number.to_string(),
                month,
                year,
            }),
            (number, expiry) => Err([number.err(), expiry.err()].into_iter().flatten().collect()),
        }
    }

    /// What may be shown and stored in the clear.
    pub fn summary(&self) -> CardSummary {
        CardSummary {
            card_last4: self.last4().to_owned(),
            brand: CardBrand::of(&self.number),
        }
    }

    /// True once the last day of the expiry month has passed.
    pub fn is_expired_on(&self, today: NaiveDate) -> bool {
        (today.year(), today.month()) > (self.year, self.month)
    }

    /// The bytes to encrypt: `{"cardNumber": "...", "expiry": "MM/YY"}`. Wiped when dropped.
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let expiry = format!("{:02}/{:02}", self.month, self.year % 100);
        let json = Zeroizing::new(format!(
            r#"{{"cardNumber":"{}","expiry":"{expiry}"}}"#,
            self.number
        ));
        Zeroizing::new(json.as_bytes().to_vec())
    }

    /// The card back from decrypted bytes (the fulfillment consumer's side). The card is not
    /// re-checked against today's date here: an order placed last month may hold a card that has
    /// expired since, and deciding what that means is the consumer's job ([`Self::is_expired_on`]).
    pub fn from_plaintext(bytes: &[u8]) -> Result<Self, CardProblem> {
        #[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
        #[serde(rename_all = "camelCase")]
        struct Stored {
            card_number: String,
            expiry: String,
        }
        let stored: Stored = serde_json::from_slice(bytes)
            .map_err(|_| CardProblem::Number("the decrypted card data is not readable"))?;
        let number = parse_number(&stored.card_number)?;
        let (month, year) = split_expiry(&stored.expiry)?;
        Ok(Self {
            number: number.to_string(),
            month,
            year,
        })
    }

    fn last4(&self) -> &str {
        &self.number[self.number.len() - 4..]
    }
}

impl fmt::Debug for PaymentCard {
    /// Only the last four digits: safe in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentCard(****{})", self.last4())
    }
}

impl CardBrand {
    fn of(digits: &str) -> Self {
        let prefix = |n: usize| digits[..n].parse::<u32>().unwrap_or(0);
        match (prefix(1), prefix(2), prefix(3), prefix(4)) {
            (4, ..) => Self::Visa,
            (_, 51..=55, ..) | (.., 2221..=2720) => Self::Mastercard,
            (_, 34 | 37, ..) => Self::Amex,
            (_, 65, ..) | (_, _, 644..=649, _) | (.., 6011) => Self::Discover,
            _ => Self::Unknown,
        }
    }
}

/// Digits only, 12 to 19 of them, passing the Luhn check. Spaces between groups are allowed.
fn parse_number(text: &str) -> Result<Zeroizing<String>, CardProblem> {
    let digits = Zeroizing::new(text.replace(' ', ""));
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        Err(CardProblem::Number("may contain only digits and spaces"))
    } else if !CARD_DIGITS.contains(&digits.len()) {
        Err(CardProblem::Number("must have 12 to 19 digits"))
    } else if !passes_luhn(&digits) {
        Err(CardProblem::Number(
            "is not a valid card number (Luhn check)",
        ))
    } else {
        Ok(digits)
    }
}

/// The Luhn checksum: from the rightmost digit, double every second digit (subtracting 9 from
/// results over 9); the sum must be a multiple of 10. It catches every single-digit typo.
fn passes_luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(i, d)| match (i % 2 == 1, d * 2) {
            (false, _) => d,
            (true, doubled) if doubled > 9 => doubled - 9,
            (true, doubled) => doubled,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `MM/YY`, not expired on `today`, at most 20 years ahead.
fn parse_expiry(text: &str, today: NaiveDate) -> Result<(u32, i32), CardProblem> {
    let (month, year) = split_expiry(text)?;
    if (today.year(), today.month()) > (year, month) {
        Err(CardProblem::Expiry("the card has expired"))
    } else if year > today.year() + MAX_YEARS_AHEAD {
        Err(CardProblem::Expiry("is too far in the future"))
    } else {
        Ok((month, year))
    }
}

fn split_expiry(text: &str) -> Result<(u32, i32), CardProblem> {
    const FORMAT: CardProblem = CardProblem::Expiry("must be MM/YY, like 09/29");
    let (mm, yy) = text.split_once('/').ok_or(FORMAT)?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(mm) || !two_digits(yy) {
        return Err(FORMAT);
    }
    let month: u32 = mm.parse().map_err(|_| FORMAT)?;
    let year: i32 = yy.parse().map_err(|_| FORMAT)?;
    if !(1..=12).contains(&month) {
        return Err(FORMAT);
    }
    Ok((month, 2000 + year))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn card(number: &str, expiry: &str) -> Result<PaymentCard, Vec<CardProblem>> {
        PaymentCard::parse(number, expiry, today())
    }

    #[test]
    fn a_valid_card_parses_and_shows_only_its_last_four() {
        let card = card("4111 1111 1111 1111", "12/29").unwrap();
        assert_eq!(
            card.summary(),
            CardSummary {
                card_last4: "1111".into(),
                brand: CardBrand::Visa
            }
        );
        assert_eq!(format!("{card:?}"), "PaymentCard(****1111)");
    }

    #[test]
    fn the_luhn_check_catches_a_single_wrong_digit() {
        assert!(card("4111111111111111", "12/29").is_ok());
        let problems = card("4111111111111112", "12/29").unwrap_err();
        assert_eq!(
            problems,
            [CardProblem::Number(
                "is not a valid card number (Luhn check)"
            )]
        );
        assert!(passes_luhn("79927398713"));
        assert!(!passes_luhn("79927398710"));
    }

    #[test]
    fn bad_numbers_are_refused_without_echoing_them() {
        for (number, expected) in [
            ("4111-1111-1111-1111", "may contain only digits and spaces"),
            ("4111a11111111111", "may contain only digits and spaces"),
            ("41111111111", "must have 12 to 19 digits"),
            (&"4".repeat(25), "must have 12 to 19 digits"),
            ("", "must have 12 to 19 digits"),
        ] {
            assert_eq!(
                card(number, "12/29").unwrap_err(),
                [CardProblem::Number(expected)],
                "{number}"
            );
        }
    }

    #[test]
    fn the_expiry_is_mm_yy_and_in_the_future() {
        // Valid through the last day of the month: November 2026 is still good on the 23rd.
        assert!(card("4111111111111111", "11/26").is_ok());
        for (expiry, expected) in [
            ("10/26", "the card has expired"),
            ("12/25", "the card has expired"),
            ("13/29", "must be MM/YY, like 09/29"),
            ("00/29", "must be MM/YY, like 09/29"),
            ("1/29", "must be MM/YY, like 09/29"),
            ("12/2029", "must be MM/YY, like 09/29"),
            ("12-29", "must be MM/YY, like 09/29"),
            ("99/99", "must be MM/YY, like 09/29"),
            ("12/50", "is too far in the future"),
        ] {
            assert_eq!(
                card("4111111111111111", expiry).unwrap_err(),
                [CardProblem::Expiry(expected)],
                "{expiry}"
            );
        }
        let problems = card("123", "1/1").unwrap_err();
        assert_eq!(problems.len(), 2, "both fields are reported");
    }

    #[test]
    fn expiry_is_checked_again_at_fulfillment() {
        let card = card("4111111111111111", "11/26").unwrap();
        assert!(!card.is_expired_on(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()));
        assert!(card.is_expired_on(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()));
    }

    #[test]
    fn brands_come_from_the_leading_digits() {
        for (number, brand) in [
            ("4111111111111111", CardBrand::Visa),
            ("5555555555554444", CardBrand::Mastercard),
            ("2223003122003222", CardBrand::Mastercard),
            ("378282246310005", CardBrand::Amex),
            ("6011111111111117", CardBrand::Discover),
            ("3530111333300000", CardBrand::Unknown),
        ] {
            assert_eq!(
                card(number, "12/29").unwrap().summary().brand,
                brand,
                "{number}"
            );
        }
    }

    #[test]
    fn the_plaintext_round_trips() {
        let card = card("5555 5555 5555 4444", "03/31").unwrap();
        let bytes = card.to_plaintext();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"cardNumber":"5555555555554444","expiry":"03/31"}"#
        );
        assert_eq!(PaymentCard::from_plaintext(&bytes).unwrap(), card);
        assert!(PaymentCard::from_plaintext(b"not json").is_err());
    }
}
