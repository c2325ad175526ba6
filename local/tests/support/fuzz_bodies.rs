//! Request bodies for the fuzz test: a valid order or patch, then mutated the ways clients and
//! attackers get JSON wrong: a field removed, replaced by another type, a number no integer type
//! holds, an unknown or forbidden field, too many items, then the bytes themselves truncated,
//! corrupted, not UTF-8, nested too deep or over the 64 KiB limit.
//!
//! Card numbers go only into `payment` (a field the API must never echo): free text such as a
//! note is the customer's own and comes back by design, so a card typed there proves nothing.

use serde_json::{Map, Value, json};

use super::prng::Prng;

/// Every card number the fuzz sends; none may ever come back. Valid test numbers of each
/// brand, the same with spaces and dashes, and near-misses (bad check digit, too short, too long).
pub const CARD_NUMBERS: [&str; 10] = [
    "4539148803436467",
    "4539 1488 0343 6467",
    "4539-1488-0343-6467",
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
    "4539148803436468",
    "453914880343646",
    "45391488034364671234",
];

/// The numbers of `CARD_NUMBERS` that make a valid payment.
const VALID_CARD_NUMBERS: [&str; 6] = [
    "4539148803436467",
    "4539 1488 0343 6467",
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
];

/// Numbers as JSON text, for the values `serde_json::Value` cannot hold (beyond u64, beyond
/// f64) and the edges of the ones it can.
const ODD_NUMBERS: [&str; 18] = [
    "0",
    "-1",
    "-0",
    "1.5",
    "1e3",
    "1000.0",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234567890",
    "1e308",
    "-1e308",
    "1e400",
    "1e-400",
    "4539148803436467",
    "0.1",
];

/// A value that `raw_json` writes as the JSON text after the prefix, unquoted.
const RAW: &str = "@raw:";

