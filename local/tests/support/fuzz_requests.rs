//! Requests for the fuzz test, over every route of the API and beside them: wrong methods,
//! unknown paths, the CORS preflight; odd `If-Match`, `Idempotency-Key` and `Content-Type`
//! headers; ids that are no UUID, or far too long; query strings with limits no `u32` holds,
//! forged page tokens and other customers' ids. Bodies come from [`super::fuzz_bodies`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;

use super::api_client::ApiRequest;
use super::fuzz_bodies;
use super::prng::Prng;

/// An order the fuzz created, as last seen.
#[derive(Debug, Clone)]
pub struct KnownOrder {
    pub id: String,
    pub owner: String,
    pub version: u64,
}

/// What the generator may refer to: the orders so far, the customers, the last page token seen.
pub struct Context<'a> {
    pub orders: &'a [KnownOrder],
    pub customers: &'a [String],
    pub next_token: Option<&'a str>,
}

/// The route a request was generated for: what its answer is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aim {
    Create,
    Get,
    List,
    Patch,
    Cancel,
    WrongMethod,
    UnknownPath,
    Preflight,
}

/// One generated request, and what it was aimed at.
pub fn request(rng: &mut Prng, context: &Context) -> (Aim, ApiRequest) {
    let aims = [
        (Aim::Create, 28),
        (Aim::Get, 14),
        (Aim::List, 12),
        (Aim::Patch, 16),
        (Aim::Cancel, 8),
        (Aim::WrongMethod, 8),
        (Aim::UnknownPath, 8),
        (Aim::Preflight, 3),
    ];
    let weights: Vec<usize> = aims.iter().map(|(_, weight)| *weight).collect();
    let aim = aims[rng.weighted(&weights)].0;
    let request = match aim {
        Aim::Create => create(rng),
        Aim::Get => {
            let query = get_query(rng);
            ApiRequest::new(
                Method::GET,
                format!("/orders/{}{query}", order_ref(rng, context)),
            )
        }
        Aim::List => ApiRequest::new(Method::GET, format!("/orders{}", list_query(rng, context))),
        Aim::Patch => {
            let (id, version) = order_and_version(rng, context);
            let body = fuzz_bodies::mutated(fuzz_bodies::patch(rng), rng);
            let request = ApiRequest::new(Method::PATCH, format!("/orders/{id}"))
                .body(fuzz_bodies::bytes_of(&body, rng));
            with_if_match(with_content_type(request, rng), version, rng)
        }
        Aim::Cancel => {
            let (id, version) = order_and_version(rng, context);
            let mut request = ApiRequest::new(Method::POST, format!("/orders/{id}/cancel"));
            if rng.percent(15) {
                request = request.body(fuzz_bodies::bytes_of(&fuzz_bodies::patch(rng), rng));
            }
            with_if_match(request, version, rng)
        }
        Aim::WrongMethod => wrong_method(rng, context),
        Aim::UnknownPath => {
            let id = order_ref(rng, context);
            let paths = [
                "/customers".to_owned(),
                "/order".into(),
                "/ORDERS".into(),
                "/".into(),
                "/orders/".into(),
                format!("/orders/{id}/items"),
                format!("/orders/{id}/cancel/now"),
                "/dev/orders".into(),
                "/orders//cancel".into(),
                format!("/{}", "a".repeat(3000)),
            ];
            let method = rng
                .pick(&[Method::GET, Method::POST, Method::PATCH])
                .clone();
            ApiRequest::new(method, rng.pick(&paths).clone())
        }
        Aim::Preflight => {
            let path = format!("/orders/{}", order_ref(rng, context));
            let path = rng.pick(&["/orders".to_owned(), path]).clone();
            let method = rng.pick(&[Method::OPTIONS, Method::HEAD]).clone();
            ApiRequest::new(method, path)
                .header("origin", "https://shop.example")
                .header("access-control-request-method", "PATCH")
        }
    };
    (aim, request)
}

