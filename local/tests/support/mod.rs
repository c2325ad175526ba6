//! What several test modules share.

pub mod answer_checks;
pub mod api_client;
pub mod async_events;
pub mod functions;
pub mod fuzz_bodies;
pub mod fuzz_requests;
pub mod moto;
pub mod prng;
pub mod stack;
pub mod tokens;
