//! The test harness: a real AWS API (moto) and the handlers, in-process.
//!
//! [`TestStack::start`] gives each test its own world: the first call in a test process starts a
//! moto server on a free port (the local stack's launcher, [`moto`]); every call then deploys
//! `template.yaml` onto it through the local stack's CloudFormation step, the one `make dev` takes
//! ([`orders_local::cloudformation::deploy`]), under a stack name of its own. Each resource is
//! named after its stack, so each test has its own table and KMS key ([`StackPart::Storage`]), and
//! for a [`Pipeline`] its own topic and queues ([`StackPart::Pipeline`]): tests run in parallel
//! without sharing state.
//! The handlers are the functions' own `lib.rs` handlers, given the same `OrderStore` and
//! `EnvelopeCipher` their `main` builds; only the endpoint differs, as `AWS_ENDPOINT_URL` makes it
//! differ for a function run locally. Every KMS call is counted ([`KmsCalls`]).
//!
//! Every request is sent as a signed-in caller: it carries the claims that API Gateway's Cognito
//! authorizer passes on (`requestContext.authorizer.claims`). [`TestStack::create`] and its
//! siblings act as [`CUSTOMER`]; [`TestStack::as_customer`] and [`TestStack::as_support`] act as
//! anyone else.
//!
//! If moto is missing the harness panics with the command that installs it: an integration test
//! never passes by skipping.

pub mod captured_logs;
pub mod kms_calls;
pub mod moto;
pub mod observed;
pub mod pipeline;
pub mod stack_part;
pub mod template_yaml;
pub mod translated;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use lambda_http::http::{HeaderMap, Method};
use lambda_http::{Body, Response};
use orders_local::cloudformation::Deployed;
use orders_local::sample_order;
use orders_shared::api::ProxyRequest;
use orders_shared::crypto::{CachePolicy, EncryptionContext, EnvelopeCipher};
use orders_shared::telemetry::aws_calls;
use orders_shared::{Config, EnvelopeConfig, OrderStore};
use serde_json::{Value, json};

pub use captured_logs::CapturedLogs;
pub use kms_calls::KmsCalls;
pub use pipeline::{Consumer, Pipeline};
pub use stack_part::{StackPart, physical};

/// One test's world: the template's resources, deployed for this test alone on the shared moto
/// server.
pub struct TestStack {
    /// The physical resources behind the template's logical ids (`OrdersTable`, `OrdersKey`,
    /// `OrderEventsTopic`, the queues ...), named after this test's own stack.
    pub deployed: Deployed,
    pub dynamodb: Client,
    pub kms: aws_sdk_kms::Client,
    /// Every KMS call made through `kms` (and so through `cipher`), by operation.
    pub kms_calls: KmsCalls,
    /// The ARN of this test's KMS key (the template's `OrdersKey`).
    pub key_arn: String,
    pub store: OrderStore,
    /// The cipher `create-order` seals cards with.
    pub cipher: EnvelopeCipher,
    /// The physical name of this test's `OrdersTable`.
    pub table: String,
}

impl TestStack {
    /// A stack with the default data-key cache.
    pub async fn start() -> Self {
        Self::with_cache(CachePolicy::DEFAULT).await
    }

    /// A stack whose cipher caches data keys as `policy` says.
    pub async fn with_cache(policy: CachePolicy) -> Self {
        Self::deploying(StackPart::Storage, policy).await
    }

