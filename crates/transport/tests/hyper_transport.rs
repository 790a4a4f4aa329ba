//! The hyper transport against the in-repo test server, over real TCP and TLS.

use bytes::Bytes;
use gptproto_testkit::fixtures::post;
use gptproto_testkit::{Reply, TestCa, TestProxy, TestServer};
use gptproto_transport::{
    HttpConnector, HyperTransport, HyperTransportBuilder, Proxy, Roots, TransportErrorKind,
};
use http_body_util::BodyExt;
use serde_json::json;

/// A builder trusting `ca` alone, with no proxy: what each test then sets on top.
fn builder_trusting(ca: &TestCa) -> HyperTransportBuilder {
    HyperTransport::builder()
        .roots(Roots::Custom(ca.root_store()))
        .proxy(Proxy::none())
}

fn transport_trusting(ca: &TestCa) -> HyperTransport {
    builder_trusting(ca).build().unwrap()
}

async fn body_text(response: http::Response<gptproto_transport::ResponseBody>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn plain_http_to_loopback_and_connection_reuse() {
    let server = TestServer::start(|_| Reply::json(200, &json!({"ok": true}))).await;
    let transport = HyperTransport::builder()
        .proxy(Proxy::none())
        .build()
        .unwrap();
    for _ in 0..3 {
        let response = transport.send(post(&server.base_url())).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(body_text(response).await, r#"{"ok":true}"#);
    }
    assert_eq!(server.requests().len(), 3);
    assert_eq!(server.connections(), 1, "the pool reuses one connection");
    assert_eq!(
        server.requests()[0].body,
        Bytes::from_static(b"{\"model\":\"m\"}")
    );
}

#[tokio::test]
async fn tls_with_the_test_ca_negotiates_http2() {
    let server = TestServer::start_tls(|_| Reply::json(200, &json!({"tls": true}))).await;
    let transport = transport_trusting(server.ca().unwrap());
    let response = transport.send(post(&server.base_url())).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(body_text(response).await, r#"{"tls":true}"#);
    assert_eq!(server.requests()[0].version, http::Version::HTTP_2);
}

#[tokio::test]
async fn http1_only_stays_on_http1() {
    let server = TestServer::start_tls(|_| Reply::json(200, &json!({}))).await;
    let transport = builder_trusting(server.ca().unwrap())
        .http1_only()
        .build()
        .unwrap();
    let response = transport.send(post(&server.base_url())).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_11);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_the_error_says_what_to_do() {
    let server = TestServer::start_tls(|_| Reply::json(200, &json!({}))).await;
    let other_ca = TestCa::new();
    let error = transport_trusting(&other_ca)
        .send(post(&server.base_url()))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::Certificate, "{error}");
    assert!(error.is_certificate() && error.is_connect());
    assert!(!error.may_have_reached_server());
    // This layer's words, and with `{:#}` the cause rustls gave. (The other test CA has the
    // same name: rustls finds the issuer, not its signature.)
    assert!(
        !error.to_string().contains("invalid peer certificate"),
        "{error}"
    );
    let message = format!("{error:#}");
    for expected in [
        "not trusted",
        "1 custom root certificate",
        "invalid peer certificate",
        "add its certificate",
    ] {
        assert!(message.contains(expected), "{expected:?} in {message}");
    }
    assert!(server.requests().is_empty());

    // The default roots do not know the test CA either, and say which they are.
    let error = HyperTransport::builder()
        .proxy(Proxy::none())
        .build()
        .unwrap()
        .send(post(&server.base_url()))
        .await
        .unwrap_err();
    assert!(error.is_certificate(), "{error}");
    assert!(error.to_string().contains("webpki-roots"), "{error}");
    assert!(format!("{error:#}").contains("UnknownIssuer"), "{error:#}");

    // Through a probe's waiters (an HTTP/2-only transport) as through the pool.
    let error = HyperTransport::builder()
        .roots(Roots::Custom(other_ca.root_store()))
        .proxy(Proxy::none())
        .http2_only()
        .build()
        .unwrap()
        .send(post(&server.base_url()))
        .await
        .unwrap_err();
    assert!(error.is_certificate(), "{error}");
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused_before_connecting() {
    let transport = HyperTransport::builder()
        .proxy(Proxy::none())
        .build()
        .unwrap();
    let error = transport
        .send(post("http://192.0.2.1/v1"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), TransportErrorKind::InsecureScheme);
    assert!(error.to_string().contains("192.0.2.1"), "{error}");
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let transport = HyperTransport::builder()
        .proxy(Proxy::none())
        .build()
        .unwrap();
    let error = transport
        .send(post(&format!("http://127.0.0.1:{port}/v1")))
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error}");
    assert!(!error.may_have_reached_server());
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel() {
    let server = TestServer::start_tls(|_| Reply::json(200, &json!({"via": "tunnel"}))).await;
    let proxy = TestProxy::start().await;
    let transport = builder_trusting(server.ca().unwrap())
        .proxy(Proxy::all(proxy.url()))
        .build()
        .unwrap();
    // A name only the proxy resolves: answered, so through the tunnel.
    let response = transport
        .send(post(&server.proxied_base_url()))
        .await
        .unwrap();
    assert_eq!(body_text(response).await, r#"{"via":"tunnel"}"#);
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].starts_with(&format!(
            "CONNECT {}:{} ",
            gptproto_testkit::PROXIED_HOST,
            server.address().port()
        )),
        "{requests:?}"
    );
}

#[tokio::test]
async fn no_proxy_hosts_bypass_the_proxy() {
    let server = TestServer::start_tls(|_| Reply::json(200, &json!({}))).await;
    let proxy = TestProxy::start().await;
    let transport = builder_trusting(server.ca().unwrap())
        .proxy(Proxy::all(proxy.url()).no_proxy(gptproto_testkit::PROXIED_HOST))
        .build()
        .unwrap();
    // Bypassing the proxy, the name resolves nowhere: a connection error, and the proxy saw
    // nothing.
    let error = transport
        .send(post(&server.proxied_base_url()))
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error}");
    assert!(proxy.requests().is_empty());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn loopback_is_never_proxied() {
    // A plain-http local model server and a proxy for everything: the key must not travel in
    // clear to the proxy.
    let server = TestServer::start(|_| Reply::json(200, &json!({"direct": true}))).await;
    let proxy = TestProxy::start().await;
    let transport = HyperTransport::builder()
        .proxy(Proxy::all(proxy.url()))
        .build()
        .unwrap();
    let mut request = post(&server.base_url());
    request
        .headers_mut()
        .insert("authorization", "sk-secret".parse().unwrap());
    let response = transport.send(request).await.unwrap();
    assert_eq!(body_text(response).await, r#"{"direct":true}"#);
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("sk-secret")
    );
    let localhost = format!("http://localhost:{}/v1", server.address().port());
    transport.send(post(&localhost)).await.unwrap();
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

/// Opens `n` streams at once (each to its head and first piece) and holds them all.
async fn open_streams(
    transport: &HyperTransport,
    url: &str,
    n: usize,
) -> Vec<http::Response<gptproto_transport::ResponseBody>> {
    let open = (0..n).map(|_| async {
        let mut response = transport.send(post(url)).await.unwrap();
        assert_eq!(response.status(), 200);
        let first = response.body_mut().frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "data: {}\n\n");
        response
    });
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        futures_util::future::join_all(open),
    )
    .await
    .expect("every stream opened (none left waiting for a free HTTP/2 stream)")
}

/// A TLS server of stalled streams allowing `streams` concurrent streams per connection.
async fn server_allowing(streams: u32) -> TestServer {
    let options = gptproto_testkit::TlsOptions {
        max_concurrent_streams: Some(streams),
        ..Default::default()
    };
    TestServer::start_tls_with(options, stalled_stream).await
}

fn all_on(
    streams: &[http::Response<gptproto_transport::ResponseBody>],
    version: http::Version,
) -> bool {
    streams.iter().all(|stream| stream.version() == version)
}

fn stalled_stream(_: &gptproto_testkit::Recorded) -> Reply {
    Reply::sse_raw("data: {}\n\n").ending(gptproto_testkit::Ending::Stall)
}

#[tokio::test]
async fn a_burst_to_a_new_origin_waits_for_one_connection_to_learn_http2() {
    let server = TestServer::start_tls(stalled_stream).await;
    let transport = transport_trusting(server.ca().unwrap());
    let streams = open_streams(&transport, &server.base_url(), 50).await;
    assert!(all_on(&streams, http::Version::HTTP_2));
    // hyper-util alone starts one TLS connection per request until one negotiates h2.
    assert_eq!(
        server.connections(),
        1,
        "50 streams on one HTTP/2 connection"
    );
}

#[tokio::test]
async fn streams_past_a_connections_limit_open_another_connection() {
    let server = server_allowing(10).await;
    let transport = builder_trusting(server.ca().unwrap())
        .http2_streams_per_connection(10)
        .build()
        .unwrap();
    // The server allows 10 streams per connection: 35 open at once need 4 connections, where
    // one connection would leave 25 waiting inside hyper until others end.
    let streams = open_streams(&transport, &server.base_url(), 35).await;
    assert_eq!(server.connections(), 4);
    drop(streams);
    // Ended streams give their places back: the same connections carry the next ones (once
    // the server has seen the resets; until then it would refuse a stream past its limit,
    // which the client's retries take care of, not the transport).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.abandoned() < 35 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let streams = open_streams(&transport, &server.base_url(), 35).await;
    assert_eq!(streams.len(), 35);
    assert_eq!(server.connections(), 4);
}

#[tokio::test]
async fn a_burst_to_an_http1_server_learns_http1_and_goes_on() {
    let options = gptproto_testkit::TlsOptions {
        http2: false,
        ..Default::default()
    };
    let server = TestServer::start_tls_with(options, stalled_stream).await;
    let transport = transport_trusting(server.ca().unwrap());
    let streams = open_streams(&transport, &server.base_url(), 20).await;
    assert!(all_on(&streams, http::Version::HTTP_11));
    assert_eq!(
        server.connections(),
        20,
        "one per open stream, the probe's (which found HTTP/1.1) carrying one of them"
    );
}

#[tokio::test]
async fn lanes_follow_the_servers_stream_limit() {
    let server = server_allowing(10).await;
    // The default: up to 100 streams per connection, less if the server says so. A new
    // connection is used once the server's settings are read, so even the first burst fits.
    let transport = transport_trusting(server.ca().unwrap());
    let streams = open_streams(&transport, &server.base_url(), 35).await;
    assert_eq!(streams.len(), 35);
    assert_eq!(
        server.connections(),
        4,
        "35 streams, 10 per connection as the server allows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_survive_churn_and_cancelled_requests() {
    // Rounds of 150 requests at once against a server allowing 20 streams per connection: a
    // third cancelled while waiting for a lane or a head, the rest held to their first piece,
    // then all dropped. Nothing may hang, and the connections stay those the load needs.
    let server = server_allowing(20).await;
    let transport = transport_trusting(server.ca().unwrap());
    let url = server.base_url();
    for round in 0..10 {
        let calls = (0..150).map(|i| {
            let transport = transport.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let send = transport.send(post(&url));
                if i % 3 == 0 {
                    // Cancelled at some point before the head.
                    let _ =
                        tokio::time::timeout(std::time::Duration::from_micros(50 * i), send).await;
                    return None;
                }
                // A stream freed here before the server saw its reset makes the server refuse
                // the next one past its limit, unprocessed: the transport sends it again.
                let mut response = send
                    .await
                    .unwrap_or_else(|error| panic!("round {round}: {error}"));
                response.body_mut().frame().await.unwrap().unwrap();
                Some(response)
            })
        });
        let held = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            futures_util::future::join_all(calls),
        )
        .await
        .unwrap_or_else(|_| panic!("round {round} hung"));
        let answered: Vec<_> = held.into_iter().filter_map(|task| task.unwrap()).collect();
        assert_eq!(answered.len(), 100, "round {round}");
    }
    // 100 held streams at 20 per connection need 5; cancelled ones may have made a few more.
    assert!(
        server.connections() <= 12,
        "{} connections",
        server.connections()
    );
}

