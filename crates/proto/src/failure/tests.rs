use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

use super::*;
use crate::exchange::api_error;

fn api(status: u16, headers: &[(&str, &str)], body: &str) -> ApiError {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    api_error(StatusCode::from_u16(status).unwrap(), &map, body.as_bytes())
}

fn class(status: u16, body: &str) -> FailureClass {
    FailureClass::of(&Failure::Response(&api(status, &[], body)))
}

#[test]
fn the_connection_failing_or_no_head_in_time_is_transient() {
    for failure in [Failure::Connect, Failure::Disconnected, Failure::Timeout] {
        assert_eq!(FailureClass::of(&failure), FailureClass::Transient);
    }
    assert!(!Failure::Connect.may_have_reached_server());
    assert!(Failure::Disconnected.may_have_reached_server());
    assert!(Failure::Timeout.may_have_reached_server());
}

#[test]
fn statuses_are_classified_as_the_official_sdks_retry_them() {
    for status in [408, 409, 500, 502, 503, 504, 529] {
        assert_eq!(class(status, ""), FailureClass::Transient, "{status}");
    }
    for status in [400, 404, 405, 413, 418, 422, 451] {
        assert_eq!(class(status, ""), FailureClass::Permanent, "{status}");
    }
    assert_eq!(class(401, ""), FailureClass::Unauthorized);
    assert_eq!(
        class(403, r#"{"error":{"message":"no access to this model"}}"#),
        FailureClass::Unauthorized
    );
    assert_eq!(
        class(429, ""),
        FailureClass::RateLimited { limit: None },
        "a 429 that does not say which limit"
    );
}

#[test]
fn a_429_names_its_limit_by_type_or_message() {
    assert_eq!(
        class(
            429,
            r#"{"error":{"message":"slow down","type":"requests"}}"#
        ),
        FailureClass::RateLimited {
            limit: Some(LimitKind::Requests)
        }
    );
    assert_eq!(
        class(
            429,
            r#"{"error":{"message":"Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000"}}"#
        ),
        FailureClass::RateLimited {
            limit: Some(LimitKind::Tokens)
        }
    );
}

#[test]
fn an_exhausted_quota_or_balance_and_a_request_too_large_are_permanent_whatever_the_status() {
    let quota =
        r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#;
    assert_eq!(class(429, quota), FailureClass::Permanent);
    let arrearage = r#"{"error":{"message":"Access denied, please make sure your account is in good standing.","code":"Arrearage"}}"#;
    assert_eq!(class(400, arrearage), FailureClass::Permanent);
    let too_large = r#"{"error":{"message":"Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 45000."}}"#;
    assert_eq!(class(429, too_large), FailureClass::Permanent);
}

#[test]
fn x_should_retry_decides_over_the_status() {
    let retry = |status, value| {
        FailureClass::of(&Failure::Response(&api(
            status,
            &[("x-should-retry", value)],
            "",
        )))
    };
    assert_eq!(retry(400, "true"), FailureClass::Transient);
    assert_eq!(
        retry(429, "true"),
        FailureClass::RateLimited { limit: None }
    );
    assert_eq!(retry(503, "false"), FailureClass::Permanent);
    assert_eq!(retry(429, "false"), FailureClass::Permanent);
    assert_eq!(retry(401, "false"), FailureClass::Unauthorized);
    assert_eq!(retry(503, "maybe"), FailureClass::Transient);
}

#[test]
fn only_unauthorized_stops_a_run_and_only_transient_and_rate_limited_are_retried() {
    let all = [
        FailureClass::Transient,
        FailureClass::RateLimited { limit: None },
        FailureClass::Permanent,
        FailureClass::Unauthorized,
    ];
    let retried: Vec<_> = all.iter().map(|class| class.is_retryable()).collect();
    assert_eq!(retried, [true, true, false, false]);
    let stops: Vec<_> = all.iter().map(|class| class.stops_run()).collect();
    assert_eq!(stops, [false, false, false, true]);
}

#[test]
fn the_retry_hint_is_the_headers_then_the_message() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let hinted = api(429, &[("retry-after-ms", "250")], "");
    assert_eq!(
        Failure::Response(&hinted).retry_hint(now),
        Some(Duration::from_millis(250))
    );
    let worded = api(
        429,
        &[],
        r#"{"error":{"message":"Limit 30000. Please try again in 680ms."}}"#,
    );
    assert_eq!(
        Failure::Response(&worded).retry_hint(now),
        Some(Duration::from_millis(680))
    );
    assert_eq!(Failure::Timeout.retry_hint(now), None);
}

#[test]
fn an_error_inside_a_stream_is_classified_by_its_code() {
    let in_stream = |body: &str| {
        let object = serde_json::from_str::<serde_json::Value>(body).unwrap();
        let error = crate::wire::ErrorObject::from_body(&object).unwrap();
        FailureClass::of(&Failure::Response(&ApiError::in_stream(error)))
    };
    assert_eq!(
        in_stream(r#"{"error":{"message":"overloaded","code":503}}"#),
        FailureClass::Transient
    );
    assert_eq!(
        in_stream(r#"{"error":{"message":"Rate limit exceeded","code":429}}"#),
        FailureClass::RateLimited { limit: None }
    );
    assert_eq!(
        in_stream(r#"{"error":{"message":"bad input","code":"invalid_request_error"}}"#),
        FailureClass::Permanent
    );
}

#[test]
fn another_model_is_tried_when_this_one_is_missing_down_or_limited_not_when_the_request_is_wrong() {
    let over = |status: u16, body: &str| fails_over(&Failure::Response(&api(status, &[], body)));
    let error = |code: &str, message: &str| {
        format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#)
    };
    // Missing or unavailable models, as providers say it.
    assert!(over(
        404,
        &error("model_not_found", "The model `x` does not exist")
    ));
    assert!(over(
        400,
        r#"{"code":"InvalidParameter","message":"Model not exist."}"#
    ));
    assert!(over(400, &error("", "x/y is not a valid model ID")));
    // Down, overloaded, rate limited.
    for status in [500, 502, 503, 529] {
        assert!(
            over(status, &error("server_error", "overloaded")),
            "{status}"
        );
    }
    assert!(over(429, &error("rate_limit_exceeded", "slow down")));
    for failure in [Failure::Connect, Failure::Disconnected, Failure::Timeout] {
        assert!(fails_over(&failure));
    }
    // The request, the key or the account: another model is refused the same.
    assert!(!over(
        400,
        &error("invalid_parameter", "temperature must be at most 2")
    ));
    assert!(!over(
        400,
        &error(
            "data_inspection_failed",
            "Input data may contain inappropriate content."
        )
    ));
    assert!(!over(401, &error("invalid_api_key", "Incorrect API key")));
    assert!(!over(
        429,
        &error("insufficient_quota", "You exceeded your current quota")
    ));
    assert!(!over(422, &error("unprocessable", "no")));
}
