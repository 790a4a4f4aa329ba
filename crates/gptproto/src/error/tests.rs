//! Every question answered the same through [`Error`] as by the layer that defines it, for
//! errors made the way real calls make them.

use std::error::Error as _;

use bytes::Bytes;
use gptproto_proto::exchange::{ClientConfig, classify_response};
use gptproto_proto::{ChatCompletion, ChatRequest, StreamDecoder};
use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::*;

/// Errors of the core, one of each kind, as the core makes them.
fn core_errors() -> Vec<(&'static str, gptproto_proto::Error)> {
    let api = |status: u16, body: serde_json::Value| {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", "req-7".parse().unwrap());
        classify_response(
            StatusCode::from_u16(status).unwrap(),
            &headers,
            body.to_string().as_bytes(),
        )
        .unwrap_err()
    };
    let error = |code: &str, message: &str| json!({"error": {"code": code, "message": message}});
    let stream = |body: &'static str| {
        let mut decoder = StreamDecoder::new();
        decoder.push(Bytes::from_static(body.as_bytes()));
        decoder.finish();
        loop {
            match decoder.poll_item() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("{body:?} decoded without an error"),
                Err(error) => return error,
            }
        }
    };
    let answer = |message: serde_json::Value, finish: &str| -> ChatCompletion {
        serde_json::from_value(
            json!({"choices": [{"index": 0, "message": message, "finish_reason": finish}]}),
        )
        .unwrap()
    };
    let parse = |completion: ChatCompletion| completion.parse::<Vec<u32>>().unwrap_err();
    vec![
        ("validation", ChatRequest::new("m").validate().unwrap_err()),
        (
            "config",
            ClientConfig::builder()
                .base_url("nope")
                .build()
                .unwrap_err(),
        ),
        ("400", api(400, error("invalid_parameter", "bad"))),
        (
            "content policy",
            api(400, error("data_inspection_failed", "no")),
        ),
        ("401", api(401, error("invalid_api_key", "who?"))),
        ("403", api(403, error("permission_denied", "no"))),
        (
            "403 balance",
            api(403, error("insufficient_balance", "pay")),
        ),
        ("404", api(404, error("model_not_found", "which?"))),
        ("422", api(422, error("unprocessable", "hm"))),
        ("429", api(429, error("rate_limit_exceeded", "slow"))),
        ("429 quota", api(429, error("insufficient_quota", "quota"))),
        ("500", api(500, error("server_error", "boom"))),
        (
            "200 not a completion",
            classify_response(StatusCode::OK, &HeaderMap::new(), b"<html>").unwrap_err(),
        ),
        ("truncated", stream("data: {\"choices\":[]}\n\n")),
        ("misuse", {
            let mut decoder = StreamDecoder::new();
            decoder.finish();
            decoder.push(Bytes::from_static(b"data: late\n\n"));
            decoder.poll_item().unwrap_err()
        }),
        ("buffer limit", {
            let sse = gptproto_proto::sse::SseDecoder::new().with_buffer_limit(8);
            let mut decoder = StreamDecoder::with_sse(sse);
            decoder.push(Bytes::from_static(
                b"data: a line longer than eight bytes\n\n",
            ));
            decoder.poll_item().unwrap_err()
        }),
        ("invalid data", stream("data: {not json}\n\n")),
        (
            "error in the stream",
            stream("data: {\"error\":{\"message\":\"overloaded\",\"code\":503}}\n\n"),
        ),
        (
            "refusal",
            parse(answer(
                json!({"role": "assistant", "refusal": "no"}),
                "stop",
            )),
        ),
        (
            "length",
            parse(answer(
                json!({"role": "assistant", "content": "[1,"}),
                "length",
            )),
        ),
        (
            "content filter",
            parse(answer(
                json!({"role": "assistant", "content": ""}),
                "content_filter",
            )),
        ),
        (
            "invalid JSON",
            parse(answer(
                json!({"role": "assistant", "content": "{}"}),
                "stop",
            )),
        ),
    ]
}

