//! The test harness: a real AWS API (moto) and the handlers, in-process.
//!
//! [`TestStack::start`] gives each test its own world: the first call in a test process starts a
//! moto server on a free port (from the project's `.venv`), every call creates a fresh table with
//! the template's schema, so tests run in parallel and never share state. The handlers are the
//! functions' own `lib.rs` handlers, given the same `OrderStore` their `main` builds; only the
//! endpoint differs, as `AWS_ENDPOINT_URL` makes it differ for a function run locally.
//!
//! If moto is missing the harness panics with the command that installs it: an integration test
//! never passes by skipping.

pub mod moto;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use lambda_http::http::{self, HeaderMap, Method};
use lambda_http::{Body, Request, RequestExt, Response};
use orders_shared::store::CUSTOMER_INDEX;
use orders_shared::{Config, OrderStore};
use serde_json::Value;

/// One test's world: a table of its own on the shared moto server.
pub struct TestStack {
    pub dynamodb: Client,
    pub store: OrderStore,
    pub table: String,
}

impl TestStack {
    pub async fn start() -> Self {
        let endpoint = moto::endpoint();
        let sdk_config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await;
        let dynamodb = Client::new(&sdk_config);
        let table = unique_table_name();
        create_orders_table(&dynamodb, &table).await;
        let config = Config::from_lookup(|name| (name == "TABLE_NAME").then(|| table.clone()))
            .expect("a table name is all the config needs");
        let store = OrderStore::new(dynamodb.clone(), &config);
        Self {
            dynamodb,
            store,
            table,
        }
    }

    /// `POST /orders` with a JSON body.
    pub async fn create(&self, body: &Value) -> Reply {
        self.create_with(Body::from(body.to_string()), &[]).await
    }

    /// `POST /orders` with any body and extra headers.
    pub async fn create_with(&self, body: Body, headers: &[(&str, &str)]) -> Reply {
        let request = build(Method::POST, "/orders", headers, body, &[], &[]);
        Reply::from(create_order::handler(&self.store, request).await)
    }

    /// `GET /orders/{orderId}`.
    pub async fn get(&self, id: &str) -> Reply {
        let request = build(
            Method::GET,
            &format!("/orders/{id}"),
            &[],
            Body::Empty,
            &[("orderId", id)],
            &[("consistent", "true")],
        );
        Reply::from(get_order::handler(&self.store, request).await)
    }

    /// `PATCH /orders/{orderId}`, with `If-Match` if given.
    pub async fn patch(&self, id: &str, if_match: Option<&str>, body: &Value) -> Reply {
        let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
        let request = build(
            Method::PATCH,
            &format!("/orders/{id}"),
            &headers,
            Body::from(body.to_string()),
            &[("orderId", id)],
            &[],
        );
        Reply::from(update_order::handler(&self.store, request).await)
    }

    /// `POST /orders/{orderId}/cancel`, with `If-Match` if given.
    pub async fn cancel(&self, id: &str, if_match: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
        let request = build(
            Method::POST,
            &format!("/orders/{id}/cancel"),
            &headers,
            Body::Empty,
            &[("orderId", id)],
            &[],
        );
        Reply::from(cancel_order::handler(&self.store, request).await)
    }

    /// `GET /orders?...`.
    pub async fn list(&self, query: &[(&str, &str)]) -> Reply {
        let request = build(Method::GET, "/orders", &[], Body::Empty, &[], query);
        Reply::from(list_orders::handler(&self.store, request).await)
    }
}

/// A request as `lambda_http` hands it to a handler after parsing a REST proxy event.
pub fn build(
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Body,
    path_params: &[(&str, &str)],
    query: &[(&str, &str)],
) -> Request {
    let mut builder = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let to_map = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    builder
        .body(body)
        .expect("a valid request")
        .with_path_parameters(to_map(path_params))
        .with_query_string_parameters(to_map(query))
}

/// A handler's response, with the body parsed as JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl From<Result<Response<Body>, lambda_http::Error>> for Reply {
    fn from(result: Result<Response<Body>, lambda_http::Error>) -> Self {
        let response = result.expect("API handlers answer every request with a response");
        let (parts, body) = response.into_parts();
        assert_eq!(
            parts
                .headers
                .get("content-type")
                .map(|v| v.to_str().unwrap()),
            Some("application/json"),
            "every response is JSON"
        );
        let body: Value = serde_json::from_slice(body.as_ref()).expect("the body is JSON");
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The order id of a reply that holds an order.
    pub fn order_id(&self) -> String {
        self.body["orderId"].as_str().expect("an order").to_owned()
    }

    /// Asserts the app's error shape with this status and code; returns the error object.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "status of {:#}", self.body);
        let error = &self.body["error"];
        assert_eq!(error["code"], code, "code of {:#}", self.body);
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "a message in {:#}",
            self.body
        );
        error
    }

    /// The fields named by a validation error's details.
    pub fn invalid_fields(&self) -> Vec<String> {
        self.expect_error(400, "ValidationFailed")["details"]
            .as_array()
            .expect("details")
            .iter()
            .map(|d| d["field"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn unique_table_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "orders-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `OrdersTable` of `template.yaml`: keys, the `byCustomer` GSI, the stream and TTL.
/// (The local-stack issue reads this from the template itself; until then it is mirrored here.)
pub async fn create_orders_table(client: &Client, table: &str) {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(table)
        .set_attribute_definitions(Some(vec![
            attribute("pk"),
            attribute("sk"),
            attribute("customerId"),
            attribute("createdAt"),
        ]))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(CUSTOMER_INDEX)
                .key_schema(key("customerId", KeyType::Hash))
                .key_schema(key("createdAt", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {table} on moto failed: {e:?}"));
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expiresAt")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("UpdateTimeToLive on moto");
}
