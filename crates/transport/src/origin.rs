//! Where a connection goes: an origin's key.

use http::Uri;

/// The origin key of a URI: `host:port`, lower case, the port explicit.
pub(crate) fn origin_key(uri: &Uri) -> Option<Box<str>> {
    let host = uri.host()?;
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("http") => 80,
        _ => 443,
    });
    Some(format!("{}:{port}", host.to_ascii_lowercase()).into_boxed_str())
}
