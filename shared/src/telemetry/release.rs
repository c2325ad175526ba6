//! The release label compiled into every function, logged once per execution environment.
//!
//! Exam: SAM's `AutoPublishAlias` publishes a new version only when the function's code changes: a
//! changed environment variable or parameter does not make one (aws/serverless-application-model
//! #3820), so it starts no CodeDeploy canary. The label is compiled in instead:
//! `ORDERS_RELEASE=<label> make build` gives binaries with other bytes, `sam deploy` publishes new
//! versions and CodeDeploy shifts the `live` aliases to them (scripts/canary-rehearsal.sh). Cargo
//! records the variables `option_env!` reads and recompiles this crate when one changes.

/// What `release()` answers when `ORDERS_RELEASE` was not set at build time.
const FALLBACK: &str = env!("CARGO_PKG_VERSION");

/// The label these binaries were built with: `ORDERS_RELEASE` at compile time, else the crate version.
pub fn release() -> &'static str {
    label_or_fallback(option_env!("ORDERS_RELEASE"))
}

/// An unset or empty label falls back to the crate version.
fn label_or_fallback(label: Option<&'static str>) -> &'static str {
    match label {
        Some(label) if !label.is_empty() => label,
        _ => FALLBACK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_or_empty_label_falls_back_to_the_crate_version() {
        assert_eq!(label_or_fallback(None), env!("CARGO_PKG_VERSION"));
        assert_eq!(label_or_fallback(Some("")), env!("CARGO_PKG_VERSION"));
        assert_eq!(label_or_fallback(Some("rehearsal-1")), "rehearsal-1");
    }
}
