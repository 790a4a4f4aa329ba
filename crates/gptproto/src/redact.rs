//! What may be printed of a request: a URL without credentials or query.

use http::Uri;

/// A URI for logs: scheme, host, port and path, no query (it may carry a key).
pub(crate) fn redacted(uri: &Uri) -> String {
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority()
            .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or("")),
        uri.path()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_urls_carry_no_credentials_or_query() {
        let uri: Uri = "https://user:pw@host.example:8443/v1/chat?api-key=secret"
            .parse()
            .unwrap();
        assert_eq!(redacted(&uri), "https://host.example:8443/v1/chat");
    }
}
