//! What every answer of the API must be, whatever it was asked: checks shared by the tests that
//! send many requests. Each returns the problems it found (empty: none), so a test can report
//! them all at once.
//!
//! - No server error: bad input is a 4xx, always (DESIGN.md, HTTP contract).
//! - Every error in the one shape, `{"error": {"code", "message", "details"?}}` (with `current`
//!   beside it on a 412), the functions' (`shared/src/api.rs`) and API Gateway's own alike (the
//!   template's `GatewayResponses`), with a code that belongs to its status.
//! - No card number, nor more of one than its last four digits, in any answer.
//! - An order is consistent: a positive version that is its `ETag`, a known status, a total that
//!   is the sum of quantity x unit price, a card shown only as `{cardLast4, brand}`.

use serde_json::Value;

use super::api_client::Answer;

/// The error codes each status may carry: the app's (`AppError::code`) and the gateway
/// responses' of `template.yaml` (`DEFAULT_4XX` is `BadRequest`).
fn codes_of(status: u16) -> &'static [&'static str] {
    match status {
        400 => &["MalformedJson", "ValidationFailed", "BadRequest"],
        401 => &["Unauthorized"],
        403 => &["Forbidden", "InvalidApiKey"],
        404 => &["OrderNotFound", "RouteNotFound"],
        409 => &["InvalidStatusTransition", "ConcurrentRequest"],
        412 => &["VersionConflict"],
        413 => &["PayloadTooLarge", "BadRequest"],
        422 => &["IdempotencyKeyReused"],
        428 => &["PreconditionRequired"],
        429 => &["TooManyRequests", "QuotaExceeded"],
        500 | 502 => &["InternalError"],
        504 => &["GatewayTimeout"],
        _ => &["BadRequest"],
    }
}

const STATUSES: [&str; 5] = [
    "PLACED",
    "CONFIRMED",
    "SHIPPED",
    "PAYMENT_FAILED",
    "CANCELLED",
];
const BRANDS: [&str; 5] = ["visa", "mastercard", "amex", "discover", "unknown"];
const ORDER_FIELDS: [&str; 11] = [
    "orderId",
    "customerId",
    "items",
    "totalCents",
    "status",
    "version",
    "createdAt",
    "updatedAt",
    "note",
    "shippingAddress",
    "payment",
];

/// The problems of any answer: a server error, an error out of shape, a card number in it.
/// `has_body`: false for `HEAD`, whose answers carry none.
pub fn answer_problems(answer: &Answer, has_body: bool, cards: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let status = answer.status.as_u16();
    if status >= 500 {
        problems.push(format!("a server error: {status}"));
    }
    if answer.header("access-control-allow-origin").is_none() {
        problems.push("no Access-Control-Allow-Origin".into());
    }
    if status >= 400 && has_body {
        problems.extend(error_shape_problems(status, answer));
    }
    problems.extend(card_problems(answer, cards));
    problems
}

fn error_shape_problems(status: u16, answer: &Answer) -> Vec<String> {
    let mut problems = Vec::new();
    if answer.header("content-type") != Some("application/json") {
        problems.push(format!(
            "an error of content-type {:?}",
            answer.header("content-type")
        ));
    }
    let Some(Value::Object(body)) = answer.json() else {
        return vec!["an error body that is no JSON object".into()];
    };
    let allowed_keys: &[&str] = if status == 412 {
        &["error", "current"]
    } else {
        &["error"]
    };
    if let Some(extra) = body.keys().find(|k| !allowed_keys.contains(&k.as_str())) {
        problems.push(format!("an error body with `{extra}`"));
    }
    let Some(Value::Object(error)) = body.get("error") else {
        return vec!["no `error` object".into()];
    };
    if let Some(extra) = error
        .keys()
        .find(|k| !["code", "message", "details"].contains(&k.as_str()))
    {
        problems.push(format!("an error with `{extra}`"));
    }
    match error.get("code").and_then(Value::as_str) {
        Some(code) if codes_of(status).contains(&code) => {}
        code => problems.push(format!("code {code:?} for status {status}")),
    }
    match error.get("message").and_then(Value::as_str) {
        Some(message) if !message.is_empty() => {
            // No internal detail reaches a client: no ARN, SDK message or panic.
            let leaks = [
                "arn:aws",
                "dispatch failure",
                "panicked",
                "Traceback",
                "ServiceError",
            ];
            if let Some(leak) = leaks.iter().find(|leak| message.contains(**leak)) {
                problems.push(format!(
                    "a message with an internal detail ({leak}): {message}"
                ));
            }
        }
        _ => problems.push("no message".into()),
    }
    if let Some(details) = error.get("details") {
        let well_formed = details.as_array().is_some_and(|details| {
            details.iter().all(|detail| {
                detail.as_object().is_some_and(|d| {
                    d.len() == 2 && d["field"].is_string() && d["message"].is_string()
                })
            })
        });
        if !well_formed {
            problems.push(format!(
                "details not a list of {{field, message}}: {details}"
            ));
        }
    }
    if status == 412 {
        match body.get("current") {
            Some(current) => problems.extend(order_problems(current)),
            None => problems.push("a 412 without the current order".into()),
        }
    }
    problems
}

