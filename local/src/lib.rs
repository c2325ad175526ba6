//! # The local stack: the whole system on one machine, without Docker
//!
//! `sam local` runs functions in Docker containers; many machines (CI runners, locked-down laptops)
//! have no Docker. This crate runs the application from `template.yaml` alone, with the functions'
//! own release-shaped binaries, each in its own process, as Lambda runs them:
//!
//! ```text
//!  curl ──HTTP (ID token, API key)──> api_gateway (127.0.0.1:3000) ──REST proxy event──┐
//!                                                                  v
//!  event_source_mappings (stream, SQS) ──batch events────> lambda (Runtime API)
//!     ^                                                            │ a process per execution environment,
//!     │                                                            │ the template's environment
//!     └───── moto (127.0.0.1:5000): DynamoDB, streams, SNS, SQS, KMS <┘   + AWS_ENDPOINT_URL
//!
//!  xray (UDP 127.0.0.1:2000) <── segment documents of every function: printed as trace trees
//! ```
//!
//! | module                    | what it plays                                                         |
//! |---------------------------|-----------------------------------------------------------------------|
//! | [`cloudformation`]        | CloudFormation: reads `template.yaml` (tags, intrinsics, `Globals`), creates its resources on moto |
//! | [`moto`]                  | the AWS services: a moto server from the project's `.venv`            |
//! | [`lambda`]                | Lambda: the Runtime API, a process per execution environment, concurrency and throttling |
//! | [`api_gateway`]           | API Gateway: routes of the `Api` events, REST proxy events            |
//! | [`event_source_mappings`] | event source mappings: stream and queue pollers with partial batch responses |
//! | [`http_server`]           | the HTTP server the local API Gateway and the merchant each run on    |
//! | [`xray`]                  | the X-Ray daemon: receives segments, prints each trace as a tree      |
//! | [`merchant_webhook`]      | the merchant at the other end of `notify-merchant`'s webhook: checks signatures, drops repeats, a switchable outage |
//! | [`sample_order`]          | the order the sample events in `events/` name, stored as create-order stores one |
//! | [`sign_in`]               | a customer signs up and in to the user pool: the ID token the API takes |
//! | [`stack`]                 | puts them together: `make dev` and `make demo` run a [`stack::Stack`] |
//! | [`demo`]                  | the exam scenarios, narrated, against a running stack (`make demo`)   |
//! | [`cli`]                   | parts of the stack for a function run outside it: `orders-local resources`, `xray-daemon` |

pub mod api_gateway;
pub mod cli;
pub mod cloudformation;
pub mod demo;
pub mod event_source_mappings;
pub mod http_server;
pub mod lambda;
pub mod merchant_webhook;
pub mod moto;
pub mod sample_order;
pub mod sign_in;
pub mod stack;
pub mod xray;
