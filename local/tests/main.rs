//! The local stack's tests, one module per concern. They share one binary (see `Cargo.toml`)
//! and the helpers in `support/`. Run one module with
//! `cargo test -p orders-local --test local_stack -- <module>::`.

mod support;

mod access_control;
mod answer_checks;
mod api_cache;
mod api_gateway;
mod api_throttling;
mod burst;
mod card_in_logs;
mod demo;
mod fuzz;
mod lambda_async;
mod lambda_concurrency;
mod lambda_service;
mod merchant_webhook;
mod moto_transactions;
mod resources;
mod sns_to_lambda;
mod stream_on_failure;