    /// A stack of `part` of the template, whose cipher caches data keys as `policy` says.
    pub async fn deploying(part: StackPart, policy: CachePolicy) -> Self {
        let deployed = part.deploy().await;
        let sdk_config = moto_sdk_config().await;
        // The clients main builds: every call traced (a subsegment each when a trace is active).
        let dynamodb = aws_calls::dynamodb_client(&sdk_config);
        let table = physical(deployed.table_name("OrdersTable"), "OrdersTable");
        let config = Config::from_lookup(|name| (name == "TABLE_NAME").then(|| table.clone()))
            .expect("a table name is all the config needs");
        let store = OrderStore::new(dynamodb.clone(), &config);

        let kms_calls = KmsCalls::default();
        let kms = aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(&sdk_config)
                .interceptor(kms_calls.clone())
                .interceptor(aws_calls::AwsCallTracing::default())
                .build(),
        );
        let key_arn = physical(deployed.key_arn("OrdersKey"), "OrdersKey");
        let cipher = EnvelopeCipher::new(
            kms.clone(),
            key_arn.clone(),
            EncryptionContext::payment_card(),
            policy,
        );
        Self {
            deployed,
            dynamodb,
            kms,
            kms_calls,
            key_arn,
            store,
            cipher,
            table,
        }
    }

    /// A cipher as another function (the fulfillment consumer) builds it from its environment:
    /// the same key, its own cache.
    pub fn fulfillment_cipher(&self) -> EnvelopeCipher {
        let config = EnvelopeConfig::from_lookup(|name| {
            (name == "PAYMENT_KEY_ID").then(|| self.key_arn.clone())
        })
        .expect("a key id is all the config needs");
        EnvelopeCipher::for_cards(self.kms.clone(), &config)
    }

    /// Requests sent as the customer `sub` (a Cognito user in no group).
    pub fn as_customer(&self, sub: &str) -> ApiClient<'_> {
        ApiClient {
            stack: self,
            caller: SignedIn::customer(sub),
        }
    }

    /// Requests sent as `sub`, a member of the `support` group.
    pub fn as_support(&self, sub: &str) -> ApiClient<'_> {
        ApiClient {
            stack: self,
            caller: SignedIn::support(sub),
        }
    }

    /// `POST /orders` with a JSON body, as [`CUSTOMER`].
    pub async fn create(&self, body: &Value) -> Reply {
        self.as_customer(CUSTOMER).create(body).await
    }

    /// `POST /orders` with any body and extra headers, as [`CUSTOMER`].
    pub async fn create_with(&self, body: Body, headers: &[(&str, &str)]) -> Reply {
        self.as_customer(CUSTOMER).create_with(body, headers).await
    }

    /// `GET /orders/{orderId}`, as [`CUSTOMER`].
    pub async fn get(&self, id: &str) -> Reply {
        self.as_customer(CUSTOMER).get(id).await
    }

    /// `PATCH /orders/{orderId}`, with `If-Match` if given, as [`CUSTOMER`].
    pub async fn patch(&self, id: &str, if_match: Option<&str>, body: &Value) -> Reply {
        self.as_customer(CUSTOMER).patch(id, if_match, body).await
    }

    /// `POST /orders/{orderId}/cancel`, with `If-Match` if given, as [`CUSTOMER`].
    pub async fn cancel(&self, id: &str, if_match: Option<&str>) -> Reply {
        self.as_customer(CUSTOMER).cancel(id, if_match).await
    }

    /// `GET /orders?...`, as [`CUSTOMER`].
    pub async fn list(&self, query: &[(&str, &str)]) -> Reply {
        self.as_customer(CUSTOMER).list(query).await
    }
}

/// The customer (a Cognito `sub`) that [`TestStack`]'s requests are sent as.
pub const CUSTOMER: &str = "c-1";

/// A signed-in caller: the claims of its ID token, as API Gateway's authorizer passes them.
#[derive(Debug, Clone)]
pub struct SignedIn {
    sub: String,
    /// `cognito:groups`, comma-separated as the REST API writes it (empty: in no group).
    groups: &'static str,
}

impl SignedIn {
    pub fn customer(sub: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            groups: "",
        }
    }

    pub fn support(sub: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            groups: orders_shared::identity::SUPPORT_GROUP,
        }
    }

    /// A request this caller sends to `path`, as API Gateway hands it to a function once its
    /// authorizer has passed the caller's token: on stage `test`, with the caller's claims. Add
    /// its parts, then `to_request()` gives what `lambda_http` passes the handler.
    pub fn request(&self, method: Method, path: &str) -> ProxyRequest {
        ProxyRequest::new(method.as_str(), path, path)
            .stage("test")
            .claims(self.claims())
    }

    /// `requestContext.authorizer.claims` of a REST proxy event: every value a string.
    pub fn claims(&self) -> Value {
        let mut claims = json!({
            "sub": self.sub,
            "cognito:username": self.sub,
            "email": format!("{}@example.com", self.sub),
            "email_verified": "true",
            "token_use": "id",
        });
        if !self.groups.is_empty() {
            claims["cognito:groups"] = json!(self.groups);
        }
        claims
    }
}

