//! Which URLs the transports send to: `https`, and plain `http` only to this machine unless
//! allowed.

use crate::{TransportError, TransportErrorKind};

/// The refusal of plain HTTP to a host that is not loopback (unless allowed), and of schemes
/// other than `http` and `https`.
pub(crate) fn check_scheme(
    uri: &http::Uri,
    allow_insecure_http: bool,
) -> Result<(), TransportError> {
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if allow_insecure_http => Ok(()),
        Some("http") if uri.host().is_some_and(is_loopback_host) => Ok(()),
        Some("http") => Err(TransportError::new(
            TransportErrorKind::InsecureScheme,
            format!(
                "refusing plain http:// to {}: the API key would travel unencrypted; use https, or allow insecure HTTP explicitly (`allow_insecure_http` on the client or transport builder)",
                uri.host().unwrap_or("?")
            ),
        )),
        other => Err(TransportError::new(
            TransportErrorKind::Config,
            format!("unsupported URL scheme {other:?}"),
        )),
    }
}

/// Whether `host` (a URI host) is a loopback address or `localhost`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|address| address.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
            "::1",
            "api.localhost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "gptproto.com",
            "10.0.0.1",
            "192.168.1.2",
            "localhost.evil.com",
            "[::2]",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
