//! Unit tests of `input.rs`.

use super::*;
use serde_json::json;

fn fields_of(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn customer() -> CustomerId {
    CustomerId::parse("c-1").unwrap()
}

fn parse(body: &Value) -> Result<NewOrder, Vec<FieldError>> {
    NewOrder::parse(body, customer(), today())
}

fn valid_body() -> Value {
    json!({
        "items": [{"sku": "BOOK-1", "quantity": 2, "unitPriceCents": 1250}],
        "payment": {"cardNumber": "4111 1111 1111 1111", "expiry": "12/29"},
        "note": "leave at the door",
        "shippingAddress": {"name": "Ada", "line1": "1 Way", "city": "London",
                            "postalCode": "SW1", "country": "GB"}
    })
}

#[test]
fn a_valid_order_parses() {
    let order = parse(&valid_body()).unwrap();
    assert_eq!(order.customer_id.as_str(), "c-1");
    assert_eq!(order.items.len(), 1);
    assert_eq!(order.items[0].quantity, 2);
    assert_eq!(order.note.as_deref(), Some("leave at the door"));
    assert_eq!(order.shipping_address.unwrap().country, "GB");
}

#[test]
fn the_customer_is_the_caller_and_a_body_cannot_name_another() {
    let order = parse(&valid_body()).unwrap();
    assert_eq!(order.customer_id, customer());
    let mut body = valid_body();
    body["customerId"] = json!("c-2");
    let errors = parse(&body).unwrap_err();
    assert_eq!(fields_of(&errors), vec!["customerId"]);
    assert!(
        errors[0].message.contains("signed-in customer"),
        "{errors:?}"
    );
}

#[test]
fn every_bad_field_is_reported_at_once() {
    let body = json!({
        "customerId": 5,
        "items": [
            {"sku": "OK-1", "quantity": 0, "unitPriceCents": -1},
            {"sku": "bad sku", "quantity": "two"},
            "not an object"
        ],
        "note": 7,
        "colour": "red"
    });
    let errors = parse(&body).unwrap_err();
    assert_eq!(
        fields_of(&errors),
        vec![
            "colour",
            "customerId",
            "items[0].quantity",
            "items[0].unitPriceCents",
            "items[1].sku",
            "items[1].quantity",
            "items[1].unitPriceCents",
            "items[2]",
            "note",
            "payment",
        ]
    );
    assert_eq!(errors[0].message, "is not a known field");
    assert_eq!(errors[6].message, "is required");
}

#[test]
fn item_counts_are_limited() {
    let mut body = valid_body();
    body["items"] = json!([]);
    assert_eq!(fields_of(&parse(&body).unwrap_err()), vec!["items"]);
    let item = json!({"sku": "A", "quantity": 1, "unitPriceCents": 1});
    body["items"] = Value::Array(vec![item.clone(); 101]);
    assert_eq!(fields_of(&parse(&body).unwrap_err()), vec!["items"]);
    body["items"] = Value::Array(vec![item; 100]);
    assert!(parse(&body).is_ok());
}

#[test]
fn required_fields_are_named() {
    let errors = parse(&json!({})).unwrap_err();
    assert_eq!(fields_of(&errors), vec!["items", "payment"]);
    let body = json!({"items": null, "payment": null});
    let errors = parse(&body).unwrap_err();
    assert_eq!(fields_of(&errors), vec!["items", "payment"]);
}

#[test]
fn a_body_that_is_not_an_object_is_one_error() {
    for body in [json!([]), json!("order"), json!(3), Value::Null] {
        assert_eq!(fields_of(&parse(&body).unwrap_err()), vec!["body"]);
    }
}

#[test]
fn the_card_is_required_and_checked_field_by_field() {
    let mut body = valid_body();
    body.as_object_mut().unwrap().remove("payment");
    let errors = parse(&body).unwrap_err();
    assert_eq!(fields_of(&errors), vec!["payment"]);

    let cases = [
        (json!("4111111111111111"), vec!["payment"]),
        (
            json!({"cardNumber": "4111111111111111"}),
            vec!["payment.expiry"],
        ),
        (
            json!({"cardNumber": 4111111111111111_u64, "expiry": "12/29"}),
            vec!["payment.cardNumber"],
        ),
        (
            json!({"cardNumber": "4111111111111112", "expiry": "10/26"}),
            vec!["payment.cardNumber", "payment.expiry"],
        ),
        (
            json!({"cardNumber": "4111111111111111", "expiry": "12/29", "cvv": "123"}),
            vec!["payment.cvv"],
        ),
    ];
    for (payment, expected) in cases {
        body["payment"] = payment.clone();
        let errors = parse(&body).unwrap_err();
        assert_eq!(fields_of(&errors), expected, "{payment}");
        for error in &errors {
            assert!(!error.message.contains("4111"), "never echo card data");
        }
    }
}

#[test]
fn the_parsed_card_keeps_its_number_out_of_debug_output() {
    let order = parse(&valid_body()).unwrap();
    assert_eq!(order.payment.summary().card_last4, "1111");
    let debug = format!("{order:?}");
    assert!(!debug.contains("41111111"), "{debug}");
}

#[test]
fn addresses_are_checked_field_by_field() {
    let mut body = valid_body();
    body["shippingAddress"] = json!({"name": "", "line1": "1 Way", "country": "gb"});
    let errors = parse(&body).unwrap_err();
    assert_eq!(
        fields_of(&errors),
        vec![
            "shippingAddress.name",
            "shippingAddress.city",
            "shippingAddress.postalCode",
            "shippingAddress.country",
        ]
    );
}

#[test]
fn a_list_query_has_a_bounded_limit_and_may_name_a_customer() {
    let query = ListQuery::parse(None, None).unwrap();
    assert_eq!((query.customer_id, query.limit), (None, DEFAULT_PAGE_SIZE));
    let query = ListQuery::parse(Some("c-1"), Some("100")).unwrap();
    assert_eq!((query.customer_id, query.limit), (Some(customer()), 100));
    let errors = ListQuery::parse(Some("not a customer"), Some("0")).unwrap_err();
    assert_eq!(fields_of(&errors), vec!["customerId", "limit"]);
    for bad in ["101", "ten", "-1", ""] {
        assert!(ListQuery::parse(Some("c-1"), Some(bad)).is_err(), "{bad}");
    }
}

#[test]
fn a_patch_sets_or_removes_fields() {
    let patch = OrderPatch::parse(&json!({"note": null, "items": [
        {"sku": "A", "quantity": 3, "unitPriceCents": 100}]}))
    .unwrap();
    assert_eq!(patch.note, Some(None));
    assert_eq!(patch.items.unwrap()[0].quantity, 3);
    assert_eq!(patch.shipping_address, None);
}

#[test]
fn a_patch_cannot_touch_server_owned_fields() {
    let errors = OrderPatch::parse(
        &json!({"status": "SHIPPED", "version": 9, "totalCents": 1, "items": null}),
    )
    .unwrap_err();
    assert_eq!(
        fields_of(&errors),
        vec!["status", "totalCents", "version", "items"]
    );
    let errors = OrderPatch::parse(&json!({})).unwrap_err();
    assert_eq!(fields_of(&errors), vec!["body"]);
}
