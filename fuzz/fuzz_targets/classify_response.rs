//! Response classification on an arbitrary status, headers and body: never a panic, an error
//! status is always an `ApiError` carrying that status, and a 2xx is a completion, an API
//! error or a protocol error (never anything else).
#![no_main]

use gptproto_proto::exchange::{api_error, classify_response};
use gptproto_proto::retry::{Failure, RetryPolicy};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;

/// The input: `[status u16 LE, jitter, retries, header lines "n:value\n"..., 0, body...]`
/// where `n` picks one of `NAMES`.
struct Input {
    status: u16,
    headers: Vec<(u8, String)>,
    body: Vec<u8>,
    jitter: u8,
    retries: u8,
}

impl Input {
    fn parse(raw: &[u8]) -> Option<Self> {
        if raw.len() < 4 {
            return None;
        }
        let status = u16::from_le_bytes([raw[0], raw[1]]);
        let (jitter, retries) = (raw[2], raw[3]);
        let rest = &raw[4..];
        let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let headers = String::from_utf8_lossy(&rest[..split])
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.bytes().next().unwrap_or(0), value.to_owned()))
            })
            .collect();
        let body = rest.get(split + 1..).unwrap_or_default().to_vec();
        Some(Self {
            status,
            headers,
            body,
            jitter,
            retries,
        })
    }
}

const NAMES: [&str; 8] = [
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "x-request-id",
    "content-type",
    "request-id",
    "x-dashscope-request-id",
    "x-other",
];

fuzz_target!(|raw: &[u8]| {
    let Some(input) = Input::parse(raw) else {
        return;
    };
    let Ok(status) = StatusCode::from_u16(100 + input.status % 500) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.append(
                HeaderName::from_static(NAMES[usize::from(*name) % NAMES.len()]),
                value,
            );
        }
    }
    match classify_response(status, &headers, &input.body) {
        Ok(completion) => {
            assert!(status.is_success());
            serde_json::to_string(&completion).unwrap();
        }
        Err(error) => {
            if !status.is_success() {
                let api = error.api_error().expect("an error status is an API error");
                assert_eq!(api.status(), Some(status));
            } else {
                assert!(error.is_api() || error.is_protocol(), "{error:?}");
            }
            let _ = error.to_string();
        }
    }
    let api = api_error(status, &headers, &input.body);
    let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let decision = RetryPolicy::default().decide(
        u32::from(input.retries % 4),
        &Failure::Response(&api),
        now,
        f64::from(input.jitter) / 256.0,
    );
    if let gptproto_proto::retry::RetryDecision::Retry { after } = decision {
        assert!(after <= std::time::Duration::from_secs(60));
    }
});
