//! # Orders on Lambda: the shared crate
//!
//! Every Lambda function of this project is a thin crate (`functions/<name>`) whose `main.rs` builds
//! its clients once and whose `lib.rs` maps one route onto this crate. The rules live here, each
//! concept in one module, so a reader can learn one exam topic from one file:
//!
//! | module            | concept                                                                 |
//! |-------------------|-------------------------------------------------------------------------|
//! | [`domain`]        | the order, its status machine, and parsing client input ("parse, don't validate") |
//! | [`error`]         | the one error enum, and its mapping to HTTP statuses (in one place)     |
//! | [`api`]           | the HTTP contract on top of API Gateway's REST proxy events              |
//! | [`api::proxy_request`] | the REST proxy event API Gateway sends, built in one place (hook, tests, local) |
//! | [`identity`]      | who the caller is (the Cognito token's claims) and what the caller may do |
//! | [`store`]         | the DynamoDB single-table store: item mapping, queries, pagination      |
//! | [`store::locking`]| optimistic locking with conditional writes                              |
//! | [`store::idempotency`] | `Idempotency-Key`: a retried request returns the first response    |
//! | [`store::capacity`] | read/write capacity units: 4 KB reads (strong, eventual, transactional), 1 KB writes |
//! | [`domain::payment`] | card data: Luhn, expiry, and a type that cannot leak the number     |
//! | [`domain::settlement`] | what a payment check means: `CONFIRMED` or `PAYMENT_FAILED`      |
//! | [`crypto::envelope`] | KMS envelope encryption: `GenerateDataKey`, AES-256-GCM, context, AAD |
//! | [`crypto::key_cache`] | data-key caching within message and age limits                    |
//! | [`domain::event`] | domain events: what happened to an order                                |
//! | [`messaging`]     | the event pipeline: stream -> SNS fan-out -> SQS consumers               |
//! | [`messaging::stream`] | DynamoDB stream records become events (no card data leaves the table) |
//! | [`messaging::batch`] | partial batch responses: one bad record never fails its batch (SQS loop)      |
//! | [`messaging::stream_batch`] | a stream batch published in order; the stream retries from the first failure |
//! | [`store::audit`]  | the audit trail: an idempotent consumer (conditional put), TTL          |
//! | [`webhook`]       | the merchant webhook: HMAC-signed POSTs, the key from Secrets Manager (asynchronous invocation) |
//! | [`config`]        | the environment a function reads, read once at cold start               |
//! | [`aws_https`]     | the SDK's HTTPS client: only the roots AWS endpoints chain to (a faster cold start) |
//! | [`runtime`]       | the init phase once, then the invocations: the loop every `main` hands its handler to |
//! | [`telemetry`]     | logs, X-Ray subsegments (one per AWS call), EMF metrics; set up once     |
//!
//! ## The data path of an order
//!
//! ```text
//! client (Cognito ID token + API key)
//!   -> API Gateway (REST: user pool authorizer, API key) -> create-order -> DynamoDB table (ORDER#<id> / ORDER)
//!                                      |            |
//!              KMS GenerateDataKey <---+            +-> stream (NEW_AND_OLD_IMAGES) -> publish-events
//!              (the card is sealed before it is stored;       -> SNS OrderEvents -> SQS -> fulfill-order
//!               see crypto::envelope)                                                  -> record-audit
//!                                                           -> SNS (asynchronous) -> notify-merchant -> webhook
//! client -> get-order / list-orders (reads)   update-order / cancel-order (conditional writes)
//! ```
//!
//! Every API request has a verified caller ([`identity::Caller`]): the customer who owns the
//! orders it places, reads and changes.
//!
//! Start with [`domain::order`], then [`store::locking`]; a function such as
//! `functions/update-order/src/lib.rs` shows how a route uses them. For card data, read
//! [`domain::payment`], then [`crypto::envelope`] and `functions/create-order/src/lib.rs`. For the
//! event pipeline, read [`messaging`], then `functions/publish-events` and `functions/fulfill-order`.

pub mod api;
pub mod aws_https;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod identity;
pub mod messaging;
pub mod runtime;
pub mod store;
pub mod telemetry;
pub mod webhook;

pub use config::{Config, CorsConfig, EnvelopeConfig, TopicConfig, WebhookConfig};
pub use error::AppError;
pub use identity::Caller;
pub use store::OrderStore;
