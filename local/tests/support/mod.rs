//! What several test files share. Each test file is its own crate and uses part of it.
#![allow(dead_code)]

pub mod answer_checks;
pub mod api_client;
pub mod fuzz_bodies;
pub mod fuzz_requests;
pub mod prng;
pub mod stack;
pub mod tokens;