/// `POST /orders`: a (mutated) order, a content type, sometimes an `Idempotency-Key`.
fn create(rng: &mut Prng) -> ApiRequest {
    let body = fuzz_bodies::mutated(fuzz_bodies::new_order(rng), rng);
    let mut request =
        ApiRequest::new(Method::POST, "/orders").body(fuzz_bodies::bytes_of(&body, rng));
    request = with_content_type(request, rng);
    if rng.percent(35) {
        request = request.header("idempotency-key", idempotency_key(rng));
    }
    request
}

/// A fresh key most of the time; else one a client should not send.
pub fn idempotency_key(rng: &mut Prng) -> Vec<u8> {
    if rng.percent(70) {
        return format!("key-{:016x}", rng.next_u64()).into_bytes();
    }
    let odd: [&[u8]; 9] = [
        b"",
        b" ",
        b"a b",
        b"#",
        b"IDEMPOTENCY#x#y",
        "\u{e9}t\u{e9}".as_bytes(),
        b"\xff\xfe",
        b"4539148803436467",
        b"\t",
    ];
    match rng.below(4) {
        0 => vec![b'k'; *rng.pick(&[128, 129, 5000])],
        _ => rng.pick(&odd).to_vec(),
    }
}

fn with_content_type(request: ApiRequest, rng: &mut Prng) -> ApiRequest {
    if rng.percent(75) {
        return request.header("content-type", "application/json");
    }
    let types = [
        "text/plain",
        "application/json; charset=utf-8",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "",
    ];
    match rng.below(5) {
        0 => request,
        _ => request.header("content-type", *rng.pick(&types)),
    }
}

/// `If-Match` in every form RFC 9110 allows and many it does not; absent now and then (428).
fn with_if_match(request: ApiRequest, version: u64, rng: &mut Prng) -> ApiRequest {
    let variants = [
        format!("\"{version}\""),
        format!("\"{version}\""),
        version.to_string(),
        "*".into(),
        format!("W/\"{version}\""),
        format!("\"{}\"", version.saturating_sub(1)),
        format!("\"{}\"", version.saturating_add(1)),
        format!("\"1\", \"{version}\""),
        "\"abc\"".into(),
        String::new(),
        ",".into(),
        "\"18446744073709551615\"".into(),
        "\"18446744073709551616\"".into(),
        "\"-1\"".into(),
        "-1".into(),
        vec!["\"1\""; 101].join(", "),
        "\"1\" \"2\"".into(),
    ];
    match rng.below(12) {
        0 => request,
        1 => request.header("if-match", b"\"\xe9\"".to_vec()),
        _ => request.header("if-match", rng.pick(&variants).clone()),
    }
}

/// An id for a path: a known order (anyone's) half the time, else one that names none.
fn order_ref(rng: &mut Prng, context: &Context) -> String {
    if !context.orders.is_empty() && rng.percent(55) {
        let id = &rng.pick(context.orders).id;
        return match rng.below(10) {
            0 => id.to_uppercase(),
            1 => id.replace('-', ""),
            2 => format!("urn:uuid:{id}"),
            _ => id.clone(),
        };
    }
    let random = format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64());
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &random[..8],
        &random[8..12],
        &random[12..16],
        &random[16..20],
        &random[20..]
    );
    let odd = [
        uuid.clone(),
        uuid,
        "not-a-uuid".into(),
        "00000000-0000-0000-0000-000000000000".into(),
        "x".repeat(4000),
        "%00".into(),
        "%2e%2e".into(),
        "..%2fadmin".into(),
        "%E9t%E9".into(),
        "ORDER%23x".into(),
        "4539148803436467".into(),
    ];
    rng.pick(&odd).clone()
}

fn order_and_version(rng: &mut Prng, context: &Context) -> (String, u64) {
    match context.orders {
        orders if !orders.is_empty() && rng.percent(80) => {
            let order = rng.pick(orders);
            (order.id.clone(), order.version)
        }
        _ => (order_ref(rng, context), 1),
    }
}