/// A body as sent: bytes, which may not be JSON.
pub fn bytes_of(body: &Value, rng: &mut Prng) -> Vec<u8> {
    let text = raw_json(body);
    if rng.percent(75) {
        return text.into_bytes();
    }
    let mut bytes = text.into_bytes();
    match rng.below(11) {
        0 => bytes.truncate(rng.below(bytes.len().max(1))),
        1 => {
            let at = rng.below(bytes.len().max(1));
            if let Some(byte) = bytes.get_mut(at) {
                *byte = *rng.pick(b"{}[]\",:\\0 x");
            }
        }
        2 => bytes.splice(0..0, [0xFF, 0xFE]).for_each(drop),
        3 => bytes.splice(0..0, "\u{feff}".bytes()).for_each(drop),
        4 => bytes = format!("[{}]", String::from_utf8_lossy(&bytes)).into_bytes(),
        5 => {
            bytes = rng
                .pick(&["", "  \n", "null", "\"order\"", "42", "{}"])
                .as_bytes()
                .to_vec()
        }
        6 => {
            let depth = rng.pick(&[100, 129, 5000]);
            bytes = format!("{}{}", "[".repeat(*depth), "]".repeat(*depth)).into_bytes();
        }
        // Over the API's 64 KiB, and just under it.
        7 => bytes.extend(std::iter::repeat_n(b' ', 64 * 1024)),
        8 => bytes.extend(std::iter::repeat_n(b' ', 60 * 1024)),
        // The same key twice: JSON allows it, and the last one wins.
        9 if bytes.first() == Some(&b'{') => {
            bytes.splice(1..1, *br#""items":"first","#);
        }
        _ => bytes.extend_from_slice(b"}garbage"),
    }
    bytes
}

/// A valid new order: 1 to 3 items, a valid card, sometimes a note and an address.
pub fn new_order(rng: &mut Prng) -> Value {
    let mut order = json!({
        "items": items(rng),
        "payment": {
            "cardNumber": *rng.pick(&VALID_CARD_NUMBERS),
            "expiry": *rng.pick(&["12/35", "01/31", "06/30"]),
        },
    });
    if rng.percent(30) {
        order["note"] = note(rng);
    }
    if rng.percent(30) {
        order["shippingAddress"] = address(rng);
    }
    order
}

/// A valid patch: one or more of items, note, address (`null` removes the last two).
pub fn patch(rng: &mut Prng) -> Value {
    let mut patch = Map::new();
    while patch.is_empty() {
        if rng.percent(40) {
            patch.insert("items".into(), items(rng));
        }
        if rng.percent(50) {
            patch.insert("note".into(), removal_or(note, rng));
        }
        if rng.percent(30) {
            patch.insert("shippingAddress".into(), removal_or(address, rng));
        }
    }
    Value::Object(patch)
}

/// A patch's value for an optional field: `null` (remove it) a fifth of the time, else a new one.
fn removal_or(value: fn(&mut Prng) -> Value, rng: &mut Prng) -> Value {
    if rng.percent(20) {
        Value::Null
    } else {
        value(rng)
    }
}

/// `body`, with up to three mutations (none a third of the time).
pub fn mutated(mut body: Value, rng: &mut Prng) -> Value {
    let mutations = *rng.pick(&[0, 0, 1, 1, 2, 3]);
    for _ in 0..mutations {
        // Few orders of 100 lines: moto takes about a second to return a page of them (its
        // Query copies and serialises every item in Python), which a 2 s SDK attempt timeout
        // turns into a 503 on a busy machine. DynamoDB returns such a page in milliseconds.
        match rng.weighted(&[30, 15, 15, 15, 8, 2, 7]) {
            0 => replace_somewhere(&mut body, rng),
            1 => remove_somewhere(&mut body, rng),
            2 => add_field(&mut body, rng),
            3 => {
                let payment = json!({"cardNumber": card_value(rng), "expiry": expiry(rng)});
                set_field(&mut body, "payment", payment);
            }
            4 => {
                let items = vec![item(rng); *rng.pick(&[0, 101, 1000])];
                set_field(&mut body, "items", Value::Array(items));
            }
            // The largest order there is: 100 x 1,000 x 10^8 cents (10^13: a u64 holds it).
            5 => {
                let line = json!({"sku": "GOLD", "quantity": 1000, "unitPriceCents": 100_000_000});
                set_field(&mut body, "items", Value::Array(vec![line; 100]));
            }
            _ => body = odd_value(rng),
        }
    }
    body
}

/// Sets a field of `body`, if it is still an object.
fn set_field(body: &mut Value, name: &str, value: Value) {
    if let Value::Object(fields) = body {
        fields.insert(name.into(), value);
    }
}

/// Writes `value` as JSON, with the `RAW` strings as the numbers they hold.
fn raw_json(value: &Value) -> String {
    let text = serde_json::to_string(value).expect("a Value serialises");
    let raw = regex::Regex::new(&format!("\"{RAW}([^\"]*)\"")).unwrap();
    raw.replace_all(&text, "$1").into_owned()
}

fn items(rng: &mut Prng) -> Value {
    let count = rng.between(1, 3) as usize;
    Value::Array((0..count).map(|_| item(rng)).collect())
}

fn item(rng: &mut Prng) -> Value {
    let quantity = if rng.percent(5) {
        1000
    } else {
        rng.between(1, 5)
    };
    let price = if rng.percent(5) {
        100_000_000
    } else {
        rng.between(0, 5000)
    };
    json!({
        "sku": *rng.pick(&["BOOK-1", "PEN-2", "MUG-3", "CAP_4", "a.b-c"]),
        "quantity": quantity,
        "unitPriceCents": price,
    })
}

fn note(rng: &mut Prng) -> Value {
    let notes = [
        "leave at the door",
        "gift wrap, please",
        "",
        "été ☃ 🎁",
        "<b>x</b>",
    ];
    json!(*rng.pick(&notes))
}

fn address(rng: &mut Prng) -> Value {
    let mut address = json!({
        "name": "Ada Lovelace",
        "line1": "12 St James's Square",
        "city": "London",
        "postalCode": "SW1Y 4JH",
        "country": *rng.pick(&["GB", "FR", "DE"]),
    });
    if rng.percent(30) {
        address["line2"] = json!("Flat 2");
    }
    address
}

/// A card number as a client might send it: any of the known numbers, or of the wrong type.
fn card_value(rng: &mut Prng) -> Value {
    match rng.below(6) {
        0 => json!(format!("{RAW}4539148803436467")),
        1 => Value::Null,
        2 => json!(["4539148803436467"]),
        _ => json!(*rng.pick(&CARD_NUMBERS)),
    }
}

fn expiry(rng: &mut Prng) -> Value {
    let expiries = [
        "12/35", "13/30", "00/30", "12/20", "1/30", "12/2035", "", "12/", "aa/bb",
    ];
    match rng.below(8) {
        0 => json!(1235),
        _ => json!(*rng.pick(&expiries)),
    }
}

/// Any JSON value a field should not hold.
fn odd_value(rng: &mut Prng) -> Value {
    match rng.below(12) {
        0 => Value::Null,
        1 => json!(rng.percent(50)),
        2..=5 => json!(format!("{RAW}{}", rng.pick(&ODD_NUMBERS))),
        6 => json!(*rng.pick(&["", "gb", "GBR", "ZZ"])),
        7 => json!("x".repeat(*rng.pick(&[65, 1001, 20_000]))),
        8 => json!("é\u{0}\u{202e}🎁"),
        9 => json!([]),
        10 => json!({}),
        _ => json!([{"sku": null}, 1, "two"]),
    }
}

/// Every JSON pointer into `value` but its root.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(fields) => fields.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (step, child) in children {
        let pointer = format!("{at}/{step}");
        out.push(pointer.clone());
        pointers(child, pointer, out);
    }
}

