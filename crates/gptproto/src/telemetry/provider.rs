//! `server.address` / `server.port` of the server called (`gen_ai.provider.name` is the
//! config's provider's: [`Provider::otel_name`](gptproto_proto::provider::Provider::otel_name)).

use http::Uri;

/// `server.address` and `server.port` of a URI: the host alone (never userinfo, path or
/// query) and the port, the scheme's when none is written.
pub(crate) fn server_of(uri: &Uri) -> (String, u16) {
    let host = uri.host().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    (host.to_owned(), port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_is_the_host_and_port_only() {
        let uri: Uri = "https://user:secret@api.example.com/v1/chat/completions?key=sk-1"
            .parse()
            .unwrap();
        assert_eq!(server_of(&uri), ("api.example.com".to_owned(), 443));
        let uri: Uri = "http://[::1]:8080/v1".parse().unwrap();
        assert_eq!(server_of(&uri), ("::1".to_owned(), 8080));
        let uri: Uri = "http://localhost/v1".parse().unwrap();
        assert_eq!(server_of(&uri), ("localhost".to_owned(), 80));
    }
}