/// A card number, or more than its last four digits, anywhere in the answer: its headers and
/// body as text (the whole number, as sent or as digits), and every string of its JSON but ids
/// and timestamps (the last five digits or more; random UUIDs hold digit runs by chance).
fn card_problems(answer: &Answer, cards: &[&str]) -> Vec<String> {
    let mut text = String::from_utf8_lossy(&answer.body).into_owned();
    for (name, value) in &answer.headers {
        text.push_str(&format!(
            "\n{name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let body = answer.json().unwrap_or_default();
    let mut strings = Vec::new();
    collect_strings(&body, &mut strings);
    let mut problems = Vec::new();
    for card in cards {
        let digits: String = card.chars().filter(char::is_ascii_digit).collect();
        if text.contains(card) || text.contains(&digits) {
            problems.push(format!("card number {card} in the answer"));
            continue;
        }
        let last5 = &digits[digits.len() - 5..];
        if strings
            .iter()
            .any(|s| digit_runs(s).any(|run| run.contains(last5)))
        {
            problems.push(format!(
                "more than the last four digits of {card} in the answer"
            ));
        }
    }
    problems
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) if !is_id_or_time(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(fields) => fields.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// A UUID or an RFC 3339 timestamp: the API's own values, never a client's.
fn is_id_or_time(text: &str) -> bool {
    let uuid = text.len() == 36 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let time = text.len() == 24 && text.ends_with('Z') && text.as_bytes().get(10) == Some(&b'T');
    uuid || time
}

/// The runs of digits in `text`, a single space or dash between two digits joining them (as a
/// card number is written), returned as digits only.
fn digit_runs(text: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = text.chars().collect();
    let mut runs = Vec::new();
    let mut run = String::new();
    for (i, c) in chars.iter().enumerate() {
        let joins = matches!(c, ' ' | '-')
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() {
            run.push(*c);
        } else if !joins && !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs.into_iter()
}

/// The problems of an order as the API shows it.
pub fn order_problems(order: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(fields) = order.as_object() else {
        return vec![format!("an order that is no object: {order}")];
    };
    if let Some(extra) = fields.keys().find(|k| !ORDER_FIELDS.contains(&k.as_str())) {
        problems.push(format!("an order with `{extra}`"));
    }
    if !order["orderId"].as_str().is_some_and(is_id_or_time) {
        problems.push(format!("orderId {}", order["orderId"]));
    }
    if order["version"].as_u64().is_none_or(|v| v < 1) {
        problems.push(format!("version {}", order["version"]));
    }
    if !order["status"]
        .as_str()
        .is_some_and(|s| STATUSES.contains(&s))
    {
        problems.push(format!("status {}", order["status"]));
    }
    let items = order["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !(1..=100).contains(&items.len()) {
        problems.push(format!("{} items", items.len()));
    }
    // u128: the check itself cannot overflow, whatever the API answered.
    let mut total: u128 = 0;
    for item in items {
        match (item["quantity"].as_u64(), item["unitPriceCents"].as_u64()) {
            (Some(quantity @ 1..=1000), Some(price @ 0..=100_000_000)) => {
                total += u128::from(quantity) * u128::from(price);
            }
            _ => problems.push(format!("an item out of range: {item}")),
        }
    }
    if order["totalCents"].as_u64().map(u128::from) != Some(total) {
        problems.push(format!(
            "totalCents {} for items worth {total}",
            order["totalCents"]
        ));
    }
    let payment = &order["payment"];
    let last4 = payment["cardLast4"].as_str().unwrap_or_default();
    let summary_only = payment.as_object().is_some_and(|p| p.len() == 2)
        && last4.len() == 4
        && last4.bytes().all(|b| b.is_ascii_digit())
        && payment["brand"]
            .as_str()
            .is_some_and(|b| BRANDS.contains(&b));
    if !summary_only {
        problems.push(format!("payment {payment}"));
    }
    problems
}

/// The problems of an answer that carries an order: the order's, and an `ETag` that is not its
/// version.
pub fn order_answer_problems(answer: &Answer, order: &Value) -> Vec<String> {
    let mut problems = order_problems(order);
    let etag = format!("\"{}\"", order["version"]);
    if answer.header("etag") != Some(etag.as_str()) {
        problems.push(format!(
            "ETag {:?} for version {}",
            answer.header("etag"),
            order["version"]
        ));
    }
    problems
}
