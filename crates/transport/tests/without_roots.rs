//! A transport built without any TLS roots feature (`--no-default-features --features ring`,
//! as CI runs it): plain `http://` to a local model server still works, and an `https://`
//! request fails, before connecting, saying which feature to enable. Under the default
//! features this file compiles to nothing.
#![cfg(not(any(feature = "webpki-roots", feature = "native-roots")))]

use gptproto_testkit::fixtures::post;
use gptproto_testkit::{Reply, TestServer};
use gptproto_transport::{HttpConnector, HyperTransport, Proxy, TransportErrorKind};
use serde_json::json;

#[tokio::test]
async fn plain_http_works_and_https_says_what_is_missing() {
    let transport = HyperTransport::builder()
        .proxy(Proxy::none())
        .build()
        .expect("builds without roots");
    let server = TestServer::start(|_| Reply::json(200, &json!({"ok": true}))).await;
    let response = transport.send(post(&server.base_url())).await.unwrap();
    assert_eq!(response.status(), 200);

    let error = transport
        .send(post("https://gptproto.com/v1"))
        .await
        .expect_err("no roots to trust");
    assert_eq!(error.kind(), TransportErrorKind::Config);
    assert!(error.to_string().contains("no TLS roots"), "{error}");
    assert!(error.to_string().contains("webpki-roots"), "{error}");
}