/// Three requests at once on a new HTTP/2 connection, each to its answer.
async fn three_at_once(server: &gptproto_testkit::FrameServer) -> Vec<String> {
    let transport = transport_trusting(server.ca());
    let url = server.base_url();
    let sends = (0..3).map(|_| async {
        let response = transport
            .send(post(&url))
            .await
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(response.status(), 200);
        body_text(response).await
    });
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        futures_util::future::join_all(sends),
    )
    .await
    .expect("no request waits for a connection that is gone")
}

#[tokio::test]
async fn requests_above_a_goaways_last_stream_id_are_sent_again_on_another_connection() {
    use gptproto_testkit::{FRAME_SERVER_BODY, FrameScript, FrameServer};
    // The server takes three streams, says GOAWAY with the first as the last it processes,
    // answers that one and closes: the other two were never processed (RFC 9113 §6.8).
    let server = FrameServer::start(FrameScript::GoawayAfter { streams: 3 }).await;
    for body in three_at_once(&server).await {
        assert_eq!(body, FRAME_SERVER_BODY);
    }
    let streams = server.streams();
    let first: Vec<_> = streams.iter().filter(|(c, _)| *c == 0).collect();
    let second: Vec<_> = streams.iter().filter(|(c, _)| *c == 1).collect();
    assert_eq!(first.len(), 3, "{streams:?}");
    assert_eq!(
        second.len(),
        2,
        "the two unprocessed, on a new connection: {streams:?}"
    );
    assert_eq!(server.answered(), 3);
}

