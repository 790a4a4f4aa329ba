//! What a response says about the rate limits: OpenAI's `x-ratelimit-*` headers (their reset
//! times in Go's duration syntax: `1s`, `6m0s`, `20ms`, `1h2m3.5s`), the retry hint of a 429
//! (`retry-after-ms`, `retry-after`, or "Please try again in 84ms" in its message), and which
//! limit a 429 was for.

use std::time::Duration;

use http::HeaderMap;

use crate::exchange::ApiError;

/// One of the two limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
}

/// The `x-ratelimit-*` headers of a response, those present.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct RateLimitHeaders {
    /// `x-ratelimit-limit-requests`: requests per minute.
    pub limit_requests: Option<u64>,
    /// `x-ratelimit-limit-tokens`: tokens per minute.
    pub limit_tokens: Option<u64>,
    /// `x-ratelimit-remaining-requests`.
    pub remaining_requests: Option<u64>,
    /// `x-ratelimit-remaining-tokens`.
    pub remaining_tokens: Option<u64>,
    /// `x-ratelimit-reset-requests`: until the request budget is whole again.
    pub reset_requests: Option<Duration>,
    /// `x-ratelimit-reset-tokens`: until the token budget is whole again.
    pub reset_tokens: Option<Duration>,
}

impl RateLimitHeaders {
    /// The headers present in `headers` (an unparsable value counts as absent).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gptproto_proto::ratelimit::RateLimitHeaders;
    ///
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-ratelimit-limit-tokens", "150000".parse().unwrap());
    /// headers.insert("x-ratelimit-reset-tokens", "6m0s".parse().unwrap());
    /// let limits = RateLimitHeaders::from_headers(&headers);
    /// assert_eq!(limits.limit_tokens, Some(150_000));
    /// assert_eq!(limits.reset_tokens, Some(Duration::from_secs(360)));
    /// ```
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let number = |name: &str| text(headers, name).and_then(|value| value.parse().ok());
        let duration = |name: &str| text(headers, name).and_then(parse_go_duration);
        Self {
            limit_requests: number("x-ratelimit-limit-requests"),
            limit_tokens: number("x-ratelimit-limit-tokens"),
            remaining_requests: number("x-ratelimit-remaining-requests"),
            remaining_tokens: number("x-ratelimit-remaining-tokens"),
            reset_requests: duration("x-ratelimit-reset-requests"),
            reset_tokens: duration("x-ratelimit-reset-tokens"),
        }
    }

    /// Whether any of them was present.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The limit per minute of `kind`, if the server said it.
    pub fn limit(&self, kind: LimitKind) -> Option<u64> {
        match kind {
            LimitKind::Requests => self.limit_requests,
            LimitKind::Tokens => self.limit_tokens,
        }
    }

    /// What is left of `kind`'s budget, if the server said it.
    pub fn remaining(&self, kind: LimitKind) -> Option<u64> {
        match kind {
            LimitKind::Requests => self.remaining_requests,
            LimitKind::Tokens => self.remaining_tokens,
        }
    }

    /// When `kind`'s budget is whole again, if the server said it.
    pub fn reset(&self, kind: LimitKind) -> Option<Duration> {
        match kind {
            LimitKind::Requests => self.reset_requests,
            LimitKind::Tokens => self.reset_tokens,
        }
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

/// A duration in Go's syntax (`time.Duration.String()`): a sequence of decimal numbers, each
/// with a unit (`h`, `m`, `s`, `ms`, `us`/`µs`, `ns`): `1s`, `6m0s`, `20ms`, `1h2m3.5s`, `0s`.
/// A bare number is taken as seconds (some servers send that). `1h2m3.5s` is 3,723.5 s;
/// `soon` is `None`.
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds);
    }
    let mut total = 0.0_f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&end| end > 0)?;
        let value: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * seconds_per_unit;
        rest = &rest[unit_end..];
    }
    seconds_to_duration(total)
}

fn seconds_to_duration(seconds: f64) -> Option<Duration> {
    (0.0..1e12)
        .contains(&seconds)
        .then(|| Duration::from_secs_f64(seconds))
}

/// The duration in "try again in `<duration>`" in `message`, if any (OpenAI's "... Please try
/// again in 680ms." is 680 ms).
pub(crate) fn try_again_in(message: &str) -> Option<Duration> {
    const MARKER: &str = "try again in ";
    let lower = message.to_ascii_lowercase();
    let start = lower.find(MARKER)? + MARKER.len();
    let word: String = message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == 'µ')
        .collect();
    // "in 1.2s." ends the sentence: the word's trailing dot is not the number's.
    parse_go_duration(word.trim_end_matches('.'))
}

/// Which limit a 429 was for: its error `type` (`tokens`, `requests`; OpenAI's), else its
/// message ("tokens per min (TPM)", "requests per min (RPM)"). `None` when it does not say.
pub(crate) fn limit_kind(api: &ApiError) -> Option<LimitKind> {
    let by_word = |text: &str| {
        let text = text.to_ascii_lowercase();
        if text.contains("tokens per min") || text.contains("(tpm)") || text == "tokens" {
            Some(LimitKind::Tokens)
        } else if text.contains("requests per min") || text.contains("(rpm)") || text == "requests"
        {
            Some(LimitKind::Requests)
        } else {
            None
        }
    };
    api.error_type()
        .and_then(by_word)
        .or_else(|| by_word(api.message()))
}
