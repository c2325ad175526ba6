//! The workspace's integration tests, one module per concern. They share one binary (see
//! `Cargo.toml`) and the harness in `support/` (the `orders_tests` library). Run one module with
//! `cargo test -p orders-tests --test workspace -- <module>::`.

mod api_contract;
mod async_invocation_template;
mod atomic_counter;
mod canary_rehearsal;
mod capacity;
mod card_data;
mod contention;
mod event_pipeline;
mod identity_template;
mod key_policies;
mod least_privilege;
mod merchant_notification;
mod ownership;
mod projection;
mod sample_events;
mod sdk_failures;
mod service_limits;
mod smoke_requests;
mod telemetry;
mod template;
mod trace_propagation;
mod translated_api;
mod translated_template;
mod ttl;
