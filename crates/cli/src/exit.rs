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
/// Protocol error (malformed or truncated stream).
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
    if error.is_validation() || error.is_config() {
        return USAGE;
    }
    match error.status().map(|status| status.as_u16()) {
        Some(401 | 403) => return AUTH,
        Some(429) => return RATE_LIMITED,
        Some(400..=499) => return REJECTED,
        Some(500..) => return NETWORK,
        // A 2xx whose body was wrong, or a redirect not followed: go by the class.
        _ => {}
    }
    // Errors inside a stream have no status: go by their class.
    if error.is_auth() {
        return AUTH;
    }
    if error.is_rate_limited() {
        return RATE_LIMITED;
    }
    if error.is_rejected() || error.is_insufficient_balance() {
        return REJECTED;
    }
    if error.is_network()
        || error.is_timeout()
        || error.is_server_error()
        || error.api_error().is_some()
    {
        return NETWORK;
    }
    if error.is_protocol() || error.is_truncated() {
        return PROTOCOL;
    }
    NETWORK
}
