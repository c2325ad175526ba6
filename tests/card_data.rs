//! Card data end to end against moto's DynamoDB and KMS: what is stored, what KMS enforces, what
//! reaches a log, and how many KMS calls the data-key cache saves.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use orders_shared::crypto::{
    CachePolicy, CryptoError, EncryptionContext, Envelope, EnvelopeCipher,
};
use orders_shared::domain::{OrderId, PaymentCard};
use orders_shared::store::ENCRYPTED_PAYMENT;
use orders_tests::{CapturedLogs, TestStack};
use serde_json::{Value, json};

/// A valid Visa test number whose digits do not repeat much, so a leak is easy to spot.
const CARD: &str = "4539148803436467";
const LAST4: &str = "6467";

fn order_body(card_number: &str, expiry: &str) -> Value {
    json!({
        "items": [{"sku": "BOOK-1", "quantity": 1, "unitPriceCents": 1250}],
        "payment": {"cardNumber": card_number, "expiry": expiry}
    })
}

/// Every run of six consecutive digits of the card number: none may appear anywhere stored or
/// logged. (Any six include a digit before the last four.)
fn card_fragments() -> Vec<&'static str> {
    (0..=CARD.len() - 6).map(|i| &CARD[i..i + 6]).collect()
}

#[track_caller]
fn assert_no_card_digits(what: &str, text: &str) {
    for fragment in card_fragments() {
        assert!(
            !text.contains(fragment),
            "{what} contains card digits {fragment}: {text}"
        );
    }
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The raw item of an order, read with the SDK, not through the API.
async fn raw_order_item(
    stack: &TestStack,
    id: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    stack
        .dynamodb
        .get_item()
        .table_name(&stack.table)
        .key("pk", AttributeValue::S(format!("ORDER#{id}")))
        .key("sk", AttributeValue::S("ORDER".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the order item")
}

async fn stored_envelope(stack: &TestStack, id: OrderId) -> Envelope {
    stack
        .store
        .sealed_payment(id)
        .await
        .unwrap()
        .expect("an envelope")
        .card
}

#[tokio::test]
async fn a_card_round_trips_through_kms_and_only_the_fulfillment_side_opens_it() {
    let stack = TestStack::start().await;
    let reply = stack
        .create(&order_body("4539 1488 0343 6467", "12/35"))
        .await;
    assert_eq!(reply.status, 201, "{:#}", reply.body);
    assert_eq!(
        reply.body["payment"],
        json!({"cardLast4": LAST4, "brand": "visa"})
    );
    let id = OrderId::parse(&reply.order_id()).unwrap();

    let envelope = stored_envelope(&stack, id).await;
    assert_eq!(envelope.v, 1);
    assert_eq!(envelope.key_id, stack.key_arn);
    // A separate process (its own, empty cache) with the same key and context opens it.
    let fulfillment = stack.fulfillment_cipher();
    let card = fulfillment.open_card(&envelope, id).await.unwrap();
    let expected = PaymentCard::parse(CARD, "12/35", today()).unwrap();
    assert_eq!(card, expected);
    assert_eq!(stack.kms_calls.count("GenerateDataKey"), 1);
    assert_eq!(stack.kms_calls.count("Decrypt"), 1);
}

#[tokio::test]
async fn kms_refuses_a_different_encryption_context() {
    let stack = TestStack::start().await;
    let id = OrderId::new();
    let card = PaymentCard::parse(CARD, "12/35", today()).unwrap();
    let envelope = stack.cipher.seal_card(&card, id).await.unwrap();

    let other_purpose = EnvelopeCipher::new(
        stack.kms.clone(),
        stack.key_arn.clone(),
        EncryptionContext::new("orders-on-lambda", "audit-log"),
        CachePolicy::DEFAULT,
    );
    let refused = other_purpose.open_card(&envelope, id).await;
    let Err(CryptoError::KeyService { operation, cause }) = &refused else {
        panic!("KMS should refuse the data key, got {refused:?}")
    };
    assert_eq!(*operation, "Decrypt");
    assert!(cause.contains("InvalidCiphertextException"), "{cause}");
    // The right context still works: the refusal was the context's doing.
    assert_eq!(
        stack
            .fulfillment_cipher()
            .open_card(&envelope, id)
            .await
            .unwrap(),
        card
    );
}

/// Exam: KMS `Encrypt` takes at most 4,096 bytes of plaintext (`ValidationException` above),
/// hence envelope encryption: data of any size is encrypted locally with a data key, and KMS
/// encrypts only that key (`shared/src/crypto/envelope.rs`).
#[tokio::test]
async fn kms_encrypt_takes_at_most_4096_bytes_of_plaintext() {
    let stack = TestStack::start().await;
    let encrypt = |bytes: usize| {
        stack
            .kms
            .encrypt()
            .key_id(&stack.key_arn)
            .plaintext(Blob::new(vec![7u8; bytes]))
            .send()
    };

    let sealed = encrypt(4096).await.expect("4,096 bytes are accepted");
    let opened = stack
        .kms
        .decrypt()
        .ciphertext_blob(sealed.ciphertext_blob.expect("a ciphertext"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        opened.plaintext.expect("the plaintext").into_inner(),
        vec![7u8; 4096]
    );

    let refused = encrypt(4097).await.expect_err("4,097 bytes are refused");
    assert_eq!(refused.code(), Some("ValidationException"), "{refused:?}");
}

fn flip(base64: &str, index: usize) -> String {
    let mut bytes = BASE64.decode(base64).unwrap();
    bytes[index] ^= 0x80;
    BASE64.encode(bytes)
}

#[tokio::test]
async fn any_changed_byte_of_edk_nonce_or_ct_yields_an_error_and_no_plaintext() {
    let stack = TestStack::start().await;
    let id = OrderId::new();
    let card = PaymentCard::parse(CARD, "12/35", today()).unwrap();
    let envelope = stack.cipher.seal_card(&card, id).await.unwrap();
    let opener = stack.fulfillment_cipher();

    let edk_len = BASE64.decode(&envelope.edk).unwrap().len();
    for i in 0..edk_len {
        let tampered = Envelope {
            edk: flip(&envelope.edk, i),
            ..envelope.clone()
        };
        let result = opener.open_card(&tampered, id).await;
        assert!(
            matches!(result, Err(CryptoError::KeyService { .. })),
            "edk[{i}] of {edk_len}: {result:?}"
        );
    }
    for (field, len) in [
        ("nonce", 12),
        ("ct", BASE64.decode(&envelope.ct).unwrap().len()),
    ] {
        for i in 0..len {
            let mut tampered = envelope.clone();
            match field {
                "nonce" => tampered.nonce = flip(&envelope.nonce, i),
                _ => tampered.ct = flip(&envelope.ct, i),
            }
            let result = opener.open_card(&tampered, id).await;
            assert!(
                matches!(result, Err(CryptoError::NotAuthentic)),
                "{field}[{i}]: {result:?}"
            );
        }
    }
    assert_eq!(opener.open_card(&envelope, id).await.unwrap(), card);
}

#[tokio::test]
async fn a_ciphertext_copied_onto_another_order_does_not_open() {
    let stack = TestStack::start().await;
    let first = stack.create(&order_body(CARD, "12/35")).await;
    let second = stack.create(&order_body("4111111111111111", "12/35")).await;
    let first_id = OrderId::parse(&first.order_id()).unwrap();
    let second_id = OrderId::parse(&second.order_id()).unwrap();

    // Someone with write access to the table copies the first order's sealed card onto the second.
    let first_item = raw_order_item(&stack, &first.order_id()).await;
    stack
        .dynamodb
        .update_item()
        .table_name(&stack.table)
        .key("pk", AttributeValue::S(format!("ORDER#{second_id}")))
        .key("sk", AttributeValue::S("ORDER".into()))
        .update_expression("SET #p = :p")
        .expression_attribute_names("#p", ENCRYPTED_PAYMENT)
        .expression_attribute_values(":p", first_item[ENCRYPTED_PAYMENT].clone())
        .send()
        .await
        .unwrap();

    let copied = stored_envelope(&stack, second_id).await;
    assert_eq!(copied, stored_envelope(&stack, first_id).await);
    let result = stack
        .fulfillment_cipher()
        .open_card(&copied, second_id)
        .await;
    assert!(
        matches!(result, Err(CryptoError::NotAuthentic)),
        "{result:?}"
    );
}

#[tokio::test]
async fn no_stored_item_and_no_read_holds_more_than_the_last_four_digits() {
    let stack = TestStack::start().await;
    let reply = stack
        .create_with(
            lambda_http::Body::from(order_body(CARD, "12/35").to_string()),
            &[("idempotency-key", "card-test-1")],
        )
        .await;
    assert_eq!(reply.status, 201, "{:#}", reply.body);
    let id = reply.order_id();

    // Every item in the table (the order and its idempotency record), read raw.
    let items = stack
        .dynamodb
        .scan()
        .table_name(&stack.table)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(items.len(), 2, "the order and its idempotency record");
    for item in &items {
        assert_no_card_digits("a stored item", &format!("{item:?}"));
    }
    let order = raw_order_item(&stack, &id).await;
    let payment = order["payment"].as_m().unwrap();
    assert_eq!(payment["cardLast4"], AttributeValue::S(LAST4.into()));
    assert!(order.contains_key(ENCRYPTED_PAYMENT));

    // The customer index does not copy the envelope (its projection is INCLUDE, not ALL).
    let indexed = stack
        .dynamodb
        .query()
        .table_name(&stack.table)
        .index_name(orders_shared::store::CUSTOMER_INDEX)
        .key_condition_expression("customerId = :c")
        .expression_attribute_values(":c", AttributeValue::S(orders_tests::CUSTOMER.into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(indexed.len(), 1);
    assert!(indexed[0].contains_key("payment") && indexed[0].contains_key("items"));
    assert!(
        !indexed[0].contains_key(ENCRYPTED_PAYMENT),
        "{:?}",
        indexed[0]
    );

    // Every read shows {cardLast4, brand} and never the envelope.
    let shown = json!({"cardLast4": LAST4, "brand": "visa"});
    let got = stack.get(&id).await;
    let listed = stack.list(&[]).await;
    let patched = stack.patch(&id, Some("\"1\""), &json!({"note": "x"})).await;
    let cancelled = stack.cancel(&id, Some("\"2\"")).await;
    let bodies = [
        &got.body,
        &listed.body["items"][0],
        &patched.body,
        &cancelled.body,
    ];
    for body in bodies {
        assert_eq!(body["payment"], shown, "{body:#}");
        assert!(body.get(ENCRYPTED_PAYMENT).is_none(), "{body:#}");
        assert_no_card_digits("a response", &body.to_string());
    }
}

#[tokio::test]
async fn logs_during_a_create_hold_no_card_number_and_no_data_key() {
    let stack = TestStack::start().await;
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    // Everything at TRACE, JSON as on Lambda: the app's logs and the SDK's request logs.
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);

    let created = stack.create(&order_body(CARD, "12/35")).await;
    assert_eq!(created.status, 201);
    // A failure path logs its cause: with a key that does not exist, KMS fails and the 500's
    // cause goes to the log, still without the card.
    let broken = EnvelopeCipher::new(
        stack.kms.clone(),
        "alias/no-such-key",
        EncryptionContext::payment_card(),
        CachePolicy::DEFAULT,
    );
    let request = orders_tests::SignedIn::customer(orders_tests::CUSTOMER)
        .request(lambda_http::http::Method::POST, "/orders")
        .body(order_body(CARD, "12/35").to_string().as_bytes())
        .to_request();
    let failed =
        orders_tests::Reply::from(create_order::handler(&stack.store, &broken, request).await);
    failed.expect_error(500, "InternalError");
    let invalid = stack.create(&order_body("4539148803436468", "12/35")).await;
    assert_eq!(invalid.invalid_fields(), ["payment.cardNumber"]);
    drop(guard);

    let text = logs.text();
    assert!(
        text.contains("GenerateDataKey"),
        "the capture works: {text}"
    );
    assert!(
        text.contains("NotFoundException"),
        "the failure's cause is logged"
    );
    assert_no_card_digits("the logs", &text);
    assert!(!text.contains("4539148803436468"));

    // Nor the plaintext data key, in any encoding the SDK might use.
    let envelope = stored_envelope(&stack, OrderId::parse(&created.order_id()).unwrap()).await;
    let data_key = stack
        .kms
        .decrypt()
        .ciphertext_blob(Blob::new(BASE64.decode(&envelope.edk).unwrap()))
        .set_encryption_context(Some(
            [("app", "orders-on-lambda"), ("purpose", "payment-card")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
        ))
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap();
    let key_base64 = BASE64.encode(data_key.as_ref());
    let key_hex: String = data_key
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!text.contains(&key_base64) && !text.contains(&key_hex));
}

#[tokio::test]
async fn bad_card_input_is_a_400_naming_the_field() {
    let stack = TestStack::start().await;
    let cases = [
        ("4539148803436468", "12/35", "payment.cardNumber"), // Luhn
        ("4539 1488 0343 646a", "12/35", "payment.cardNumber"), // a letter
        ("4539148803436467453914880", "12/35", "payment.cardNumber"), // 25 digits
        (CARD, "01/20", "payment.expiry"),                   // expired
        (CARD, "2035-12", "payment.expiry"),                 // not MM/YY
    ];
    for (number, expiry, field) in cases {
        let reply = stack.create(&order_body(number, expiry)).await;
        assert_eq!(reply.invalid_fields(), [field], "{number} {expiry}");
        assert!(!reply.body.to_string().contains(number), "never echoed");
    }
    let mut no_card = order_body(CARD, "12/35");
    no_card.as_object_mut().unwrap().remove("payment");
    assert_eq!(stack.create(&no_card).await.invalid_fields(), ["payment"]);
    assert_eq!(
        stack.kms_calls.count("GenerateDataKey"),
        0,
        "nothing sealed"
    );
}

/// Creates `n` orders through the handler; returns the `GenerateDataKey` calls KMS received.
async fn generate_data_key_calls_for(policy: CachePolicy, n: usize) -> u64 {
    let stack = TestStack::with_cache(policy).await;
    for i in 0..n {
        let reply = stack.create(&order_body(CARD, "12/35")).await;
        assert_eq!(reply.status, 201, "order {i}: {:#}", reply.body);
    }
    let calls = stack.kms_calls.count("GenerateDataKey");
    let stats = stack.cipher.cache_stats();
    assert_eq!(stats.encrypt_misses, calls, "each miss is one KMS call");
    assert_eq!(stats.encrypt_hits + stats.encrypt_misses, n as u64);
    calls
}

#[tokio::test]
async fn a_thousand_orders_cost_ten_data_keys_with_the_cache_and_a_thousand_without() {
    let cached = generate_data_key_calls_for(CachePolicy::DEFAULT, 1000).await;
    let uncached = generate_data_key_calls_for(CachePolicy::DISABLED, 1000).await;
    eprintln!("GenerateDataKey calls for 1,000 creates: cache on {cached}, cache off {uncached}");
    assert!(cached <= 10, "with the cache: {cached}");
    assert_eq!(uncached, 1000);
}