fn random_pointer(value: &Value, rng: &mut Prng) -> Option<String> {
    let mut all = Vec::new();
    pointers(value, String::new(), &mut all);
    (!all.is_empty()).then(|| rng.pick(&all).clone())
}

fn replace_somewhere(body: &mut Value, rng: &mut Prng) {
    let replacement = odd_value(rng);
    if let Some(pointer) = random_pointer(body, rng)
        && let Some(slot) = body.pointer_mut(&pointer)
    {
        *slot = replacement;
    }
}

fn remove_somewhere(body: &mut Value, rng: &mut Prng) {
    let Some(pointer) = random_pointer(body, rng) else {
        return;
    };
    let (parent, last) = pointer.rsplit_once('/').expect("a pointer has a slash");
    match body.pointer_mut(parent) {
        Some(Value::Object(fields)) => {
            fields.remove(last);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = last.parse::<usize>() {
                items.remove(index);
            }
        }
        _ => {}
    }
}

/// A field the API must refuse (it names the order's owner or a computed value) or not know.
fn add_field(body: &mut Value, rng: &mut Prng) {
    let (name, value) = rng
        .pick(&[
            ("customerId", json!("somebody-else")),
            ("totalCents", json!(1)),
            ("status", json!("SHIPPED")),
            ("version", json!(format!("{RAW}18446744073709551615"))),
            ("orderId", json!("0194a3f2-7c1e-7b3a-9d2e-5f6a7b8c9d0e")),
            ("cardNumber", json!("4539148803436467")),
            ("__proto__", json!({"admin": true})),
        ])
        .clone();
    let target = if rng.percent(50) {
        Some(&mut *body)
    } else {
        random_pointer(body, rng).and_then(|pointer| body.pointer_mut(&pointer))
    };
    if let Some(Value::Object(fields)) = target {
        fields.insert(name.into(), value);
    }
}
