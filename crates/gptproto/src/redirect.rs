//! Redirects: where a `307`/`308` leads, and when the credentials stay behind.

use http::Uri;

use crate::redact::redacted;

/// The most redirects followed in one attempt.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// The redirect target of `location` seen from `base`: absolute, or absolute-path.
pub(crate) fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location: Uri = location.parse().ok()?;
    if location.scheme().is_some() {
        return Some(location);
    }
    let path = location.path_and_query()?;
    if !path.as_str().starts_with('/') {
        return None;
    }
    let mut parts = base.clone().into_parts();
    parts.path_and_query = Some(path.clone());
    Uri::from_parts(parts).ok()
}

/// Notes a redirect from `from` to `target`: one to another origin drops the credentials.
pub(crate) fn crossing(from: &Uri, target: &Uri, credentials_dropped: &mut bool) {
    let same_origin = from.scheme() == target.scheme()
        && from.host() == target.host()
        && from.port_u16() == target.port_u16();
    if !same_origin && !*credentials_dropped {
        *credentials_dropped = true;
        tracing::debug!(to = %redacted(target), "redirect to another origin: credentials dropped");
    }
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
    }
}
