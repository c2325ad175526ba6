//! # The function's environment variables: the template's, plus what Lambda sets
//!
//! A process gets *only* the template's environment, `PATH`, and what Lambda itself sets in every
//! execution environment (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, the memory size,
//! version, log group and stream, `LAMBDA_TASK_ROOT`, `TZ`, the region, and with X-Ray the
//! daemon's address). Lambda's variables win over the template's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use super::REGION;
use super::functions::{Function, Service};

/// What Lambda sets in every execution environment (it wins over the template's variables).
pub(super) fn lambda_variables(
    service: &Service,
    function: &Function,
    environment_number: u64,
    log_stream: &str,
    task_root: &Path,
) -> Vec<(String, String)> {
    let config = &function.config;
    let runtime_api = SocketAddr::new(loopback_for(service.address.ip()), service.address.port());
    let mut variables = vec![
        // Each environment has its own path: on Lambda each has its own Runtime API.
        (
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://{runtime_api}/{}/{environment_number}", config.name),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.function_name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("LAMBDA_TASK_ROOT", task_root.display().to_string()),
        ("TZ", ":UTC".to_owned()),
    ];
    if let Some(xray) = &service.xray {
        variables.push(("AWS_XRAY_DAEMON_ADDRESS", xray.address.to_string()));
        variables.push(("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR".to_owned()));
    }
    // Lambda always sets the region; keep the caller's if it gave one.
    for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if !config.environment.contains_key(name) {
            variables.push((name, REGION.to_owned()));
        }
    }
    variables
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// A wildcard bind address is not one a client can connect to: use the loopback instead.
fn loopback_for(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

pub(super) fn inherited_path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_bind_address_is_reached_on_the_loopback() {
        assert_eq!(
            loopback_for("0.0.0.0".parse().unwrap()),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            loopback_for("192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