fn get_query(rng: &mut Prng) -> String {
    let consistent = ["true", "false", "TRUE", "yes", "", "1"];
    match rng.below(4) {
        0 => format!("?consistent={}", rng.pick(&consistent)),
        1 if rng.percent(30) => "?consistent=true&consistent=false".into(),
        _ => String::new(),
    }
}

/// `?limit=&nextToken=&customerId=` in any combination, with values of every kind.
fn list_query(rng: &mut Prng, context: &Context) -> String {
    let limits = [
        "1",
        "20",
        "100",
        "0",
        "-1",
        "101",
        "abc",
        "",
        "1e3",
        " 5",
        "4294967296",
        "18446744073709551616",
    ];
    let mut tokens = vec![
        "garbage".to_owned(),
        String::new(),
        "A".repeat(5000),
        "eyJwayI6Ik9SREVSI3gifQ".into(),
    ];
    if let Some(token) = context.next_token {
        tokens.extend([token.to_owned(), token.to_owned(), format!("{token}x")]);
    }
    if !context.customers.is_empty() {
        tokens.push(forged_token(rng, context));
    }
    let mut customers = vec!["bad id!".to_owned(), "x".repeat(65), String::new()];
    customers.extend(context.customers.iter().cloned());
    let mut parameters = Vec::new();
    if rng.percent(50) {
        parameters.push(format!("limit={}", encode(rng.pick::<&str>(&limits))));
    }
    if rng.percent(30) {
        parameters.push(format!("nextToken={}", encode(rng.pick::<String>(&tokens))));
    }
    if rng.percent(25) {
        parameters.push(format!(
            "customerId={}",
            encode(rng.pick::<String>(&customers))
        ));
    }
    if rng.percent(10) {
        parameters.push(
            rng.pick(&["limit=1", "consistent=true", "foo=bar", "limit"])
                .to_string(),
        );
    }
    if parameters.is_empty() {
        String::new()
    } else {
        format!("?{}", parameters.join("&"))
    }
}

/// A page token as the API encodes one (base64url of JSON, `shared/src/store/pagination.rs`)
/// that a client made: a real customer and order, an odd `createdAt` (the index's sort key).
fn forged_token(rng: &mut Prng, context: &Context) -> String {
    let order = match context.orders {
        [] => "00000000-0000-0000-0000-000000000000".to_owned(),
        orders => rng.pick(orders).id.clone(),
    };
    let created_at = [
        "",
        "x",
        "2026-11-29T21:15:00.000Z",
        "9999-12-31T23:59:59.999Z",
    ];
    let token = serde_json::json!({
        "pk": format!("ORDER#{order}"),
        "sk": "ORDER",
        "customerId": rng.pick(context.customers),
        "createdAt": rng.pick(&created_at),
    });
    URL_SAFE_NO_PAD.encode(token.to_string())
}

fn wrong_method(rng: &mut Prng, context: &Context) -> ApiRequest {
    let id = order_ref(rng, context);
    let cases = [
        (Method::PUT, "/orders".to_owned()),
        (Method::DELETE, "/orders".into()),
        (Method::PATCH, "/orders".into()),
        (Method::DELETE, format!("/orders/{id}")),
        (Method::PUT, format!("/orders/{id}")),
        (Method::POST, format!("/orders/{id}")),
        (Method::GET, format!("/orders/{id}/cancel")),
        (Method::PATCH, format!("/orders/{id}/cancel")),
        (Method::from_bytes(b"PURGE").unwrap(), "/orders".into()),
    ];
    let (method, path) = rng.pick(&cases).clone();
    let mut request = ApiRequest::new(method, path);
    if rng.percent(50) {
        let body = fuzz_bodies::new_order(rng);
        request = request.body(fuzz_bodies::bytes_of(&body, rng));
    }
    request
}

/// A query-string value, percent-encoded (everything but RFC 3986's unreserved characters).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
