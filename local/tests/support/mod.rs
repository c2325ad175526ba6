//! What several test files share. Each test file is its own crate and uses part of it.
#![allow(dead_code)]

pub mod stack;
pub mod tokens;
