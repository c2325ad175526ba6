//! The fuzz test's checks (`support/answer_checks.rs`) catch what they look for: a check that
//! cannot fail proves nothing. No stack is needed: answers are made by hand.

use crate::support;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use support::answer_checks::{answer_problems, order_answer_problems};
use support::api_client::Answer;

const CARD: &str = "4539148803436467";

fn answer(status: u16, body: &Value, etag: Option<&str>) -> Answer {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    if let Some(etag) = etag {
        headers.insert("etag", HeaderValue::from_str(etag).unwrap());
    }
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: body.to_string().into_bytes(),
    }
}

fn order() -> Value {
    json!({
        "orderId": "01a22930-04b4-73e8-b9b9-d5bebf812834",
        "customerId": "c1c56281-ffab-49e4-a1eb-ca1f211d75f9",
        "items": [{"sku": "BOOK-1", "quantity": 2, "unitPriceCents": 1250}],
        "totalCents": 2500,
        "status": "PLACED",
        "version": 3,
        "createdAt": "2026-11-29T21:15:00.000Z",
        "updatedAt": "2026-11-29T21:15:00.000Z",
        "payment": {"cardLast4": "6467", "brand": "visa"},
    })
}

fn problems(answer: &Answer) -> Vec<String> {
    answer_problems(answer, true, &[CARD])
}

#[test]
fn well_formed_answers_pass() {
    let error = json!({"error": {"code": "ValidationFailed", "message": "the request has invalid fields",
                                 "details": [{"field": "payment.cardNumber", "message": "fails the check"}]}});
    assert_eq!(problems(&answer(400, &error, None)), Vec::<String>::new());
    let created = answer(201, &order(), Some("\"3\""));
    assert_eq!(problems(&created), Vec::<String>::new());
    assert_eq!(
        order_answer_problems(&created, &order()),
        Vec::<String>::new()
    );
}

#[test]
fn server_errors_and_errors_out_of_shape_are_caught() {
    let internal =
        json!({"error": {"code": "InternalError", "message": "an internal error occurred"}});
    let cases = [
        (502, internal),
        (400, json!({"message": "Bad Request"})),
        (
            400,
            json!({"error": {"code": "OrderNotFound", "message": "x"}}),
        ),
        (
            404,
            json!({"error": {"code": "OrderNotFound", "message": "x", "stack": "..."}}),
        ),
        (
            404,
            json!({"error": {"code": "OrderNotFound", "message": "x"}, "extra": 1}),
        ),
        (409, json!({"error": {"code": "ConcurrentRequest"}})),
        (
            400,
            json!({"error": {"code": "BadRequest", "message": "arn:aws:dynamodb:us-east-1"}}),
        ),
        (
            400,
            json!({"error": {"code": "ValidationFailed", "message": "x", "details": ["a"]}}),
        ),
        (
            412,
            json!({"error": {"code": "VersionConflict", "message": "x"}}),
        ),
    ];
    for (status, body) in cases {
        assert!(
            !problems(&answer(status, &body, None)).is_empty(),
            "{status} {body}"
        );
    }
}

#[test]
fn a_card_number_or_more_than_its_last_four_digits_is_caught() {
    for echoed in [
        CARD,
        "4539 1488 0343 6467",
        "card ending 36467",
        "...3436467",
    ] {
        let body = json!({"error": {"code": "BadRequest", "message": echoed}});
        assert!(!problems(&answer(400, &body, None)).is_empty(), "{echoed}");
    }
    // The last four digits are what an order shows; ids and timestamps hold digits by chance.
    let mut shown = order();
    shown["orderId"] = json!("01a22930-04b4-73e8-b9b9-36467bf81283");
    assert_eq!(
        problems(&answer(200, &shown, Some("\"3\""))),
        Vec::<String>::new()
    );
}

#[test]
fn inconsistent_orders_are_caught() {
    let mut wrong_total = order();
    wrong_total["totalCents"] = json!(2499);
    let mut zero_version = order();
    zero_version["version"] = json!(0);
    let mut odd_status = order();
    odd_status["status"] = json!("LOST");
    let mut whole_card = order();
    whole_card["payment"]["cardNumber"] = json!(CARD);
    let mut too_many = order();
    too_many["items"][0]["quantity"] = json!(1001);
    for order in [wrong_total, zero_version, odd_status, whole_card, too_many] {
        let answer = answer(200, &order, Some("\"3\""));
        assert!(
            !order_answer_problems(&answer, &order).is_empty(),
            "{order}"
        );
    }
    let stale_etag = answer(200, &order(), Some("\"2\""));
    assert!(!order_answer_problems(&stale_etag, &order()).is_empty());
}