type Predicate<E> = (&'static str, fn(&E) -> bool);

#[test]
fn every_question_of_the_core_is_answered_the_same_through_the_client_error() {
    use gptproto_proto::Error as Core;
    let pairs: &[(Predicate<Core>, Predicate<Error>)] = &[
        (
            ("is_validation", Core::is_validation),
            ("is_validation", Error::is_validation),
        ),
        (
            ("is_config", Core::is_config),
            ("is_config", Error::is_config),
        ),
        (("is_api", Core::is_api), ("is_api", Error::is_api)),
        (("is_auth", Core::is_auth), ("is_auth", Error::is_auth)),
        (
            ("is_rate_limited", Core::is_rate_limited),
            ("is_rate_limited", Error::is_rate_limited),
        ),
        (
            ("is_content_policy", Core::is_content_policy),
            ("is_content_policy", Error::is_content_policy),
        ),
        (
            ("is_insufficient_balance", Core::is_insufficient_balance),
            ("is_insufficient_balance", Error::is_insufficient_balance),
        ),
        (
            ("is_server_error", Core::is_server_error),
            ("is_server_error", Error::is_server_error),
        ),
        (
            ("is_rejected", Core::is_rejected),
            ("is_rejected", Error::is_rejected),
        ),
        (
            ("is_buffer_limit", Core::is_buffer_limit),
            ("is_buffer_limit", Error::is_buffer_limit),
        ),
        (
            ("is_refusal", Core::is_refusal),
            ("is_refusal", Error::is_refusal),
        ),
        (
            ("is_length_limit", Core::is_length_limit),
            ("is_length_limit", Error::is_length_limit),
        ),
        (
            ("is_invalid_json", Core::is_invalid_json),
            ("is_invalid_json", Error::is_invalid_json),
        ),
        (
            ("is_truncated", Core::is_truncated),
            ("is_truncated", Error::is_truncated),
        ),
        (
            ("is_protocol", Core::is_protocol),
            ("is_protocol", Error::is_protocol),
        ),
    ];
    let errors = core_errors();
    for (what, core) in &errors {
        let client = Error::from(core.clone());
        for ((name, asked_core), (_, asked_client)) in pairs {
            assert_eq!(asked_core(core), asked_client(&client), "{what}: {name}");
        }
        assert_eq!(core.status(), client.status(), "{what}: status");
        assert_eq!(core.request_id(), client.request_id(), "{what}: request_id");
        assert_eq!(
            core.partial().is_some(),
            client.partial().is_some(),
            "{what}: partial"
        );
        // The same words, said once: no source repeating them.
        assert_eq!(core.to_string(), client.to_string(), "{what}");
        assert!(client.source().is_none(), "{what}");
    }
    // Every predicate was true for some error, and false for another: none is vacuous.
    for ((name, asked), _) in pairs {
        assert!(
            errors.iter().any(|(_, error)| asked(error)),
            "{name} never true"
        );
        assert!(
            errors.iter().any(|(_, error)| !asked(error)),
            "{name} never false"
        );
    }
    // The case the vocabulary had drifted on: a content filter met by `parse`.
    let filtered = &errors
        .iter()
        .find(|(what, _)| *what == "content filter")
        .unwrap()
        .1;
    assert!(Error::from(filtered.clone()).is_content_policy());
}

#[test]
fn every_question_of_the_transport_is_answered_the_same_through_the_client_error() {
    let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
    let untrusted = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        )
    };
    let errors = [
        ("connect", TransportError::connect(refused())),
        ("connect timeout", TransportError::connect(timed_out())),
        ("certificate", TransportError::connect(untrusted())),
        ("request", TransportError::request(refused())),
        ("body", TransportError::body(refused())),
    ];
    type Both = (
        &'static str,
        fn(&TransportError) -> bool,
        fn(&Error) -> bool,
    );
    let pairs: &[Both] = &[
        ("is_connect", TransportError::is_connect, Error::is_connect),
        (
            "is_certificate",
            TransportError::is_certificate,
            Error::is_certificate,
        ),
        ("is_timeout", TransportError::is_timeout, Error::is_timeout),
        ("is_config", TransportError::is_config, Error::is_config),
        (
            "may_have_reached_server",
            TransportError::may_have_reached_server,
            Error::may_have_reached_server,
        ),
    ];
    for (what, transport) in errors {
        let (expected, text, alternate) = (
            pairs
                .iter()
                .map(|(_, t, _)| t(&transport))
                .collect::<Vec<_>>(),
            transport.to_string(),
            format!("{transport:#}"),
        );
        let source = transport.source().map(ToString::to_string);
        let client = Error::transport(transport);
        let answered: Vec<bool> = pairs.iter().map(|(_, _, c)| c(&client)).collect();
        let names: Vec<&str> = pairs.iter().map(|(name, ..)| *name).collect();
        assert_eq!(expected, answered, "{what}: {names:?}");
        assert_eq!(client.to_string(), text, "{what}");
        assert_eq!(format!("{client:#}"), alternate, "{what}");
        assert_eq!(client.source().map(ToString::to_string), source, "{what}");
        // Said once: the cause is not in this layer's text, and `{:#}` adds the deepest.
        assert!(
            !text.contains("refused") && !text.contains("timed out"),
            "{what}: {text}"
        );
    }
    let certificate = Error::transport(TransportError::connect(untrusted()));
    assert!(
        format!("{certificate:#}").contains("UnknownIssuer"),
        "{certificate:#}"
    );
    assert!(Error::transport(TransportError::connect(timed_out())).is_timeout());
    assert!(!Error::transport(TransportError::connect(refused())).is_timeout());
}

