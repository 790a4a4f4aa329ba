//! Redirects: where a `307`/`308` leads, and when the credentials stay behind.

use http::Uri;

/// The redirect target of `location` seen from `base`: absolute, or absolute-path.
pub(super) fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location: Uri = location.parse().ok()?;
    if location.scheme().is_some() {
        return matches!(location.scheme_str(), Some("http" | "https")).then_some(location);
    }
    let path = location.path_and_query()?;
    if !path.as_str().starts_with('/') {
        return None;
    }
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(path.clone());
    Uri::from_parts(parts).ok()
}

/// Whether `a` and `b` are one origin (scheme, host and port).
pub(super) fn same_origin(a: &Uri, b: &Uri) -> bool {
    a.scheme() == b.scheme()
        && a.host().map(str::to_ascii_lowercase) == b.host().map(str::to_ascii_lowercase)
        && port(a) == port(b)
}

/// The port, the scheme's default when none is written.
fn port(uri: &Uri) -> Option<u16> {
    uri.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_resolve() {
        let base: Uri = "https://a.example:8443/v1/chat/completions?x=1"
            .parse()
            .unwrap();
        assert_eq!(
            resolve(&base, "/v2/chat").unwrap(),
            "https://a.example:8443/v2/chat"
        );
        assert_eq!(
            resolve(&base, "https://b.example/v1").unwrap(),
            "https://b.example/v1"
        );
        assert!(resolve(&base, "relative/path").is_none());
        assert!(resolve(&base, "ftp://b.example/v1").is_none());
        assert!(resolve(&base, "").is_none());
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        let uri = |text: &str| text.parse::<Uri>().unwrap();
        assert!(same_origin(
            &uri("https://a.example/v1"),
            &uri("https://A.example:443/v2")
        ));
        assert!(!same_origin(
            &uri("https://a.example/v1"),
            &uri("http://a.example/v1")
        ));
        assert!(!same_origin(
            &uri("https://a.example/v1"),
            &uri("https://a.example:8443/v1")
        ));
        assert!(!same_origin(
            &uri("https://a.example/v1"),
            &uri("https://b.example/v1")
        ));
    }
}
