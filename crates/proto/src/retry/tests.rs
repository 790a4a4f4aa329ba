use super::*;
use crate::exchange::{ApiError, api_error};
use http::{HeaderMap, HeaderValue, StatusCode};

fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> ApiError {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    api_error(StatusCode::from_u16(status).unwrap(), &map, body.as_bytes())
}

fn decide(retries: u32, api: &ApiError) -> RetryDecision {
    RetryPolicy::default().decide(
        retries,
        &Failure::Response(api),
        SystemTime::UNIX_EPOCH,
        0.0,
    )
}

#[test]
fn backoff_doubles_caps_and_jitters() {
    let policy = RetryPolicy::default();
    let ms = |d: Duration| d.as_millis();
    assert_eq!(ms(policy.backoff(0, 0.0)), 500);
    assert_eq!(ms(policy.backoff(1, 0.0)), 1000);
    assert_eq!(ms(policy.backoff(4, 0.0)), 8000);
    assert_eq!(ms(policy.backoff(40, 0.0)), 8000);
    assert_eq!(ms(policy.backoff(0, 1.0)), 375);
    assert_eq!(ms(policy.backoff(1, 0.5)), 875);
}

#[test]
fn retryable_statuses() {
    for status in [408, 409, 429, 500, 502, 503, 504] {
        assert!(
            matches!(
                decide(0, &response(status, &[], "")),
                RetryDecision::Retry { .. }
            ),
            "{status}"
        );
    }
    for status in [400, 401, 403, 404, 422] {
        assert_eq!(
            decide(0, &response(status, &[], "")),
            RetryDecision::GiveUp {
                reason: GiveUpReason::NotRetryable
            },
            "{status}"
        );
    }
}

#[test]
fn quota_and_balance_429s_are_not_retried() {
    let quota = response(
        429,
        &[],
        r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
    );
    assert_eq!(
        decide(0, &quota),
        RetryDecision::GiveUp {
            reason: GiveUpReason::NotRetryable
        }
    );
}

#[test]
fn x_should_retry_overrides_the_status() {
    let no = response(503, &[("x-should-retry", "false")], "");
    assert_eq!(
        decide(0, &no),
        RetryDecision::GiveUp {
            reason: GiveUpReason::ServerSaidNo
        }
    );
    let yes = response(400, &[("x-should-retry", "true")], "");
    assert!(matches!(decide(0, &yes), RetryDecision::Retry { .. }));
}

#[test]
fn retries_run_out() {
    let api = response(500, &[], "");
    assert!(matches!(decide(1, &api), RetryDecision::Retry { .. }));
    assert_eq!(
        decide(2, &api),
        RetryDecision::GiveUp {
            reason: GiveUpReason::RetriesExhausted
        }
    );
    assert_eq!(
        RetryPolicy::never().decide(0, &Failure::Timeout, SystemTime::UNIX_EPOCH, 0.5),
        RetryDecision::GiveUp {
            reason: GiveUpReason::RetriesExhausted
        }
    );
}

#[test]
fn server_hints_are_honoured_within_the_cap() {
    let after = |api: &ApiError, now: SystemTime| match RetryPolicy::default().decide(
        0,
        &Failure::Response(api),
        now,
        0.0,
    ) {
        RetryDecision::Retry { after } => after,
        other => panic!("{other:?}"),
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470);
    assert_eq!(
        after(&response(429, &[("retry-after-ms", "250")], ""), now),
        Duration::from_millis(250)
    );
    assert_eq!(
        after(&response(429, &[("retry-after", "3")], ""), now),
        Duration::from_secs(3)
    );
    assert_eq!(
        after(
            &response(429, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], ""),
            now
        ),
        Duration::from_secs(10)
    );
    // Zero, past and over-long hints fall back to the computed backoff.
    assert_eq!(
        after(&response(429, &[("retry-after", "0")], ""), now),
        Duration::from_millis(500)
    );
    assert_eq!(
        after(
            &response(429, &[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")], ""),
            now
        ),
        Duration::from_millis(500)
    );
    assert_eq!(
        after(&response(429, &[("retry-after", "120")], ""), now),
        Duration::from_millis(500)
    );
}

#[test]
fn connection_errors_and_timeouts_are_retried() {
    let policy = RetryPolicy::default();
    assert!(RetryPolicy::is_retryable(&Failure::Connect));
    assert_eq!(
        policy.decide(1, &Failure::Timeout, SystemTime::UNIX_EPOCH, 0.0),
        RetryDecision::Retry {
            after: Duration::from_secs(1)
        }
    );
}

#[test]
fn in_stream_errors_are_not_retried_by_status() {
    let api = ApiError::in_stream(crate::wire::ErrorObject {
        message: "x".into(),
        ..Default::default()
    });
    assert!(!RetryPolicy::is_retryable(&Failure::Response(&api)));
}
