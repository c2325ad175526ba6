//! # `orders-local`'s subcommands for tools that run a function outside the stack
//!
//! `make dev` runs the whole stack ([`crate::stack::Stack`]). Some tools run one function under
//! another Runtime API (`cargo lambda watch`, SAM's container) and need only a part of it, the
//! same part `make dev` would have given them:
//!
//! | subcommand                  | the part                                  | used by |
//! |-----------------------------|-------------------------------------------|---------|
//! | [`resources`] `resources`   | CloudFormation: the template's resources on a running moto, and each function's environment | `make invoke`, `make watch`, `make sam-invoke`, `make sam-check` |
//! | [`xray_daemon`] `xray-daemon` | the X-Ray daemon: documents received, printed as trees, counted | `make xray-smoke` |

pub mod resources;
pub mod xray_daemon;

/// A command line that does not say what to do.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("{option} needs a value")]
    MissingValue { option: String },
    #[error("{option}: {value:?} is not {expected}")]
    BadValue {
        option: String,
        value: String,
        expected: &'static str,
    },
    #[error("unexpected argument {0:?}")]
    Unexpected(String),
}

/// The value after `option`.
pub(crate) fn value_of(
    option: &str,
    rest: &mut std::slice::Iter<'_, String>,
) -> Result<String, UsageError> {
    rest.next()
        .cloned()
        .ok_or_else(|| UsageError::MissingValue {
            option: option.to_owned(),
        })
}

/// The value after `option`, parsed.
pub(crate) fn parsed_value_of<T: std::str::FromStr>(
    option: &str,
    rest: &mut std::slice::Iter<'_, String>,
    expected: &'static str,
) -> Result<T, UsageError> {
    let value = value_of(option, rest)?;
    value.parse().map_err(|_| UsageError::BadValue {
        option: option.to_owned(),
        value,
        expected,
    })
}
