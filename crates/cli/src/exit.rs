//! Exit statuses, as scripts rely on them.

/// Usage or invalid input.
pub(crate) const USAGE: u8 = 2;
/// Authentication or permission (401, 403).
pub(crate) const AUTH: u8 = 3;
/// Rate limited after retries (429).
pub(crate) const RATE_LIMITED: u8 = 4;
/// Server or network error, or timeout.
pub(crate) const NETWORK: u8 = 5;
/// Request rejected (400, content policy included).
pub(crate) const REJECTED: u8 = 6;
/// Protocol error (malformed or truncated stream, a redirect not followed, an answer past the
/// limit or not as asked).
pub(crate) const PROTOCOL: u8 = 7;
/// `batch`: the run ended, but some lines failed (they are in the errors file).
pub(crate) const SOME_FAILED: u8 = 8;
/// `batch`: interrupted (SIGINT, SIGTERM); resumable.
pub(crate) const INTERRUPTED: u8 = 130;

/// Why the command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad arguments or input, found before any request.
    Usage(String),
    /// The call failed.
    Api(gptproto::Error),
    /// Writing the answer failed.
    Output(std::io::Error),
    /// The async runtime could not start.
    Runtime(std::io::Error),
}

impl From<gptproto::Error> for Failure {
    fn from(error: gptproto::Error) -> Self {
        Self::Api(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Self::Output(error)
    }
}

/// The exit status for a failed call: by the server's status first, then by the kind of
/// failure.
pub(crate) fn code_of(error: &gptproto::Error) -> u8 {
    use gptproto::ErrorKind;
    if tls_port(error).is_some() {
        return USAGE;
    }
    match error.kind() {
        ErrorKind::Validation | ErrorKind::Config => return USAGE,
        ErrorKind::Api => {}
        ErrorKind::Protocol
        | ErrorKind::Truncated
        | ErrorKind::AnswerLimit
        | ErrorKind::Redirect
        | ErrorKind::Answer
        | ErrorKind::Misuse => return PROTOCOL,
        // Connect, certificate, timeout, network, a broken body, the tool loop, later kinds.
        _ => return NETWORK,
    }
    match error.status().map(|status| status.as_u16()) {
        Some(401 | 403) => return AUTH,
        Some(429) => return RATE_LIMITED,
        Some(400..=499) => return REJECTED,
        Some(500..) => return NETWORK,
        _ => {}
    }
    // Errors inside a stream have no status: go by their class.
    if error.is_auth() {
        AUTH
    } else if error.is_rate_limited() {
        RATE_LIMITED
    } else if error.is_rejected() || error.is_insufficient_balance() {
        REJECTED
    } else {
        NETWORK
    }
}

/// What to try after `error`, when the command can tell: the flag or setting that changes it,
/// or the likely mistake in the base URL.
pub(crate) fn hint(error: &gptproto::Error) -> Option<String> {
    if error.is_certificate() {
        return Some(
            "--cacert FILE trusts a CA's certificate (PEM) next to the bundled roots".to_owned(),
        );
    }
    let insecure = error
        .transport_error()
        .is_some_and(|transport| transport.kind() == gptproto::TransportErrorKind::InsecureScheme);
    if insecure {
        return Some(
            "--allow-insecure-http (or `allow-insecure-http = true` in the profile) sends it \
             anyway, for a server on a network you trust"
                .to_owned(),
        );
    }
    if let Some(base) = tls_port(error) {
        return Some(format!(
            "the server at {} speaks TLS on that port: --base-url {base}",
            error.url().unwrap_or_default()
        ));
    }
    not_found_hint(error)
}

/// The base URL with `https://`, when a plain-HTTP request reached a TLS port whose server
/// said so in HTTP (nginx: "The plain HTTP request was sent to HTTPS port"; Go's servers,
/// Caddy among them: "Client sent an HTTP request to an HTTPS server").
fn tls_port(error: &gptproto::Error) -> Option<String> {
    if error.status()? != http::StatusCode::BAD_REQUEST {
        return None;
    }
    let url = error.url()?.strip_prefix("http://")?;
    let message = error.api_error()?.message();
    let said = ["sent to HTTPS port", "HTTP request to an HTTPS server"]
        .iter()
        .any(|words| message.contains(words));
    said.then(|| {
        let base = url.strip_suffix("/chat/completions").unwrap_or(url);
        format!("https://{base}")
    })
}

/// After a 404: the URL that was asked for, and the likely mistake in the base URL.
fn not_found_hint(error: &gptproto::Error) -> Option<String> {
    if error.status()? != http::StatusCode::NOT_FOUND {
        return None;
    }
    let url = error.url()?;
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest.find('/').map_or("", |at| &rest[at..]));
    let likely = if let Some(twice) = path.find("/chat/completions/") {
        let base = &url[..url.len() - path.len() + twice];
        format!(
            "the base URL has the endpoint's path in it: give only its root (--base-url {base})"
        )
    } else if !path
        .split('/')
        .any(|part| part.starts_with('v') && part[1..].parse::<u32>().is_ok())
    {
        "the base URL has no version (most servers want it to end in /v1)".to_owned()
    } else {
        "check the base URL (--base-url, GPTPROTO_BASE_URL, the profile's base-url) and the \
         model's name"
            .to_owned()
    };
    Some(format!("the server has nothing at {url}: {likely}"))
}