#[tokio::test]
async fn refused_streams_are_sent_again() {
    use gptproto_testkit::{FRAME_SERVER_BODY, FrameScript, FrameServer};
    let server = FrameServer::start(FrameScript::Refuse { first: 2 }).await;
    for body in three_at_once(&server).await {
        assert_eq!(body, FRAME_SERVER_BODY);
    }
    assert_eq!(server.answered(), 3);
    assert!(server.streams().len() >= 4, "{:?}", server.streams());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_queued_past_a_lowered_limit_is_sent_again_after_the_goaway() {
    use gptproto_testkit::{FRAME_SERVER_BODY, FrameScript, FrameServer};
    // The server holds a first stream, lowers its limit to 1 and sends a GOAWAY: a second
    // request on that connection was queued inside h2 (pending open, never sent) when hyper's
    // request side ended and was dropped with it. It must go to another connection.
    let server = FrameServer::start(FrameScript::Held).await;
    let transport = transport_trusting(server.ca());
    let url = server.base_url();
    let first = tokio::spawn({
        let (transport, url) = (transport.clone(), url.clone());
        async move { body_text(transport.send(post(&url)).await.unwrap()).await }
    });
    let until = |count: usize| {
        let server = &server;
        async move {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            while server.streams().len() < count {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{:?}",
                    server.streams()
                );
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    };
    until(1).await;
    server.lower_limit(1);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let second = tokio::spawn({
        let (transport, url) = (transport.clone(), url.clone());
        async move {
            transport
                .send(post(&url))
                .await
                .map(|response| response.status())
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    server.goaway_answering_first();
    assert_eq!(first.await.unwrap(), FRAME_SERVER_BODY);
    let second = tokio::time::timeout(std::time::Duration::from_secs(10), second)
        .await
        .expect("not left waiting")
        .unwrap();
    assert_eq!(
        second.map_err(|error| error.to_string()),
        Ok(http::StatusCode::OK)
    );
}

#[tokio::test]
async fn a_server_that_never_answers_the_tls_hello_fails_at_the_connect_timeout() {
    // Accepts every connection and says nothing: a stalled TLS handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}/v1",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let builders = [
        (
            "the probe (h2 and http/1.1 offered)",
            HyperTransport::builder(),
        ),
        (
            "the pool (http/1.1 only)",
            HyperTransport::builder().http1_only(),
        ),
        ("a lane (h2 only)", HyperTransport::builder().http2_only()),
    ];
    for (what, builder) in builders {
        let transport = builder
            .proxy(Proxy::none())
            .connect_timeout(Some(std::time::Duration::from_millis(300)))
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let error = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            transport.send(post(&url)),
        )
        .await
        .unwrap_or_else(|_| panic!("{what}: the handshake is not bounded"))
        .unwrap_err();
        assert!(
            error.is_connect() && error.is_timeout(),
            "{what}: {error:#}"
        );
        assert!(!error.may_have_reached_server(), "{what}");
        assert!(
            format!("{error:#}").contains("within 300ms"),
            "{what}: {error:#}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{what}"
        );
    }
}

#[tokio::test]
async fn without_lanes_streams_wait_inside_one_connection_as_rfc_9113_asks() {
    let server = server_allowing(10).await;
    let transport = builder_trusting(server.ca().unwrap())
        .http2_lanes(false)
        .build()
        .unwrap();
    // One stream first, so that hyper-util's pool knows the origin speaks HTTP/2.
    let first = open_streams(&transport, &server.base_url(), 1).await;
    let held = open_streams(&transport, &server.base_url(), 9).await;
    assert_eq!(server.connections(), 1);
    // An eleventh waits inside that connection for a stream to end: no head in time.
    let waiting = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        transport.send(post(&server.base_url())),
    )
    .await;
    assert!(waiting.is_err(), "the eleventh stream should wait");
    assert_eq!(server.connections(), 1, "no other connection is opened");
    drop((first, held));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_allowing_one_stream_gets_one_at_a_time_per_connection() {
    use gptproto_testkit::{FRAME_SERVER_BODY, FrameScript, FrameServer};
    // SETTINGS_MAX_CONCURRENT_STREAMS = 1, each answer 200 ms after its request: twelve
    // requests at once never open a second stream on a connection (the server would refuse it
    // and count it), none waits for another, and all are answered.
    let server = FrameServer::start(FrameScript::Limit {
        streams: 1,
        answer_after: std::time::Duration::from_millis(200),
    })
    .await;
    let transport = transport_trusting(server.ca());
    let url = server.base_url();
    let started = std::time::Instant::now();
    let calls = (0..12).map(|_| {
        let (transport, url) = (transport.clone(), url.clone());
        async move { body_text(transport.send(post(&url)).await.unwrap()).await }
    });
    let bodies = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        futures_util::future::join_all(calls),
    )
    .await
    .expect("no request queued forever");
    assert!(bodies.iter().all(|body| body == FRAME_SERVER_BODY));
    assert_eq!(server.over_limit(), 0, "a stream past the server's limit");
    assert_eq!(server.answered(), 12);
    let connections: std::collections::HashSet<usize> = server
        .streams()
        .iter()
        .map(|(connection, _)| *connection)
        .collect();
    assert!(connections.len() >= 6, "{} connections", connections.len());
    // In parallel, not one after another (12 x 200 ms).
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_zero_window_holds_the_body_until_the_server_opens_it() {
    use gptproto_testkit::{FRAME_SERVER_BODY, FrameScript, FrameServer};
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: the request's headers go, its body waits for the
    // WINDOW_UPDATE the server sends 300 ms later; then the request completes and is answered.
    let server = FrameServer::start(FrameScript::ZeroWindow {
        open_after: Some(std::time::Duration::from_millis(300)),
    })
    .await;
    let transport = transport_trusting(server.ca());
    let started = std::time::Instant::now();
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        transport.send(post(&server.base_url())),
    )
    .await
    .expect("the body was sent once the window opened")
    .unwrap();
    assert_eq!(body_text(response).await, FRAME_SERVER_BODY);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
}

#[tokio::test]
async fn the_wrong_scheme_for_a_port_says_so_and_is_a_configuration_error() {
    let plain = TestServer::start(|_| Reply::json(200, &json!({}))).await;
    let tls = TestServer::start_tls(|_| Reply::json(200, &json!({}))).await;
    let transport = HyperTransport::builder()
        .proxy(Proxy::none())
        .build()
        .unwrap();
    for (url, said) in [
        (
            format!("https://127.0.0.1:{}/v1", plain.address().port()),
            "did not answer in TLS",
        ),
        (
            format!("http://127.0.0.1:{}/v1", tls.address().port()),
            "did not answer in HTTP",
        ),
    ] {
        let error = transport.send(post(&url)).await.unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::Config, "{url}: {error:#}");
        assert!(!error.is_retryable(), "{url}");
        assert!(error.to_string().contains(said), "{url}: {error:#}");
    }
}