/// The API, called by one signed-in caller: each request goes through the function's own
/// handler, as API Gateway would send it once its authorizer has passed the caller's token.
pub struct ApiClient<'a> {
    stack: &'a TestStack,
    caller: SignedIn,
}

impl ApiClient<'_> {
    /// `POST /orders` with a JSON body.
    pub async fn create(&self, body: &Value) -> Reply {
        self.create_with(Body::from(body.to_string()), &[]).await
    }

    /// `POST /orders` with any body and extra headers.
    pub async fn create_with(&self, body: Body, headers: &[(&str, &str)]) -> Reply {
        let mut request = self
            .caller
            .request(Method::POST, "/orders")
            .body(body.as_ref());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let stack = self.stack;
        Reply::from(create_order::handler(&stack.store, &stack.cipher, request.to_request()).await)
    }

    /// `GET /orders/{orderId}` (strongly consistent).
    pub async fn get(&self, id: &str) -> Reply {
        let request = self
            .order_request(Method::GET, id, "", None)
            .query("consistent", "true");
        Reply::from(get_order::handler(&self.stack.store, request.to_request()).await)
    }

    /// `PATCH /orders/{orderId}`, with `If-Match` if given.
    pub async fn patch(&self, id: &str, if_match: Option<&str>, body: &Value) -> Reply {
        let request = self
            .order_request(Method::PATCH, id, "", if_match)
            .body(body.to_string().as_bytes());
        Reply::from(update_order::handler(&self.stack.store, request.to_request()).await)
    }

    /// `POST /orders/{orderId}/cancel`, with `If-Match` if given.
    pub async fn cancel(&self, id: &str, if_match: Option<&str>) -> Reply {
        let request = self.order_request(Method::POST, id, "/cancel", if_match);
        Reply::from(cancel_order::handler(&self.stack.store, request.to_request()).await)
    }

    /// `GET /orders?...`.
    pub async fn list(&self, query: &[(&str, &str)]) -> Reply {
        let mut request = self.caller.request(Method::GET, "/orders");
        for (name, value) in query {
            request = request.query(name, value);
        }
        Reply::from(list_orders::handler(&self.stack.store, request.to_request()).await)
    }

    /// A request to `/orders/{orderId}` (and `action` below it), with `If-Match` if given.
    fn order_request(
        &self,
        method: Method,
        id: &str,
        action: &str,
        if_match: Option<&str>,
    ) -> ProxyRequest {
        let request = self
            .caller
            .request(method, &format!("/orders/{id}{action}"))
            .path_parameter("orderId", id);
        match if_match {
            Some(tag) => request.header("if-match", tag),
            None => request,
        }
    }
}

/// A card number that passes the Luhn check (a test number, not a real card).
pub const TEST_CARD: &str = "4539148803436467";

/// The smallest valid `POST /orders` body: one book, paid with [`TEST_CARD`].
pub fn one_book_order() -> Value {
    json!({
        "items": [{"sku": "BOOK-1", "quantity": 1, "unitPriceCents": 1250}],
        "payment": {"cardNumber": TEST_CARD, "expiry": "12/35"}
    })
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

/// The order the sample events in `events/` name (get, update, cancel, and the pipeline's), and
/// its customer: the local stack stores it for `make invoke` too ([`sample_order`]).
pub use orders_local::sample_order::{SAMPLE_CUSTOMER, SAMPLE_ORDER_ID};

/// Stores the sample events' order as create-order would have (its card sealed), if it is not
/// there yet. Returns whether it was stored.
pub async fn store_sample_order(store: &OrderStore, cipher: &EnvelopeCipher) -> bool {
    sample_order::store_sample_order(store, cipher)
        .await
        .unwrap_or_else(|error| panic!("storing the sample events' order: {error}"))
}

/// SDK configuration for the test process's moto server.
pub async fn moto_sdk_config() -> SdkConfig {
    orders_local::stack::sdk_config(moto::endpoint(), "us-east-1").await
}
