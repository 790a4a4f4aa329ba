//! Failures through a proxy are the proxy's: the error names the proxy (never its
//! credentials) and where it was set, says what it answered, and a 407 or 403 is the
//! configuration's (not retried). Against the test kit's proxy and a real one (tinyproxy).

use gptproto_testkit::fixtures::post;
use gptproto_testkit::{PROXIED_HOST, TestProxy, Tinyproxy};
use gptproto_transport::{HttpConnector, HyperTransport, Proxy, TransportErrorKind};

/// Where the requests go: a name only a proxy would resolve (loopback is never proxied).
fn destination() -> String {
    format!("https://{PROXIED_HOST}:443/v1")
}

async fn send_through(proxy: &str) -> gptproto_transport::TransportError {
    let transport = HyperTransport::builder()
        .proxy(Proxy::all(proxy))
        .build()
        .unwrap();
    transport.send(post(&destination())).await.unwrap_err()
}

#[tokio::test]
async fn a_proxy_that_refuses_is_named_with_its_answer_and_is_a_configuration_error() {
    let proxy = TestProxy::answering("407 Proxy Authentication Required").await;
    let with_password = proxy.url().replace("http://", "http://user:hunter2@");
    let error = send_through(&with_password).await;
    let message = format!("{error:#}");
    assert_eq!(error.kind(), TransportErrorKind::Config, "{message}");
    assert!(!error.is_retryable());
    assert!(!error.may_have_reached_server());
    for said in [
        proxy.url().as_str(),
        "(set by the program)",
        "407 Proxy Authentication Required",
        &format!("CONNECT {PROXIED_HOST}:443"),
        "credentials",
    ] {
        assert!(message.contains(said), "{said:?} in {message}");
    }
    assert!(!message.contains("hunter2"), "{message}");
    assert_eq!(proxy.requests().len(), 1, "asked once");

    let forbidding = TestProxy::answering("403 Forbidden").await;
    let error = send_through(&forbidding.url()).await;
    assert_eq!(error.kind(), TransportErrorKind::Config, "{error:#}");
    // A proxy's own trouble (its upstream) may pass: a connection error, retried.
    let failing = TestProxy::answering("502 Bad Gateway").await;
    let error = send_through(&failing.url()).await;
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{error:#}");
    assert!(
        format!("{error:#}").contains("answered 502 Bad Gateway"),
        "{error:#}"
    );
}

#[tokio::test]
async fn a_proxy_that_is_down_is_named_not_the_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = send_through(&format!("http://user:hunter2@127.0.0.1:{port}")).await;
    let message = format!("{error:#}");
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{message}");
    assert!(
        message.starts_with(&format!(
            "cannot reach the proxy http://127.0.0.1:{port} (set by the program)"
        )),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn tinyproxy_with_basic_authentication() {
    let Some(tinyproxy) = Tinyproxy::start("gptproto", "right") else {
        return;
    };
    for url in [tinyproxy.url_with("gptproto", "badpass"), tinyproxy.url()] {
        let error = send_through(&url).await;
        let message = format!("{error:#}");
        assert_eq!(error.kind(), TransportErrorKind::Config, "{message}");
        assert!(message.contains(&tinyproxy.url()), "{message}");
        // tinyproxy 1.11 answers 401 (RFC 9110 says 407): either is the credentials'.
        assert!(
            message.contains("answered 407") || message.contains("answered 401"),
            "{message}"
        );
        assert!(message.contains("credentials"), "{message}");
        assert!(!message.contains("badpass"), "{message}");
    }
    // The right credentials: tinyproxy lets the request through and cannot reach a name that
    // resolves nowhere; its answer is said, a connection error that may pass.
    let error = send_through(&tinyproxy.url_with("gptproto", "right")).await;
    let message = format!("{error:#}");
    assert_eq!(error.kind(), TransportErrorKind::Connect, "{message}");
    assert!(message.contains(&tinyproxy.url()), "{message}");
    assert!(
        message.contains("answered 5"),
        "{message}\ntinyproxy's log:\n{}",
        tinyproxy.log()
    );
}