#[test]
fn every_error_is_one_kind_and_its_class_is_the_kinds() {
    let expected = [
        ("validation", ErrorKind::Validation),
        ("config", ErrorKind::Config),
        ("400", ErrorKind::Api),
        ("content policy", ErrorKind::Api),
        ("429 quota", ErrorKind::Api),
        ("200 not a completion", ErrorKind::Protocol),
        ("truncated", ErrorKind::Truncated),
        ("misuse", ErrorKind::Misuse),
        ("buffer limit", ErrorKind::Protocol),
        ("invalid data", ErrorKind::Protocol),
        ("error in the stream", ErrorKind::Api),
        ("refusal", ErrorKind::Answer),
        ("length", ErrorKind::Answer),
        ("content filter", ErrorKind::Answer),
        ("invalid JSON", ErrorKind::Answer),
    ];
    let errors = core_errors();
    for (what, kind) in expected {
        let core = &errors.iter().find(|(name, _)| *name == what).unwrap().1;
        let error = Error::from(core.clone());
        assert_eq!(error.kind(), kind, "{what}");
        let class = error.error_type();
        match error.status() {
            Some(status) => assert_eq!(class, status.as_str(), "{what}"),
            None => assert_eq!(class, kind.as_str(), "{what}"),
        }
    }
    let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
    let transport = [
        (TransportError::connect(refused()), ErrorKind::Connect),
        (TransportError::connect(timed_out()), ErrorKind::Timeout),
        (TransportError::request(refused()), ErrorKind::Network),
        (TransportError::body(refused()), ErrorKind::Interrupted),
        // What a connector of one's own can say: every kind.
        (
            TransportError::certificate(refused()),
            ErrorKind::Certificate,
        ),
        (TransportError::config("no such proxy"), ErrorKind::Config),
        (
            TransportError::insecure_scheme("no http"),
            ErrorKind::Config,
        ),
    ];
    for (error, kind) in transport {
        let text = error.to_string();
        let retryable = error.is_retryable();
        assert_eq!(
            retryable,
            matches!(
                kind,
                ErrorKind::Connect
                    | ErrorKind::Timeout
                    | ErrorKind::Network
                    | ErrorKind::Interrupted
            ),
            "{text}"
        );
        assert_eq!(Error::transport(error).kind(), kind, "{text}");
    }
    let interrupted = Error::interrupted(TransportError::body(refused()), 3, None);
    assert_eq!(interrupted.kind(), ErrorKind::Interrupted);
    assert!(interrupted.is_truncated() && interrupted.is_network() && !interrupted.is_protocol());
    assert_eq!(interrupted.error_type(), "stream_truncated");
    assert_eq!(Error::config("x").kind(), ErrorKind::Config);
    // A connect timeout is a timeout, and no connection was made.
    let connect_timeout = Error::transport(TransportError::connect(timed_out()));
    assert!(connect_timeout.is_timeout() && connect_timeout.is_connect());
    assert!(!connect_timeout.is_network());
}
