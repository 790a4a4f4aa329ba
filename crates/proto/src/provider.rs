//! Which server a base URL names, and what follows from it.

/// Whether `host` is GPTProto's: `gptproto.com` or one of its subdomains (any case). Its rules
/// apply there and only there: the raw-key `Authorization`, a key required, `n` at most 10
/// and the numeric ranges of OpenAI's spec.
pub(crate) fn is_gptproto_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "gptproto.com" || host.ends_with(".gptproto.com")
}
